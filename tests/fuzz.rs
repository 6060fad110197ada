//! Property tests of every parser of client bytes (nightly Rust, and so
//! cargo-fuzz, cannot be installed here): structured generators make valid
//! inputs, then mutate them. Whatever the bytes, nothing panics, every
//! refusal is a 4xx from the error table, and what is accepted decodes back
//! to what was sent. Case counts are bounded so the test command stays
//! quick; raise PROPTEST_CASES for a longer hunt.

mod common;

use std::io::Write;

use gateway_codecs::avro::AvroCodec;
use gateway_codecs::jsonschema::JsonSchemaCodec;
use gateway_codecs::protobuf::ProtobufCodec;
use gateway_codecs::{Codec, Format, Registry};
use kafka_gateway::http::produce::parse_and_encode;
use kafka_gateway::http::v3::split::Splitter;
use kafka_gateway::schemas::{canonical, SchemaType, Submitted};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Any JSON value without floats (whose text forms may differ).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,12}".prop_map(Value::String),
        "\\PC{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,5}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A change to a valid input: none, a truncation, a flipped, inserted or
/// deleted byte, or a repeated slice.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Repeat(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => Just(Mutation::None),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => (any::<usize>(), prop::sample::select(b"{}[]\",:\\0-e ".to_vec()))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<usize>().prop_map(Mutation::Delete),
        1 => (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Repeat(i, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match *m {
        Mutation::None => {}
        Mutation::Truncate(i) => bytes.truncate(at(i, bytes.len())),
        Mutation::Flip(i, b) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                bytes[i] ^= b | 1;
            }
        }
        Mutation::Insert(i, b) => {
            let i = at(i, bytes.len() + 1);
            bytes.insert(i, b);
        }
        Mutation::Delete(i) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                bytes.remove(i);
            }
        }
        Mutation::Repeat(i, n) => {
            let i = at(i, bytes.len());
            let end = (i + n).min(bytes.len());
            let slice = bytes[i..end].to_vec();
            bytes.splice(i..i, slice);
        }
    }
    bytes
}

/// A v2 envelope as serde reads it, refusing duplicate members: for
/// comparing what the gateway accepted with what the body says.
#[derive(serde::Deserialize)]
struct SentEnvelope {
    records: Vec<SentRecord>,
}

#[derive(serde::Deserialize)]
struct SentRecord {
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    value: Option<Value>,
}

/// Parses a v2 envelope with `codec` for keys and values: accepted, each
/// value decodes to what was sent; refused, the code is a 4xx. Accepted
/// after a mutation, every key and value written still decodes with the
/// codec (nothing a consumer could not read), and for json, where keys
/// and values are copied as sent, each decodes to what serde reads at the
/// same place in the mutated body, whenever serde reads that body (no
/// duplicate members).
fn check_envelope(
    codec: &dyn Codec,
    body: &[u8],
    sent: Option<&[Value]>,
) -> Result<(), TestCaseError> {
    match parse_and_encode(Some(codec), Some(codec), body, "t".into(), None) {
        Ok(batch) => {
            let decode = |range: &std::ops::Range<u32>| {
                codec
                    .decode(&batch.data[range.start as usize..range.end as usize])
                    .map_err(|e| {
                        TestCaseError::fail(format!(
                            "accepted {} but wrote what does not decode: {e}",
                            String::from_utf8_lossy(body)
                        ))
                    })
            };
            let mut decoded = Vec::with_capacity(batch.records.len());
            for record in &batch.records {
                let key = record.key.as_ref().map(decode).transpose()?;
                let value = record.value.as_ref().map(decode).transpose()?;
                decoded.push((key, value));
            }
            if let Some(sent) = sent {
                prop_assert_eq!(decoded.len(), sent.len());
                for ((_, value), sent) in decoded.iter().zip(sent) {
                    match value {
                        // A null value is a tombstone: no value bytes.
                        None => prop_assert!(sent.is_null()),
                        Some(value) => prop_assert_eq!(value, sent),
                    }
                }
            }
            let as_read = serde_json::from_slice::<SentEnvelope>(body).ok();
            if let (Format::Json, Some(read)) = (codec.format(), as_read) {
                prop_assert_eq!(decoded.len(), read.records.len());
                for ((key, value), read) in decoded.into_iter().zip(read.records) {
                    let null_is_none = |v: Option<Value>| v.filter(|v| !v.is_null());
                    prop_assert_eq!(
                        key,
                        null_is_none(read.key),
                        "key in {}",
                        String::from_utf8_lossy(body)
                    );
                    prop_assert_eq!(
                        value,
                        null_is_none(read.value),
                        "value in {}",
                        String::from_utf8_lossy(body)
                    );
                }
            }
        }
        Err(e) => {
            let status = e.code.http_status().as_u16();
            prop_assert!(
                (400..500).contains(&status),
                "{:?} {}: {}",
                e.code,
                status,
                e.message
            );
        }
    }
    Ok(())
}

