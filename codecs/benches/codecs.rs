//! Each codec on a realistic 10-field record: records/s and bytes/s.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use gateway_codecs::{Format, Registry};

const RECORD: &str = r#"{"id":42,"name":"Jane Doe","email":"jane.doe@example.com","country":"NL","plan":"pro","active":true,"score":97.5,"tags":["a","b","c"],"created":"2026-11-22T02:00:00Z","note":"a record of about two hundred and fifty bytes, give or take"}"#;

/// The consumer side: Kafka bytes to the response's JSON text, through a
/// tree (`decode`, then serde_json) and written straight (`decode_json`).
fn decode_benches(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    prefix: &str,
    codec: &dyn gateway_codecs::Codec,
    stored: &[u8],
) {
    let mut out = Vec::with_capacity(1024);
    group.bench_function(format!("{prefix}decode_tree"), |b| {
        b.iter(|| {
            out.clear();
            let tree = codec.decode(black_box(stored)).unwrap();
            serde_json::to_writer(&mut out, &tree).unwrap();
        })
    });
    group.bench_function(format!("{prefix}decode_json"), |b| {
        b.iter(|| {
            out.clear();
            codec.decode_json(black_box(stored), &mut out).unwrap();
        })
    });
}

fn codecs(c: &mut Criterion) {
    let registry = Registry::new();
    let binary_text = format!(
        "\"{}\"",
        base64_simd::STANDARD.encode_to_string(RECORD.as_bytes())
    );
    let string_text = serde_json::to_string(RECORD).unwrap();
    for (format, input) in [
        (Format::Json, RECORD.to_string()),
        (Format::Binary, binary_text),
        (Format::String, string_text),
    ] {
        let codec = registry.get(format).unwrap();
        let mut buf = input.clone().into_bytes();
        let tape = simd_json::to_tape(&mut buf).unwrap();
        let value = tape.as_value();
        let mut group = c.benchmark_group(format!("codec_{format}"));
        group.throughput(Throughput::Bytes(input.len() as u64));
        let mut out = Vec::with_capacity(1024);
        group.bench_function("encode", |b| {
            b.iter(|| {
                out.clear();
                codec.encode(black_box(&value), &mut out).unwrap();
            })
        });
        let mut stored = Vec::new();
        codec.encode(&value, &mut stored).unwrap();
        decode_benches(&mut group, "", codec, &stored);
        group.finish();
    }
}

const AVRO_SCHEMA: &str = r#"{"type": "record", "name": "Customer", "fields": [
    {"name": "id", "type": "long"}, {"name": "name", "type": "string"},
    {"name": "email", "type": "string"}, {"name": "country", "type": "string"},
    {"name": "plan", "type": "string"}, {"name": "active", "type": "boolean"},
    {"name": "score", "type": "double"}, {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "created", "type": "string"}, {"name": "note", "type": "string"}]}"#;

/// The gateway's Avro codec (the simd-json tape written straight to Avro
/// binary) against apache-avro (building its `Value` from JSON, then
/// writing it) and serde_avro_fast, on the same 10-field record.
fn avro(c: &mut Criterion) {
    use gateway_codecs::avro::AvroCodec;
    use gateway_codecs::Codec;
    let codec = AvroCodec::new(AVRO_SCHEMA, 1).unwrap();
    let mut buf = RECORD.as_bytes().to_vec();
    let tape = simd_json::to_tape(&mut buf).unwrap();
    let value = tape.as_value();
    let mut group = c.benchmark_group("codec_avro");
    group.throughput(Throughput::Elements(1));
    let mut out = Vec::with_capacity(1024);
    group.bench_function("gateway", |b| {
        b.iter(|| {
            out.clear();
            codec.encode(black_box(&value), &mut out).unwrap();
        })
    });
    // The same record with its fields in another order than the schema's
    // (alphabetical, as serde_json writes a map).
    let sorted =
        serde_json::to_string(&serde_json::from_str::<serde_json::Value>(RECORD).unwrap()).unwrap();
    let mut sorted_buf = sorted.into_bytes();
    let sorted_tape = simd_json::to_tape(&mut sorted_buf).unwrap();
    let sorted_value = sorted_tape.as_value();
    group.bench_function("gateway_fields_out_of_order", |b| {
        b.iter(|| {
            out.clear();
            codec.encode(black_box(&sorted_value), &mut out).unwrap();
        })
    });
    let mut stored = Vec::new();
    codec.encode(&value, &mut stored).unwrap();
    decode_benches(&mut group, "", &codec, &stored);
    let json: serde_json::Value = serde_json::from_str(RECORD).unwrap();
    let apache_schema = apache_avro::Schema::parse_str(AVRO_SCHEMA).unwrap();
    group.bench_function("apache_avro", |b| {
        b.iter(|| {
            let datum = apache_avro::types::Value::from(black_box(&json).clone())
                .resolve(&apache_schema)
                .unwrap();
            apache_avro::to_avro_datum(&apache_schema, datum).unwrap()
        })
    });
    let schema: serde_avro_fast::Schema = AVRO_SCHEMA.parse().unwrap();
    group.bench_function("serde_avro_fast", |b| {
        let mut config = serde_avro_fast::ser::SerializerConfig::new(&schema);
        b.iter(|| serde_avro_fast::to_datum_vec(black_box(&json), &mut config).unwrap())
    });
    group.finish();
}

/// The JSON Schema and Protobuf codecs on the same 10-field record.
fn schema_codecs(c: &mut Criterion) {
    use gateway_codecs::jsonschema::JsonSchemaCodec;
    use gateway_codecs::protobuf::ProtobufCodec;
    use gateway_codecs::Codec;
    let json_schema = r#"{"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "email": {"type": "string"},
        "country": {"type": "string"}, "plan": {"type": "string"}, "active": {"type": "boolean"},
        "score": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}},
        "created": {"type": "string"}, "note": {"type": "string"}}, "required": ["id", "name"]}"#;
    let proto = r#"syntax = "proto3"; message Customer {
        int64 id = 1; string name = 2; string email = 3; string country = 4; string plan = 5;
        bool active = 6; double score = 7; repeated string tags = 8; string created = 9;
        string note = 10; }"#;
    let codecs: [(&str, Box<dyn Codec>); 2] = [
        (
            "jsonschema",
            Box::new(JsonSchemaCodec::new(json_schema, 1).unwrap()),
        ),
        ("protobuf", Box::new(ProtobufCodec::new(proto, 1).unwrap())),
    ];
    let mut buf = RECORD.as_bytes().to_vec();
    let tape = simd_json::to_tape(&mut buf).unwrap();
    let value = tape.as_value();
    let mut group = c.benchmark_group("codec_schema");
    group.throughput(Throughput::Elements(1));
    for (name, codec) in &codecs {
        let mut out = Vec::with_capacity(1024);
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                codec.encode(black_box(&value), &mut out).unwrap();
            })
        });
        let mut stored = Vec::new();
        codec.encode(&value, &mut stored).unwrap();
        decode_benches(&mut group, &format!("{name}_"), codec.as_ref(), &stored);
    }
    group.finish();
}

criterion_group!(benches, codecs, avro, schema_codecs);
criterion_main!(benches);
