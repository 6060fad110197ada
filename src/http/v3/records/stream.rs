//! A stream of record objects in one body: split as chunks arrive, one
//! pipeline job per chunk's records, and the answers written in request
//! order as they settle, at most [`MAX_PENDING`] waiting.

use super::*;

/// Reads record objects from `body`, produces them, and writes their
/// results to `tx` in order.
pub(super) async fn stream(
    state: Arc<AppState>,
    target: Arc<Target>,
    mut body: LocalBoxStream<'static, Result<Bytes, String>>,
    limit: usize,
    tx: mpsc::Sender<Bytes>,
) {
    let mut splitter = Splitter::new(limit);
    let mut queue: VecDeque<Entry> = VecDeque::new();
    let mut reading = true;
    let mut first = true;
    loop {
        // Write out what is settled at the front, in one piece.
        let mut out = Vec::new();
        while let Some(Entry::Done(..)) = queue.front() {
            let Some(Entry::Done(_, answer)) = queue.pop_front() else {
                unreachable!()
            };
            if !first {
                out.extend_from_slice(b"\r\n");
            }
            first = false;
            out.extend_from_slice(&answer);
        }
        if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
            return; // the client went away
        }
        if !reading && queue.is_empty() {
            return;
        }
        let front_waits = matches!(queue.front(), Some(Entry::InGroup { .. }));
        tokio::select! {
            biased;
            settled = wait_front(&mut queue), if front_waits => {
                queue[0] = settled;
            }
            chunk = body.next(), if reading && queue.len() < MAX_PENDING => {
                match chunk {
                    Some(Ok(bytes)) => splitter.push(&bytes),
                    Some(Err(e)) => {
                        queue.push_back(failed(ErrorCode::BadRequest, format!("cannot read request body: {e}")));
                        reading = false;
                    }
                    None => {
                        reading = false;
                        if splitter.has_partial() {
                            queue.push_back(failed(ErrorCode::BadRequest, "the body ends inside a record".into()));
                        }
                    }
                }
                if !take_objects(&state, &target, &mut splitter, &mut queue).await {
                    reading = false;
                }
            }
        }
    }
}

/// Encodes every whole record the splitter holds into one job for the
/// pipeline (records that fail get their error entries in place); returns
/// false if the stream must end (malformed JSON).
pub(super) async fn take_objects(
    state: &AppState,
    target: &Arc<Target>,
    splitter: &mut Splitter,
    queue: &mut VecDeque<Entry>,
) -> bool {
    let mut group = Group::new(state, target);
    let mut go_on = true;
    loop {
        match splitter.next_object() {
            Ok(Some(object)) => {
                if !group.add(object, queue).await {
                    go_on = false;
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let (code, message) = match e {
                    SplitError::NotAnObject { at } => (
                        ErrorCode::BadRequest,
                        format!("malformed JSON at byte {at}: a record must be an object"),
                    ),
                    SplitError::TooLarge { limit } => (
                        ErrorCode::PayloadTooLarge,
                        format!("a record is larger than {limit} bytes"),
                    ),
                };
                queue.push_back(failed(code, message));
                go_on = false;
                break;
            }
        }
    }
    group.submit(queue);
    go_on
}

/// Records encoded into one pipeline job. Each record added gets its place
/// in the answer queue at once: an error entry, or a place that
/// [`Group::submit`] fills.
pub(super) struct Group<'a> {
    pub(super) state: &'a AppState,
    pub(super) target: &'a Arc<Target>,
    pub(super) batch: RecordBatch,
    /// (index in the queue, answer metadata) of each record in the batch.
    pub(super) members: Vec<(usize, Box<Meta>)>,
}