fn envelope(values: &[Value]) -> Vec<u8> {
    let records: Vec<Value> = values.iter().map(|v| json!({"value": v})).collect();
    serde_json::to_vec(&json!({ "records": records })).unwrap()
}

const AVRO: &str = r#"{"type": "record", "name": "Order", "fields": [
    {"name": "id", "type": "int"},
    {"name": "name", "type": "string"},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "price", "type": ["null", "double"], "default": null},
    {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
    {"name": "attrs", "type": {"type": "map", "values": "long"}}]}"#;

fn avro_value() -> impl Strategy<Value = Value> {
    (
        any::<i32>(),
        "[ -~]{0,10}",
        prop::collection::vec("[a-z]{0,4}", 0..3),
        prop::option::of(-1000i32..1000),
        prop::bool::ANY,
        prop::collection::btree_map("[a-z]{1,4}", any::<i64>(), 0..3),
    )
        .prop_map(|(id, name, tags, price, kind, attrs)| {
            json!({
                "id": id, "name": name, "tags": tags,
                "price": price.map(|p| json!({"double": p as f64 / 4.0})).unwrap_or(Value::Null),
                "kind": if kind { "A" } else { "B" },
                "attrs": attrs,
            })
        })
}

const PROTO: &str = r#"syntax = "proto3";
message Order { int32 id = 1; string name = 2; repeated string tags = 3; double price = 4; }"#;

/// Values whose fields are all set (proto3 leaves out zero values, so a
/// round trip is only exact without them).
fn proto_value() -> impl Strategy<Value = Value> {
    (
        1i32..i32::MAX,
        "[a-z]{1,10}",
        prop::collection::vec("[a-z]{1,4}", 1..3),
        1i32..1000,
    )
        .prop_map(|(id, name, tags, price)| {
            json!({"id": id, "name": name, "tags": tags, "price": price as f64 / 4.0})
        })
}

const JSON_SCHEMA: &str = r#"{"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": "string", "maxLength": 20}},
    "required": ["id"]}"#;

