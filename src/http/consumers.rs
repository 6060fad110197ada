//! v2 consumers: `/consumers/{group}` and its instances' subscription,
//! assignments, positions, records and offsets (`crate::consumers` holds
//! the instances). Records are decoded to their JSON form with the same
//! codecs that encode them, schema formats through the Schema Registry.

use std::time::Duration;

use actix_web::http::header::ACCEPT;
use actix_web::{web, HttpRequest, HttpResponse};
use gateway_codecs::Format;
use rdkafka::Offset;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::Access;
use rdkafka::message::{BorrowedMessage, Headers, Message};

use crate::consumers::{Instance, NewInstance, PartitionOffset, Reader};
use crate::error::{ApiError, ErrorCode, V2_CONTENT_TYPE};
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let instance = "/consumers/{group}/instances/{instance}";
    cfg.route("/consumers/{group}", web::post().to(create))
        .route(instance, web::delete().to(delete))
        .route(
            &format!("{instance}/subscription"),
            web::post().to(subscribe),
        )
        .route(
            &format!("{instance}/subscription"),
            web::get().to(subscription),
        )
        .route(
            &format!("{instance}/subscription"),
            web::delete().to(unsubscribe),
        )
        .route(&format!("{instance}/assignments"), web::post().to(assign))
        .route(
            &format!("{instance}/assignments"),
            web::get().to(assignments),
        )
        .route(&format!("{instance}/positions"), web::post().to(seek))
        .route(
            &format!("{instance}/positions/beginning"),
            web::post().to(seek_beginning),
        )
        .route(
            &format!("{instance}/positions/end"),
            web::post().to(seek_end),
        )
        .route(&format!("{instance}/records"), web::get().to(records))
        .route(&format!("{instance}/offsets"), web::post().to(commit))
        .route(&format!("{instance}/offsets"), web::get().to(committed));
}

fn ok(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().content_type(V2_CONTENT_TYPE).json(body)
}

fn no_content() -> HttpResponse {
    HttpResponse::NoContent().finish()
}

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::Unprocessable, format!("invalid request: {e}")))
}

fn instance(
    state: &AppState,
    path: &(String, String),
) -> Result<std::sync::Arc<Instance>, ApiError> {
    state.consumers.get(&path.0, &path.1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: Option<String>,
    /// Confluent's older name for `name`.
    id: Option<String>,
    /// Confluent's settings that this gateway's reads do not need; taken
    /// so that its clients' bodies are not refused.
    #[serde(rename = "response.min.bytes")]
    #[allow(dead_code)]
    response_min_bytes: Option<Value>,
    #[serde(rename = "request.waitms")]
    #[allow(dead_code)]
    request_waitms: Option<Value>,
    format: Option<String>,
    #[serde(rename = "auto.offset.reset")]
    auto_offset_reset: Option<String>,
    #[serde(rename = "auto.commit.enable")]
    auto_commit_enable: Option<Value>,
    #[serde(rename = "fetch.min.bytes")]
    fetch_min_bytes: Option<Value>,
    #[serde(rename = "consumer.request.timeout.ms")]
    request_timeout_ms: Option<Value>,
}

/// Confluent takes these settings as strings or as JSON values.
fn setting<T: std::str::FromStr>(value: &Option<Value>, name: &str) -> Result<Option<T>, ApiError> {
    let text = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    text.parse().map(Some).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidConsumerConfig,
            format!("{name} has an invalid value {text:?}"),
        )
    })
}

async fn create(
    state: web::Data<AppState>,
    access: Access,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let group = path.into_inner();
    let body: CreateBody = if body.is_empty() {
        parse(b"{}")?
    } else {
        parse(&body)?
    };
    let format = match body.format.as_deref().unwrap_or("binary") {
        name @ ("binary" | "json" | "avro" | "protobuf" | "jsonschema") => {
            Format::from_name(name).expect("a known format")
        }
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidConsumerConfig,
                format!("format must be binary, json, avro, protobuf or jsonschema, not {other:?}"),
            ))
        }
    };
    // Confluent's default: commit automatically.
    let auto_commit =
        setting::<bool>(&body.auto_commit_enable, "auto.commit.enable")?.unwrap_or(true);
    let fetch_min_bytes = setting::<u32>(&body.fetch_min_bytes, "fetch.min.bytes")?;
    let request_timeout_ms =
        setting::<u64>(&body.request_timeout_ms, "consumer.request.timeout.ms")?;
    let name = body.name.or(body.id);
    // A name is one instance across the cluster: another gateway's holds
    // it already (409, as on one gateway).
    if let (Some(cluster), Some(name)) = (state.cluster.as_deref(), name.as_deref()) {
        if state.consumers.owner(&group, name).is_none()
            && cluster
                .find(&group, name, || state.consumers.names())
                .await
                .is_some()
        {
            return Err(ApiError::new(
                ErrorCode::ConsumerAlreadyExists,
                format!("Consumer with specified consumer ID already exists in the specified consumer group: {name}"),
            ));
        }
    }
    let instance = state.consumers.create(
        &group,
        NewInstance {
            name,
            format,
            auto_offset_reset: body.auto_offset_reset,
            auto_commit,
            fetch_min_bytes,
            owner: access.principal().to_string(),
            request_timeout_ms,
        },
    )?;
    // The other gateways learn of it before the client can call them.
    if let Some(cluster) = state.cluster.as_deref() {
        if let Err(e) = cluster.beat(state.consumers.names()).await {
            tracing::warn!(error = %e, "a new consumer instance could not be announced; other gateways learn of it with the next heartbeat");
        }
    }
    let base_uri = format!(
        "{}/consumers/{group}/instances/{}",
        crate::http::origin::public_base(&req, &state.config.http),
        instance.name
    );
    Ok(ok(
        json!({"instance_id": instance.name, "base_uri": base_uri}),
    ))
}