impl<'a> Group<'a> {
    pub(super) fn new(state: &'a AppState, target: &'a Arc<Target>) -> Group<'a> {
        Group {
            state,
            target,
            batch: target.batch(),
            members: Vec::new(),
        }
    }

    /// Parses and encodes one record object; false if it is malformed
    /// JSON (which ends a stream).
    pub(super) async fn add(&mut self, mut object: Vec<u8>, queue: &mut VecDeque<Entry>) -> bool {
        let tape = match crate::http::produce::parse_tape(&mut object) {
            Ok(tape) => tape,
            Err(e) => {
                queue.push_back(failed(e.code, e.message));
                return false;
            }
        };
        match encode_into(self.state, self.target, &tape.as_value(), &mut self.batch).await {
            Ok((key, value)) => {
                let created = created(&self.batch);
                self.members.push((
                    queue.len(),
                    Box::new(Meta {
                        target: Arc::clone(self.target),
                        key,
                        value,
                        created,
                    }),
                ));
                // Replaced by `submit`, before anything reads the queue.
                queue.push_back(Entry::Done(StatusCode::OK, Vec::new()));
            }
            Err(e) => queue.push_back(error_entry(e)),
        }
        true
    }

    /// Hands the records to the pipeline as one job, and fills their
    /// places in the queue.
    pub(super) fn submit(mut self, queue: &mut VecDeque<Entry>) {
        if self.members.is_empty() {
            return;
        }
        if let Some(trace) = self.target.trace {
            self.batch.carry_trace(trace);
        }
        let (records, bytes) = (self.batch.records.len(), self.batch.data.len());
        let pipeline = &self.state.pipeline;
        let submitted = self
            .target
            .access
            .charge_produce(records, bytes)
            .and_then(|()| pipeline.reserve(records, bytes))
            .and_then(|permit| pipeline.submit(self.batch, permit));
        match submitted {
            Ok(done) => {
                let m = self.state.metrics;
                m.produce_records.increment(records as u64);
                m.produce_bytes.increment(bytes as u64);
                m.records_per_request.record(records as f64);
                // Relayed: a burst of acknowledgements wakes this worker
                // once (`http::relay`). The pipeline settles every record
                // within max_wait; the timeout is a safety net, as for v2.
                let wait = pipeline.max_wait() + crate::http::produce::ACK_WAIT_MARGIN;
                let done: GroupDone =
                    tokio::time::timeout(wait, crate::http::relay::Relayed::new(done))
                        .map(|outcomes| Arc::new(outcomes.ok()))
                        .boxed()
                        .shared();
                for (index, (at, meta)) in self.members.into_iter().enumerate() {
                    queue[at] = Entry::InGroup {
                        done: done.clone(),
                        index,
                        meta,
                    };
                }
            }
            Err(e) => {
                for (at, _) in self.members {
                    queue[at] = failed(e.code, e.message.clone());
                }
            }
        }
    }
}

/// Waits for the record at the front of the queue to be settled.
pub(super) async fn wait_front(queue: &mut VecDeque<Entry>) -> Entry {
    match queue.front() {
        Some(Entry::InGroup { done, index, meta }) => settled(done, *index, meta).await,
        _ => std::future::pending().await,
    }
}

/// The answer of record `index` of a group, once the group is settled.
pub(super) async fn settled(done: &GroupDone, index: usize, meta: &Meta) -> Entry {
    let outcomes = done.clone().await;
    let outcome = outcomes
        .as_ref()
        .as_ref()
        .and_then(|o| o.get(index).cloned());
    meta.answer(outcome)
}

/// One record's place in the answer.
pub(super) enum Entry {
    /// Its answer, with the HTTP status it would have alone.
    Done(StatusCode, Vec<u8>),
    /// In the pipeline, record `index` of its group's job.
    InGroup {
        done: GroupDone,
        index: usize,
        meta: Box<Meta>,
    },
}

/// The outcomes of a group's job, awaited by each of its records (shared,
/// so any of them may be the one that polls).
pub(super) type GroupDone = Shared<BoxFuture<'static, Arc<Option<Vec<Outcome>>>>>;

impl Entry {
    /// Waits for the record and gives its answer.
    pub(super) async fn settle(self) -> (StatusCode, Vec<u8>) {
        match self {
            Entry::Done(status, answer) => (status, answer),
            Entry::InGroup { done, index, meta } => match settled(&done, index, &meta).await {
                Entry::Done(status, answer) => (status, answer),
                Entry::InGroup { .. } => unreachable!("answers are done"),
            },
        }
    }
}

pub(super) fn failed(code: ErrorCode, message: String) -> Entry {
    code.count();
    let answer = json!({"error_code": code.code(), "message": message});
    Entry::Done(code.http_status(), answer.to_string().into_bytes())
}

pub(super) fn error_entry(e: ApiError) -> Entry {
    failed(e.code, e.message)
}