#[test]
fn an_avro_name_that_panics_apache_avro_is_an_invalid_schema() {
    // Found by the server test below: apache-avro unwraps on this name.
    let text = AVRO.replace("\"Kind\"", "\"K}ind\"");
    let e = canonical(&Submitted::plain(SchemaType::Avro, text.clone()), &[]).unwrap_err();
    assert_eq!(e.code.code(), 42201, "{}", e.message);
    assert!(AvroCodec::new(&text, 1).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn json_envelopes(values in prop::collection::vec(json_value(), 1..5), m in mutation()) {
        let registry = Registry::new();
        let codec = registry.get(Format::Json).unwrap();
        let body = envelope(&values);
        let unchanged = matches!(m, Mutation::None);
        check_envelope(codec, &mutate(body, &m), unchanged.then_some(&values[..]))?;
    }

    /// Keys and values, compact or pretty-printed (copied as sent, or
    /// written again from the parse), mutated or not.
    #[test]
    fn json_envelopes_with_keys(
        records in prop::collection::vec((json_value(), json_value()), 1..5),
        pretty in any::<bool>(),
        m in mutation(),
    ) {
        let registry = Registry::new();
        let codec = registry.get(Format::Json).unwrap();
        let records: Vec<Value> = records.iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let envelope = json!({ "records": records });
        let body = if pretty { serde_json::to_vec_pretty(&envelope) } else { serde_json::to_vec(&envelope) }.unwrap();
        check_envelope(codec, &mutate(body, &m), None)?;
    }

    #[test]
    fn binary_envelopes(payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..5), m in mutation()) {
        let registry = Registry::new();
        let codec = registry.get(Format::Binary).unwrap();
        let values: Vec<Value> = payloads.iter().map(|p| json!(common::b64(p))).collect();
        let unchanged = matches!(m, Mutation::None);
        check_envelope(codec, &mutate(envelope(&values), &m), unchanged.then_some(&values[..]))?;
    }

    #[test]
    fn avro_envelopes(values in prop::collection::vec(avro_value(), 1..4), m in mutation()) {
        let codec = AvroCodec::new(AVRO, 7).unwrap();
        let unchanged = matches!(m, Mutation::None);
        check_envelope(&codec, &mutate(envelope(&values), &m), unchanged.then_some(&values[..]))?;
    }

    #[test]
    fn protobuf_envelopes(values in prop::collection::vec(proto_value(), 1..4), m in mutation()) {
        let codec = ProtobufCodec::new(PROTO, 8).unwrap();
        let unchanged = matches!(m, Mutation::None);
        check_envelope(&codec, &mutate(envelope(&values), &m), unchanged.then_some(&values[..]))?;
    }

    #[test]
    fn json_schema_envelopes(ids in prop::collection::vec(any::<i64>(), 1..4), names in prop::collection::vec("[a-z]{0,20}", 1..4), m in mutation()) {
        let codec = JsonSchemaCodec::new(JSON_SCHEMA, 9).unwrap();
        let values: Vec<Value> = ids.iter().zip(names.iter().cycle()).map(|(id, name)| json!({"id": id, "name": name})).collect();
        let unchanged = matches!(m, Mutation::None);
        check_envelope(&codec, &mutate(envelope(&values), &m), unchanged.then_some(&values[..]))?;
    }

    /// v3 streams: concatenated objects, cut into chunks anywhere, come out
    /// whole and in order; mutated streams end in an error, not a panic.
    #[test]
    fn v3_streams_split_wherever_the_chunks_fall(
        values in prop::collection::vec(json_value(), 1..6),
        cuts in prop::collection::vec(1usize..50, 0..10),
        gaps in prop::collection::vec(prop::sample::select(vec!["", "\n", "\r\n", " "]), 6),
        m in mutation(),
    ) {
        let objects: Vec<Value> = values.iter().map(|v| json!({"value": {"type": "JSON", "data": v}})).collect();
        let mut stream = Vec::new();
        for (i, o) in objects.iter().enumerate() {
            stream.extend_from_slice(gaps[i % gaps.len()].as_bytes());
            stream.extend_from_slice(&serde_json::to_vec(o).unwrap());
        }
        let unchanged = matches!(m, Mutation::None);
        let stream = mutate(stream, &m);
        let mut splitter = Splitter::new(1 << 20);
        let mut out = Vec::new();
        let mut at = 0;
        let mut failed = false;
        let mut cuts = cuts.into_iter();
        while at < stream.len() && !failed {
            let end = (at + cuts.next().unwrap_or(usize::MAX / 2)).min(stream.len());
            splitter.push(&stream[at..end]);
            at = end;
            loop {
                match splitter.next_object() {
                    Ok(Some(object)) => out.push(object),
                    Ok(None) => break,
                    Err(_) => { failed = true; break; }
                }
            }
        }
        if unchanged {
            prop_assert!(!failed && !splitter.has_partial());
            let parsed: Vec<Value> = out.iter().map(|o| serde_json::from_slice(o).unwrap()).collect();
            prop_assert_eq!(parsed, objects);
        }
    }

    /// Schemas of all three types, mutated: they compile or are refused
    /// with 42201, never a panic.
    #[test]
    fn schemas_compile_or_are_refused(which in 0usize..3, m in mutation()) {
        let (schema_type, text) = [
            (SchemaType::Avro, AVRO),
            (SchemaType::Protobuf, PROTO),
            (SchemaType::Json, JSON_SCHEMA),
        ][which];
        let text = String::from_utf8_lossy(&mutate(text.as_bytes().to_vec(), &m)).into_owned();
        if let Err(e) = canonical(&Submitted::plain(schema_type, text.clone()), &[]) {
            prop_assert_eq!(e.code.code(), 42201, "{}", e.message);
        }
        let _ = match schema_type {
            SchemaType::Avro => AvroCodec::new(&text, 1).map(|_| ()),
            SchemaType::Protobuf => ProtobufCodec::new(&text, 1).map(|_| ()),
            SchemaType::Json => JsonSchemaCodec::new(&text, 1).map(|_| ()),
        };
    }

    /// Codec decode of arbitrary bytes (what a consumer reads from a topic
    /// anyone may write): an error, never a panic.
    #[test]
    fn codecs_decode_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64), framed in any::<bool>()) {
        let mut bytes = bytes;
        if framed {
            bytes.splice(0..0, [0u8, 0, 0, 0, 7]);
        }
        let registry = Registry::new();
        for format in [Format::Json, Format::Binary] {
            let _ = registry.get(format).unwrap().decode(&bytes);
        }
        let _ = AvroCodec::new(AVRO, 7).unwrap().decode(&bytes);
        let _ = ProtobufCodec::new(PROTO, 7).unwrap().decode(&bytes);
        let _ = JsonSchemaCodec::new(JSON_SCHEMA, 7).unwrap().decode(&bytes);
    }
}

