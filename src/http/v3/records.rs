//! v3 produce: `POST /v3/clusters/{c}/topics/{t}/records`.
//!
//! A body with a `Content-Length` and one record object is answered like a
//! plain request: the record's result, with its HTTP status. Otherwise the
//! body is a stream of record objects (usually chunked): the answer is
//! `200` at once, then one result object per record, in request order,
//! separated by `\r\n`, each written as soon as it and those before it are
//! settled. A record that cannot be produced gets an error entry and the
//! stream goes on; malformed JSON ends it after an error entry.
//!
//! Records go through the same pipeline as v2 records, as one job per body
//! chunk of a stream (or per single request, or per `records:batch`), so
//! they are batched with everything else in flight. At most
//! [`MAX_PENDING`] records of one stream wait for their acknowledgements;
//! past that the body is not read (back-pressure on the client).

use std::collections::VecDeque;
use std::sync::Arc;

use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use std::io::Write;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::stream::{LocalBoxStream, StreamExt};
use gateway_codecs::{Codec, CodecError, Format, Value};
use serde_json::json;
use simd_json::prelude::*;
use tokio::sync::mpsc;

use super::split::{SplitError, Splitter};
use crate::auth::Access;
use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::kafka::metadata::TopicInfo;
use crate::pipeline::{HeaderRef, Outcome, RecordBatch, RecordRef};

/// Records of one stream waiting for their acknowledgements, at most.
pub const MAX_PENDING: usize = 1024;

pub async fn produce(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic) = path.into_inner();
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("unsupported content type {content_type:?}; v3 takes application/json"),
        ));
    }
    let cluster = super::check_cluster(&state, &cluster).await?;
    let topic = state.metadata.topic(&topic).await?;
    let target = Arc::new(Target {
        cluster,
        topic,
        access: Access::of(&req),
    });
    let limit = state.config.http.max_request_bytes;

    let headers = req.headers();
    if !headers.contains_key(CONTENT_LENGTH) && !headers.contains_key(TRANSFER_ENCODING) {
        // HTTP/1.1: no length and no chunks means no body.
        return Err(unprocessable("the body holds no record"));
    }
    let body: LocalBoxStream<'static, Result<Bytes, String>> =
        if headers.contains_key(CONTENT_LENGTH) {
            let body = read_all(payload, limit).await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Err(unprocessable("the body holds no record"));
            }
            let mut splitter = Splitter::new(limit);
            splitter.push(&body);
            if let Ok(Some(object)) = splitter.next_object() {
                if matches!(splitter.next_object(), Ok(None)) && !splitter.has_partial() {
                    // One record: a plain answer with its own status.
                    let mut queue = VecDeque::with_capacity(1);
                    let mut group = Group::new(&state, &target);
                    group.add(object, &mut queue).await;
                    group.submit(&mut queue);
                    let entry = queue.pop_front().expect("one entry per record");
                    let (status, answer) = entry.settle().await;
                    return Ok(HttpResponse::build(status)
                        .content_type(super::CONTENT_TYPE)
                        .body(answer));
                }
            }
            futures_util::stream::once(async move { Ok(body) }).boxed_local()
        } else {
            payload
                .map(|chunk| chunk.map_err(|e| e.to_string()))
                .boxed_local()
        };
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let state = state.into_inner();
    actix_web::rt::spawn(stream(state, target, body, limit, tx));
    let mut rx = rx;
    let answers = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|b| b.map(Ok::<_, actix_web::Error>))
    });
    Ok(HttpResponse::Ok()
        .content_type(super::CONTENT_TYPE)
        .streaming(answers))
}