async fn delete(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    state.consumers.delete(&path.0, &path.1).await?;
    // The others stop forwarding to it now, not at the next heartbeat.
    if let Some(cluster) = state.cluster.as_deref() {
        if let Err(e) = cluster.beat(state.consumers.names()).await {
            tracing::warn!(error = %e, "a deleted consumer instance could not be announced");
        }
    }
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeBody {
    #[serde(default)]
    topics: Vec<String>,
    topic_pattern: Option<String>,
}

async fn subscribe(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let instance = instance(&state, &path)?;
    let body: SubscribeBody = parse(&body)?;
    let topics = match (body.topics.is_empty(), body.topic_pattern) {
        (false, None) => body.topics,
        // librdkafka reads a leading ^ as a regular expression.
        (true, Some(pattern)) => vec![format!("^{}", pattern.trim_start_matches('^'))],
        // Confluent: 409 / 40903, as Kafka's consumer refuses both.
        (false, Some(_)) => return Err(crate::consumers::exclusive()),
        (true, None) => {
            return Err(ApiError::new(
                ErrorCode::Unprocessable,
                "give topics or a topic_pattern",
            ))
        }
    };
    instance.subscribe(topics).await?;
    Ok(no_content())
}

async fn subscription(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let topics = instance(&state, &path)?.subscription().await?;
    Ok(ok(json!({"topics": topics})))
}

async fn unsubscribe(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    instance(&state, &path)?.unsubscribe().await?;
    Ok(no_content())
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TopicPartition {
    topic: String,
    partition: i32,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Partitions {
    partitions: Vec<TopicPartition>,
}

async fn assign(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: Partitions = parse(&body)?;
    let partitions = body
        .partitions
        .into_iter()
        .map(|p| (p.topic, p.partition))
        .collect();
    instance(&state, &path)?.assign(partitions).await?;
    Ok(no_content())
}

async fn assignments(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let assigned = instance(&state, &path)?.assignment().await?;
    let partitions = assigned
        .into_iter()
        .map(|(topic, partition)| TopicPartition { topic, partition })
        .collect();
    Ok(ok(Partitions { partitions }))
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct OffsetEntry {
    topic: String,
    partition: i32,
    offset: i64,
    /// Kept with the commit, and answered by `GET .../offsets`.
    #[serde(default, skip_serializing)]
    metadata: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Offsets {
    offsets: Vec<OffsetEntry>,
}

async fn seek(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: Offsets = parse(&body)?;
    let targets = body
        .offsets
        .into_iter()
        .map(|o| (o.topic, o.partition, Offset::Offset(o.offset)))
        .collect();
    instance(&state, &path)?.seek(targets).await?;
    Ok(no_content())
}

async fn seek_to(
    state: &AppState,
    path: &(String, String),
    body: &[u8],
    offset: Offset,
) -> Result<HttpResponse, ApiError> {
    let body: Partitions = parse(body)?;
    let targets = body
        .partitions
        .into_iter()
        .map(|p| (p.topic, p.partition, offset))
        .collect();
    instance(state, path)?.seek(targets).await?;
    Ok(no_content())
}

async fn seek_beginning(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    seek_to(&state, &path, &body, Offset::Beginning).await
}

async fn seek_end(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    seek_to(&state, &path, &body, Offset::End).await
}

async fn commit(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let offsets = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let body: Offsets = parse(&body)?;
        Some(
            body.offsets
                .into_iter()
                .map(|o| PartitionOffset {
                    topic: o.topic,
                    partition: o.partition,
                    offset: o.offset,
                    metadata: o.metadata.unwrap_or_default(),
                })
                .collect(),
        )
    };
    instance(&state, &path)?.commit(offsets).await?;
    Ok(no_content())
}

async fn committed(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: Partitions = parse(&body)?;
    let partitions = body
        .partitions
        .into_iter()
        .map(|p| (p.topic, p.partition))
        .collect();
    let committed = instance(&state, &path)?.committed(partitions).await?;
    let offsets: Vec<Value> = committed
        .into_iter()
        .map(|o| json!({"topic": o.topic, "partition": o.partition, "offset": o.offset, "metadata": o.metadata}))
        .collect();
    Ok(ok(json!({"offsets": offsets})))
}

/// `timeout` and `max_bytes` of a records request: as asked, up to
/// `consumers.max_request_timeout_ms` and `consumers.max_bytes`; by default
/// the instance's `consumer.request.timeout.ms` (else the gateway's) and
/// `consumers.max_bytes`.
fn limits(
    query: &str,
    state: &AppState,
    instance: &Instance,
) -> Result<(Duration, usize), ApiError> {
    let config = state.consumers.config();
    let cap = config.max_request_timeout_ms;
    let mut timeout = instance
        .request_timeout_ms
        .unwrap_or(config.request_timeout_ms)
        .min(cap);
    let mut max_bytes = config.max_bytes;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let bad = || {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("{name} must be a non-negative integer, not {value:?}"),
            )
        };
        match name {
            "timeout" => timeout = value.parse::<u64>().map_err(|_| bad())?.min(cap),
            "max_bytes" => max_bytes = value.parse::<usize>().map_err(|_| bad())?.min(max_bytes),
            _ => {}
        }
    }
    Ok((Duration::from_millis(timeout), max_bytes))
}

async fn records(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let instance = instance(&state, &path)?;
    let content_type = format!("application/vnd.kafka.{}.v2+json", instance.format);
    let accept = req
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    let accepted = accept.split(',').any(|a| {
        let a = a.split(';').next().unwrap_or("").trim();
        a == content_type || a == "*/*" || a == "application/*" || a == "application/json"
    });
    if !accepted {
        return Err(ApiError::new(
            ErrorCode::ConsumerFormatMismatch,
            format!(
                "The requested embedded data format does not match the deserializer for this consumer instance ({}); ask with Accept: {content_type}",
                instance.format
            ),
        ));
    }
    let (timeout, max_bytes) = limits(req.query_string(), &state, &instance)?;
    // Each record's key and value written straight into the answer by its
    // codec (no JSON tree in between), in chunks of about RESPONSE_CHUNK
    // bytes sent as one sized body, not one buffer of up to 16 MiB grown
    // per GET. Schemaless formats are written on the consumer's thread from
    // librdkafka's messages as they come (no copy of each record between:
    // loadtest/RESULTS.md, "Fourth pass"); schema formats are copied out
    // first, as their schemas may have to be fetched.
    let format = instance.format;
    let body = if state.codecs.get(format).is_some() {
        let answer = Answer {
            state: state.clone(),
            format,
            body: Body::new(),
        };
        instance.read(timeout, max_bytes, answer).await?.body
    } else {
        let fetched = instance.poll(timeout, max_bytes).await?;
        let mut body = Body::new();
        for record in &fetched {
            let out = body.start_record(&record.topic);
            write_schema_part(&state, format, record.key.as_deref(), out).await?;
            out.extend_from_slice(b",\"value\":");
            write_schema_part(&state, format, record.value.as_deref(), out).await?;
            let headers = record
                .headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_deref()));
            body.end_record(record.partition, record.offset, record.timestamp, headers);
        }
        body
    };
    let (total, chunks) = body.finish();
    let stream =
        futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::convert::Infallible>));
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .body(actix_web::body::SizedStream::new(total as u64, stream)))
}

