//! One v3 record object into the request's [`RecordBatch`]: its key and
//! value by their `type` (or schema), its headers, partition and timestamp,
//! and what its answer will say about each part.

use super::*;

/// Appends one record object to `batch`; on an error, `batch` is left as
/// it was.
pub(super) async fn encode_into(
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

pub(super) async fn encode_record(
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
pub(super) async fn part(
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
pub(super) enum PartCodec<'a> {
    Plain(&'a dyn Codec),
    Schema(Arc<dyn Codec>),
}

impl PartCodec<'_> {
    pub(super) fn get(&self) -> &dyn Codec {
        match self {
            PartCodec::Plain(c) => *c,
            PartCodec::Schema(c) => c.as_ref(),
        }
    }
}

impl PartMeta {
    pub(super) fn plain(format: Format) -> PartMeta {
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
pub(super) fn encode_data(
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

pub(super) fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Unprocessable, message)
}

/// A format as v3 names it.
pub(super) fn type_name(format: Format) -> &'static str {
    match format {
        Format::Binary => "BINARY",
        Format::Json => "JSON",
        Format::String => "STRING",
        Format::Avro => "AVRO",
        Format::Protobuf => "PROTOBUF",
        Format::JsonSchema => "JSONSCHEMA",
    }
}