/// `POST .../records:batch`: `{"entries": [{"id": "1", ...record...}]}`,
/// answered `207` with `successes` and `failures`, each carrying its `id`.
/// All entries enter the pipeline before any is awaited, so they share
/// Kafka batches.
pub async fn produce_batch(
    state: web::Data<AppState>,
    access: Access,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic) = path.into_inner();
    let cluster = super::check_cluster(&state, &cluster).await?;
    let topic = state.metadata.topic(&topic).await?;
    let target = Arc::new(Target {
        cluster,
        topic,
        access,
    });
    let body = read_all(payload, state.config.http.max_request_bytes).await?;
    let invalid = |m: String| ApiError::new(ErrorCode::BatchInvalid, m);
    let body: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed JSON: {e}")))?;
    let entries = body
        .get("entries")
        .and_then(|e| e.as_array())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| invalid("entries must be a non-empty array".into()))?;
    let mut ids = Vec::with_capacity(entries.len());
    let mut records = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let mut entry = entry
            .as_object()
            .cloned()
            .ok_or_else(|| invalid(format!("entries[{i}] must be an object")))?;
        let id = match entry.remove("id") {
            Some(serde_json::Value::String(id)) => id,
            _ => return Err(invalid(format!("entries[{i}].id must be a string"))),
        };
        if ids.contains(&id) {
            return Err(invalid(format!("entries[{i}].id {id:?} is used twice")));
        }
        ids.push(id);
        records.push(serde_json::to_vec(&entry).expect("serializes"));
    }
    // One job for the whole batch.
    let mut queue = VecDeque::with_capacity(records.len());
    let mut group = Group::new(&state, &target);
    for object in records {
        group.add(object, &mut queue).await;
    }
    group.submit(&mut queue);
    let (mut successes, mut failures) = (Vec::new(), Vec::new());
    for (id, entry) in ids.into_iter().zip(queue) {
        let (status, answer) = entry.settle().await;
        let mut answer: serde_json::Value =
            serde_json::from_slice(&answer).expect("answers are JSON");
        answer["id"] = json!(id);
        if status == StatusCode::OK {
            successes.push(answer);
        } else {
            failures.push(answer);
        }
    }
    Ok(HttpResponse::build(StatusCode::MULTI_STATUS)
        .content_type(super::CONTENT_TYPE)
        .json(json!({"successes": successes, "failures": failures})))
}

async fn read_all(payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    crate::http::read_body(payload, limit).await
}

/// The cluster and topic a request writes to.
struct Target {
    cluster: String,
    topic: Arc<TopicInfo>,
    /// The principal's access, whose produce quota each job is charged to.
    access: Access,
}

impl Target {
    fn batch(&self) -> RecordBatch {
        RecordBatch {
            topic: self.topic.name.clone(),
            data: Vec::with_capacity(256),
            records: Vec::with_capacity(1),
            headers: Vec::new(),
        }
    }
}