/// The size of the pieces a records answer is written in.
const RESPONSE_CHUNK: usize = 64 * 1024;

/// A records answer being written: a JSON array of records in the shape
/// Confluent's v2 consumer gives, with their timestamps and (when they have
/// some) headers besides.
struct Body {
    chunks: Vec<web::Bytes>,
    current: Vec<u8>,
    total: usize,
    records: usize,
    /// The last record's topic and its JSON string, escaped once per
    /// topic rather than per record (2.9% of a fast read's CPU); they start
    /// as the empty topic, so a change of topic is all that is checked.
    topic: String,
    topic_json: Vec<u8>,
}

impl Body {
    fn new() -> Body {
        let mut current = Vec::with_capacity(RESPONSE_CHUNK + RESPONSE_CHUNK / 4);
        current.push(b'[');
        Body {
            chunks: Vec::new(),
            current,
            total: 0,
            records: 0,
            topic: String::new(),
            topic_json: b"\"\"".to_vec(),
        }
    }

    /// Writes a record's start, up to its key, and gives the buffer for
    /// the key, `,"value":` and the value.
    fn start_record(&mut self, topic: &str) -> &mut Vec<u8> {
        if self.topic != topic {
            self.topic.clear();
            self.topic.push_str(topic);
            self.topic_json.clear();
            serde_json::to_writer(&mut self.topic_json, topic).expect("writes to a Vec");
        }
        let out = &mut self.current;
        if self.records > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"topic\":");
        out.extend_from_slice(&self.topic_json);
        out.extend_from_slice(b",\"key\":");
        out
    }

    /// Writes the rest of a record, after its value.
    fn end_record<'a>(
        &mut self,
        partition: i32,
        offset: i64,
        timestamp: Option<i64>,
        headers: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>,
    ) {
        // itoa, not write!: the formatting machinery was 4% of a fast read.
        let mut number = itoa::Buffer::new();
        let out = &mut self.current;
        out.extend_from_slice(b",\"partition\":");
        out.extend_from_slice(number.format(partition).as_bytes());
        out.extend_from_slice(b",\"offset\":");
        out.extend_from_slice(number.format(offset).as_bytes());
        out.extend_from_slice(b",\"timestamp\":");
        match timestamp {
            Some(t) => out.extend_from_slice(number.format(t).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        let mut headers = headers.peekable();
        if headers.peek().is_some() {
            out.extend_from_slice(b",\"headers\":[");
            for (i, (name, value)) in headers.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"name\":");
                serde_json::to_writer(&mut *out, name).expect("writes to a Vec");
                out.extend_from_slice(b",\"value\":");
                match value {
                    Some(v) => {
                        out.push(b'"');
                        base64_simd::STANDARD.encode_append(v, out);
                        out.push(b'"');
                    }
                    None => out.extend_from_slice(b"null"),
                }
                out.push(b'}');
            }
            out.push(b']');
        }
        out.push(b'}');
        self.records += 1;
        if out.len() >= RESPONSE_CHUNK {
            self.total += out.len();
            let next = Vec::with_capacity(RESPONSE_CHUNK + RESPONSE_CHUNK / 4);
            self.chunks
                .push(web::Bytes::from(std::mem::replace(out, next)));
        }
    }

    /// The answer's length and its pieces.
    fn finish(mut self) -> (usize, Vec<web::Bytes>) {
        self.current.push(b']');
        self.total += self.current.len();
        self.chunks.push(web::Bytes::from(self.current));
        (self.total, self.chunks)
    }
}