/// Mutated bodies through the real server, on every API that parses client
/// bytes (v2 with and without gzip, v3 single records and batches, the
/// Schema Registry, consumers): never a 5xx, always the error envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_requests_through_the_server_answer_4xx_never_5xx() {
    use rand::{Rng, SeedableRng};
    let t = common::topic("fuzz");
    let gw = common::TestGateway::start(common::embedded_config(&[&t], 1)).await;
    let cluster = gw.get("/v3/clusters").await.json()["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    let seeds: Vec<(String, &str, Vec<u8>, bool)> = vec![
        (format!("/topics/{t}"), common::JSON, br#"{"records":[{"key":"k","value":{"a":[1,2]}}]}"#.to_vec(), false),
        (format!("/topics/{t}"), common::JSON, br#"{"records":[{"value":{"a":1}},{"value":null}]}"#.to_vec(), true),
        (format!("/topics/{t}"), common::BINARY, br#"{"records":[{"value":"aGk=","partition":0}]}"#.to_vec(), false),
        (format!("/topics/{t}"), "application/vnd.kafka.avro.v2+json", format!(r#"{{"value_schema":{},"records":[{{"value":{{"id":1,"name":"x","tags":[],"price":null,"kind":"A","attrs":{{}}}}}}]}}"#, serde_json::to_string(AVRO).unwrap()).into_bytes(), false),
        (format!("/v3/clusters/{cluster}/topics/{t}/records"), "application/json", br#"{"key":{"type":"STRING","data":"k"},"value":{"type":"JSON","data":{"a":1}},"headers":[{"name":"h","value":"aGk="}]}"#.to_vec(), false),
        (format!("/v3/clusters/{cluster}/topics/{t}/records:batch"), "application/json", br#"{"entries":[{"id":"1","value":{"type":"BINARY","data":"aGk="}}]}"#.to_vec(), false),
        ("/subjects/fuzz-value/versions".to_string(), "application/vnd.schemaregistry.v1+json", serde_json::to_vec(&json!({"schema": AVRO})).unwrap(), false),
        ("/subjects/fuzz-proto/versions".to_string(), "application/vnd.schemaregistry.v1+json", serde_json::to_vec(&json!({"schema": PROTO, "schemaType": "PROTOBUF"})).unwrap(), false),
        ("/compatibility/subjects/fuzz-value/versions/latest".to_string(), "application/vnd.schemaregistry.v1+json", serde_json::to_vec(&json!({"schema": AVRO})).unwrap(), false),
        ("/consumers/fuzz-group".to_string(), common::V2, br#"{"name":"c","format":"json","auto.offset.reset":"earliest"}"#.to_vec(), false),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let cases: usize = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(40);
    for (path, content_type, seed, gzip) in &seeds {
        for _ in 0..cases {
            let m = match rng.gen_range(0..6) {
                0 => Mutation::None,
                1 => Mutation::Truncate(rng.gen()),
                2 => Mutation::Flip(rng.gen(), rng.gen()),
                3 => {
                    let specials = b"{}[]\",:\\0-e ";
                    Mutation::Insert(rng.gen(), specials[rng.gen_range(0..specials.len())])
                }
                4 => Mutation::Delete(rng.gen()),
                _ => Mutation::Repeat(rng.gen(), rng.gen_range(1..64)),
            };
            let mut body = mutate(seed.clone(), &m);
            let mut request = gw
                .http
                .post(format!("{}{path}", gw.url))
                .header("Content-Type", *content_type);
            if *gzip {
                let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                z.write_all(&body).unwrap();
                body = mutate(z.finish().unwrap(), &m);
                request = request.header("Content-Encoding", "gzip");
            }
            let response = request.body(body.clone()).send().await.expect("answered");
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            assert!(
                status < 500,
                "{path} {m:?}: {status} {text}\n{}",
                String::from_utf8_lossy(&body)
            );
            if status >= 400 && !path.ends_with("/records") {
                let v: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|_| panic!("{path}: not JSON: {text}"));
                assert!(v["error_code"].is_u64(), "{path}: {text}");
            }
        }
    }
    // And the server still serves.
    assert_eq!(gw.get("/healthz").await.status, 200);
}