/// Reads record objects from `body`, produces them, and writes their
/// results to `tx` in order.
async fn stream(
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
async fn take_objects(
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
struct Group<'a> {
    state: &'a AppState,
    target: &'a Arc<Target>,
    batch: RecordBatch,
    /// (index in the queue, answer metadata) of each record in the batch.
    members: Vec<(usize, Box<Meta>)>,
}

impl<'a> Group<'a> {
    fn new(state: &'a AppState, target: &'a Arc<Target>) -> Group<'a> {
        Group {
            state,
            target,
            batch: target.batch(),
            members: Vec::new(),
        }
    }

    /// Parses and encodes one record object; false if it is malformed
    /// JSON (which ends a stream).
    async fn add(&mut self, mut object: Vec<u8>, queue: &mut VecDeque<Entry>) -> bool {
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
    fn submit(self, queue: &mut VecDeque<Entry>) {
        if self.members.is_empty() {
            return;
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
                // once (`http::relay`).
                let done: GroupDone = crate::http::relay::Relayed::new(done)
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
async fn wait_front(queue: &mut VecDeque<Entry>) -> Entry {
    match queue.front() {
        Some(Entry::InGroup { done, index, meta }) => settled(done, *index, meta).await,
        _ => std::future::pending().await,
    }
}

/// The answer of record `index` of a group, once the group is settled.
async fn settled(done: &GroupDone, index: usize, meta: &Meta) -> Entry {
    let outcomes = done.clone().await;
    let outcome = outcomes
        .as_ref()
        .as_ref()
        .and_then(|o| o.get(index).cloned());
    meta.answer(outcome)
}

/// One record's place in the answer.
enum Entry {
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
type GroupDone = Shared<BoxFuture<'static, Arc<Option<Vec<Outcome>>>>>;

impl Entry {
    /// Waits for the record and gives its answer.
    async fn settle(self) -> (StatusCode, Vec<u8>) {
        match self {
            Entry::Done(status, answer) => (status, answer),
            Entry::InGroup { done, index, meta } => match settled(&done, index, &meta).await {
                Entry::Done(status, answer) => (status, answer),
                Entry::InGroup { .. } => unreachable!("answers are done"),
            },
        }
    }
}

fn failed(code: ErrorCode, message: String) -> Entry {
    code.count();
    let answer = json!({"error_code": code.code(), "message": message});
    Entry::Done(code.http_status(), answer.to_string().into_bytes())
}

fn error_entry(e: ApiError) -> Entry {
    failed(e.code, e.message)
}

/// What a record's answer says beyond its outcome.
struct Meta {
    target: Arc<Target>,
    key: Option<PartMeta>,
    value: Option<PartMeta>,
    /// The record's create time: the one it names, or when it was
    /// submitted (what librdkafka stamps). Answered when the broker gives
    /// no time of its own.
    created: i64,
}

/// The `key` or `value` object of an answer.
struct PartMeta {
    format: Format,
    subject: Option<String>,
    schema_id: Option<u32>,
    schema_version: Option<u32>,
    size: usize,
}

impl Meta {
    fn answer(&self, outcome: Option<Outcome>) -> Entry {
        match outcome {
            Some(Outcome::Delivered {
                partition,
                offset,
                timestamp,
            }) => {
                // Written by hand: this is per record on the streaming path.
                let mut out = Vec::with_capacity(256);
                out.extend_from_slice(br#"{"error_code":200,"cluster_id":"#);
                json_string(&mut out, &self.target.cluster);
                out.extend_from_slice(br#","topic_name":"#);
                json_string(&mut out, &self.target.topic.name);
                let _ = write!(
                    out,
                    r#","partition_id":{partition},"offset":{offset},"timestamp":"#
                );
                match timestamp.or(Some(self.created)) {
                    Some(t) => {
                        let _ = write!(out, "\"{}\"", format_timestamp(t));
                    }
                    None => out.extend_from_slice(b"null"),
                }
                out.extend_from_slice(br#","key":"#);
                part_json(&mut out, self.key.as_ref());
                out.extend_from_slice(br#","value":"#);
                part_json(&mut out, self.value.as_ref());
                out.push(b'}');
                Entry::Done(StatusCode::OK, out)
            }
            Some(Outcome::Failed { code, message }) => {
                let answer = json!({"error_code": code.code(), "message": message});
                Entry::Done(code.http_status(), answer.to_string().into_bytes())
            }
            None => failed(
                ErrorCode::Internal,
                "the producer dropped the record".into(),
            ),
        }
    }
}

fn json_string(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(out, text).expect("a string serializes");
}

/// The `key` or `value` object of an answer, or `null`.
fn part_json(out: &mut Vec<u8>, part: Option<&PartMeta>) {
    let Some(part) = part else {
        out.extend_from_slice(b"null");
        return;
    };
    let _ = write!(out, r#"{{"type":"{}""#, type_name(part.format));
    if let Some(subject) = &part.subject {
        out.extend_from_slice(br#","subject":"#);
        json_string(out, subject);
    }
    if let Some(id) = part.schema_id {
        let _ = write!(out, r#","schema_id":{id}"#);
    }
    if let Some(version) = part.schema_version {
        let _ = write!(out, r#","schema_version":{version}"#);
    }
    let _ = write!(out, r#","size":{}}}"#, part.size);
}

type Metas = (Option<PartMeta>, Option<PartMeta>);

/// The create time of the batch's last record: its own, or now.
fn created(batch: &RecordBatch) -> i64 {
    batch
        .records
        .last()
        .and_then(|r| r.timestamp)
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
}

/// Appends one record object to `batch`; on an error, `batch` is left as
/// it was.
async fn encode_into(
    state: &AppState,
    target: &Target,
    record: &Value<'_, '_>,
    batch: &mut RecordBatch,
) -> Result<Metas, ApiError> {
    let (data, headers) = (batch.data.len(), batch.headers.len());
    let result = encode_record(state, target, record, batch).await;
    if result.is_err() {
        batch.data.truncate(data);
        batch.headers.truncate(headers);
    }
    result
}

async fn encode_record(
    state: &AppState,
    target: &Target,
    record: &Value<'_, '_>,
    batch: &mut RecordBatch,
) -> Result<Metas, ApiError> {
    let fields = record
        .as_object()
        .ok_or_else(|| unprocessable("a record must be a JSON object"))?;
    for (name, _) in fields.iter() {
        if !matches!(
            name,
            "partition_id" | "headers" | "key" | "value" | "timestamp"
        ) {
            return Err(unprocessable(format!("unknown field {name:?} in a record")));
        }
    }
    let get = |name: &str| fields.get(name).filter(|v| !v.is_null());
    let partition = match get("partition_id") {
        None => None,
        Some(p) => {
            let p = p
                .as_i32()
                .filter(|p| *p >= 0)
                .ok_or_else(|| unprocessable("partition_id must be a non-negative integer"))?;
            if p as usize >= target.topic.partitions.len() {
                return Err(ApiError::new(
                    ErrorCode::PartitionNotFound,
                    format!("partition {p} not found in topic {}", target.topic.name),
                ));
            }
            Some(p)
        }
    };
    let timestamp = match get("timestamp") {
        None => None,
        Some(t) => Some(
            t.as_str()
                .and_then(parse_timestamp)
                .or_else(|| t.as_i64())
                .ok_or_else(|| {
                    unprocessable(
                        "timestamp must be an RFC 3339 date-time, e.g. 2026-11-22T05:00:00Z",
                    )
                })?,
        ),
    };
    let first_header = batch.headers.len() as u32;
    if let Some(headers) = get("headers") {
        let headers = headers
            .as_array()
            .ok_or_else(|| unprocessable("headers must be an array"))?;
        for (i, header) in headers.iter().enumerate() {
            let name = header.get("name");
            let name = name
                .as_ref()
                .and_then(|n| n.as_str())
                .ok_or_else(|| unprocessable(format!("headers[{i}].name must be a string")))?;
            let start = batch.data.len() as u32;
            batch.data.extend_from_slice(name.as_bytes());
            let name = start..batch.data.len() as u32;
            let value = match header.get("value").filter(|v| !v.is_null()) {
                None => None,
                Some(v) => {
                    let text = v.as_str().ok_or_else(|| {
                        unprocessable(format!("headers[{i}].value must be base64 or null"))
                    })?;
                    let bytes = base64_simd::STANDARD.decode_to_vec(text).map_err(|_| {
                        ApiError::new(
                            ErrorCode::BadRequest,
                            format!("headers[{i}].value is not valid base64"),
                        )
                    })?;
                    let start = batch.data.len() as u32;
                    batch.data.extend_from_slice(&bytes);
                    Some(start..batch.data.len() as u32)
                }
            };
            batch.headers.push(HeaderRef { name, value });
        }
    }
    let topic = &target.topic.name;
    let (key, key_meta) = part(state, topic, "key", get("key"), &mut batch.data).await?;
    let (value, value_meta) = part(state, topic, "value", get("value"), &mut batch.data).await?;
    batch.records.push(RecordRef {
        partition,
        key,
        value,
        headers: first_header..batch.headers.len() as u32,
        timestamp,
    });
    Ok((key_meta, value_meta))
}

/// Encodes a record's `key` or `value` object into `data`.
async fn part(
    state: &AppState,
    topic: &str,
    which: &str,
    spec: Option<Value<'_, '_>>,
    data: &mut Vec<u8>,
) -> Result<(Option<std::ops::Range<u32>>, Option<PartMeta>), ApiError> {
    let Some(spec) = spec else {
        return Ok((None, None));
    };
    let fields = spec
        .as_object()
        .ok_or_else(|| unprocessable(format!("{which} must be an object")))?;
    let get = |name: &str| fields.get(name).filter(|v| !v.is_null());
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        get(name)
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| unprocessable(format!("{which}.{name} must be a string")))
            })
            .transpose()
    };
    let number = |name: &str| -> Result<Option<u32>, ApiError> {
        get(name)
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| unprocessable(format!("{which}.{name} must be a number")))
            })
            .transpose()
    };
    for (name, _) in fields.iter() {
        if !matches!(
            name,
            "type"
                | "data"
                | "subject"
                | "subject_name_strategy"
                | "schema_id"
                | "schema_version"
                | "schema"
        ) {
            return Err(unprocessable(format!("unknown field {which}.{name}")));
        }
    }
    let format = match text("type")? {
        None => None,
        Some(t) => Some(Format::from_name(&t.to_ascii_lowercase()).ok_or_else(|| {
            unprocessable(format!(
                "{which}.type {t:?} is not one of BINARY, JSON, STRING, AVRO, PROTOBUF, JSONSCHEMA"
            ))
        })?),
    };
    let subject = text("subject")?;
    let strategy = text("subject_name_strategy")?;
    let schema_id = number("schema_id")?;
    let schema_version = number("schema_version")?;
    let schema = text("schema")?;
    let schema_fields = [
        subject.is_some(),
        strategy.is_some(),
        schema_id.is_some(),
        schema_version.is_some(),
        schema.is_some(),
    ];
    if [
        schema_id.is_some(),
        schema_version.is_some(),
        schema.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count()
        > 1
    {
        return Err(unprocessable(format!(
            "{which}: at most one of schema_id, schema_version and schema"
        )));
    }
    if subject.is_some() && strategy.is_some() {
        return Err(unprocessable(format!(
            "{which}: subject and subject_name_strategy exclude each other"
        )));
    }

    let is_schema_format =
        |f: Format| matches!(f, Format::Avro | Format::Protobuf | Format::JsonSchema);
    let (codec, meta) = match format {
        Some(f) if !is_schema_format(f) => {
            if schema_fields.iter().any(|x| *x) {
                return Err(unprocessable(format!(
                    "{which}: schema fields go with AVRO, PROTOBUF or JSONSCHEMA, not {}",
                    type_name(f)
                )));
            }
            let codec = state.codecs.get(f).ok_or_else(|| {
                unprocessable(format!("{which}.type {} is not supported", type_name(f)))
            })?;
            (PartCodec::Plain(codec), PartMeta::plain(f))
        }
        _ => {
            use crate::schemas::naming::SubjectNameStrategy;
            let strategy = match strategy.as_deref() {
                None => SubjectNameStrategy::TopicName,
                Some(name) => SubjectNameStrategy::parse(name).ok_or_else(|| {
                    unprocessable(format!(
                        "{which}.subject_name_strategy {name} is not one of TOPIC_NAME, RECORD_NAME, TOPIC_RECORD_NAME"
                    ))
                })?,
            };
            // The subject: named, or the strategy's (which for RECORD_NAME
            // and TOPIC_RECORD_NAME needs the schema, by id or as text).
            let named = |codec: Option<&Arc<dyn gateway_codecs::Codec>>| match &subject {
                Some(subject) => Ok(subject.clone()),
                None => strategy.subject(topic, which, codec),
            };
            let schemas = state.schema_registry()?;
            let lookup = |e: ApiError| match e.code {
                ErrorCode::InvalidSchema => {
                    ApiError::new(ErrorCode::InvalidProduceSchema, e.message)
                }
                ErrorCode::Throttled | ErrorCode::IncompatibleSchema => e,
                _ => ApiError::new(ErrorCode::SchemaRegistryLookup, e.message),
            };
            let mut by_id = None;
            let (id, version, subject) = if let Some(id) = schema_id {
                let codec = schemas.codec(id, format).await.map_err(lookup)?;
                let subject = named(Some(&codec))?;
                by_id = Some(codec);
                (id, None, subject)
            } else if let Some(version) = schema_version {
                let subject = named(None)?;
                let (id, version) = schemas
                    .version(&subject, Some(version))
                    .await
                    .map_err(lookup)?;
                (id, Some(version), subject)
            } else if let Some(text) = schema {
                let f = format.ok_or_else(|| {
                    unprocessable(format!(
                        "{which}: a schema needs a type (AVRO, PROTOBUF or JSONSCHEMA)"
                    ))
                })?;
                let schema_type = crate::schemas::SchemaType::of(f);
                let subject = if subject.is_none() && strategy.needs_schema() {
                    let probe =
                        crate::schemas::build_codec(0, schema_type, &text, &[]).map_err(lookup)?;
                    named(Some(&probe))?
                } else {
                    named(None)?
                };
                let (id, version) = schemas
                    .register(&subject, &text, schema_type)
                    .await
                    .map_err(lookup)?;
                (id, version, subject)
            } else {
                let subject = named(None)?;
                match schemas.version(&subject, None).await {
                    Ok((id, version)) => (id, Some(version), subject),
                    // No type and no schema for the subject: plain JSON.
                    Err(e) if format.is_none() && e.code == ErrorCode::SubjectNotFound => {
                        let codec = state.codecs.get(Format::Json).expect("json is built in");
                        return encode_data(
                            which,
                            &PartCodec::Plain(codec),
                            get("data"),
                            data,
                            PartMeta::plain(Format::Json),
                        );
                    }
                    Err(e) => return Err(lookup(e)),
                }
            };
            let codec = match by_id {
                Some(codec) => codec,
                None => schemas.codec(id, format).await.map_err(lookup)?,
            };
            let meta = PartMeta {
                format: codec.format(),
                subject: Some(subject),
                schema_id: Some(id),
                schema_version: version,
                size: 0,
            };
            (PartCodec::Schema(codec), meta)
        }
    };
    encode_data(which, &codec, get("data"), data, meta)
}

/// A built-in codec or a schema's.
enum PartCodec<'a> {
    Plain(&'a dyn Codec),
    Schema(Arc<dyn Codec>),
}

impl PartCodec<'_> {
    fn get(&self) -> &dyn Codec {
        match self {
            PartCodec::Plain(c) => *c,
            PartCodec::Schema(c) => c.as_ref(),
        }
    }
}

impl PartMeta {
    fn plain(format: Format) -> PartMeta {
        PartMeta {
            format,
            subject: None,
            schema_id: None,
            schema_version: None,
            size: 0,
        }
    }
}

/// Encodes `data` (absent or null: no key, or a null value).
fn encode_data(
    which: &str,
    codec: &PartCodec<'_>,
    data: Option<Value<'_, '_>>,
    out: &mut Vec<u8>,
    mut meta: PartMeta,
) -> Result<(Option<std::ops::Range<u32>>, Option<PartMeta>), ApiError> {
    let Some(data) = data else {
        return Ok((None, Some(meta)));
    };
    let start = out.len();
    if let Err(e) = codec.get().encode(&data, out) {
        out.truncate(start);
        let code = match e {
            CodecError::WrongType { .. } | CodecError::InvalidBase64(_) => ErrorCode::BadRequest,
            CodecError::InvalidData(_) => ErrorCode::InvalidPayload,
            CodecError::InvalidSchema(_) => ErrorCode::InvalidProduceSchema,
        };
        return Err(ApiError::new(code, format!("{which}.data: {e}")));
    }
    meta.size = out.len() - start;
    Ok((Some(start as u32..out.len() as u32), Some(meta)))
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unprocessable, message)
}

/// A format as v3 names it.
fn type_name(format: Format) -> &'static str {
    match format {
        Format::Binary => "BINARY",
        Format::Json => "JSON",
        Format::String => "STRING",
        Format::Avro => "AVRO",
        Format::Protobuf => "PROTOBUF",
        Format::JsonSchema => "JSONSCHEMA",
    }
}

/// Milliseconds since the epoch of an RFC 3339 date-time
/// (`2026-11-22T05:00:00Z`, `...00.123+01:00`).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &frac[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (rest[1..3].parse::<i64>().ok()? * 60 + rest[4..6].parse::<i64>().ok()?)
        }
    };
    let days = days_from_civil(year, month as u32, day as u32);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// An epoch-milliseconds timestamp in RFC 3339, UTC, with milliseconds.
pub fn format_timestamp(millis: i64) -> String {
    let (days, ms) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z")
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_rfc_3339() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2021-02-05T19:14:42Z"),
            Some(1_612_552_482_000)
        );
        assert_eq!(
            parse_timestamp("2021-02-05T20:14:42.5+01:00"),
            Some(1_612_552_482_500)
        );
        assert_eq!(
            format_timestamp(1_612_552_482_500),
            "2021-02-05T19:14:42.500Z"
        );
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999Z");
        for ms in [0, 951_782_400_000, 1_709_164_800_123, 4_102_444_800_000] {
            assert_eq!(parse_timestamp(&format_timestamp(ms)), Some(ms));
        }
        for bad in [
            "",
            "2021-02-05",
            "2021-13-05T00:00:00Z",
            "2021-02-05T00:00:00",
            "x021-02-05T00:00:00Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