/// A schemaless records answer, written on the consumer's thread.
struct Answer {
    state: web::Data<AppState>,
    format: Format,
    body: Body,
}

impl Reader for Answer {
    fn record(&mut self, message: &BorrowedMessage<'_>) -> Result<(), ApiError> {
        let format = self.format;
        let codec = self
            .state
            .codecs
            .get(format)
            .expect("an Answer is made for a schemaless format");
        let out = self.body.start_record(message.topic());
        let part = |bytes: Option<&[u8]>, out: &mut Vec<u8>| match bytes {
            None => {
                out.extend_from_slice(b"null");
                Ok(())
            }
            Some(bytes) => codec
                .decode_json(bytes, out)
                .map_err(|e| cannot_deserialize(format, e)),
        };
        part(message.key(), out)?;
        out.extend_from_slice(b",\"value\":");
        part(message.payload(), out)?;
        let headers = message
            .headers()
            .into_iter()
            .flat_map(|h| h.iter())
            .map(|h| (h.key, h.value));
        self.body.end_record(
            message.partition(),
            message.offset(),
            message.timestamp().to_millis(),
            headers,
        );
        Ok(())
    }
}

fn cannot_deserialize(format: Format, e: gateway_codecs::CodecError) -> ApiError {
    ApiError::new(
        ErrorCode::Kafka,
        format!("cannot deserialize a {format} record: {e}"),
    )
}

/// Writes a key or value in a schema format as its JSON form (`null` for
/// none), with the schema its framing names.
async fn write_schema_part(
    state: &AppState,
    format: Format,
    bytes: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), ApiError> {
    let Some(bytes) = bytes else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    let failed = |e| cannot_deserialize(format, e);
    let id = gateway_codecs::schema_id(bytes).ok_or_else(|| {
        failed(gateway_codecs::CodecError::InvalidData(
            "not in the Schema Registry wire format".into(),
        ))
    })?;
    let codec = state
        .schema_registry()?
        .codec(id, Some(format))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Kafka, format!("schema {id}: {}", e.message)))?;
    codec.decode_json(bytes, out).map_err(failed)
}
