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

mod encode;
mod stream;
mod timestamp;

use encode::*;
use stream::*;
pub use timestamp::{format_timestamp, parse_timestamp};

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
        trace: crate::http::RequestTrace::of(&req),
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
    req: HttpRequest,
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
        trace: crate::http::RequestTrace::of(&req),
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
    /// The request's trace context, which every record carries.
    trace: Option<crate::telemetry::TraceParent>,
}

impl Target {
    fn batch(&self) -> RecordBatch {
        RecordBatch {
            topic: self.topic.name.clone(),
            data: Vec::with_capacity(256),
            records: Vec::with_capacity(1),
            headers: Vec::new(),
            trace: None,
        }
    }
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
                ErrorCode::KafkaRetriable,
                "timed out waiting for the broker's acknowledgement".into(),
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
