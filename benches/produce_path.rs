//! The HTTP side of the hot path, per request: parsing the envelope
//! (simd-json against serde_json) and encoding its records, and base64
//! decoding (base64-simd against the base64 crate).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gateway_codecs::{Format, Registry};
use kafka_gateway::http::produce::parse_and_encode;
use serde_json::{json, Value};

fn record(i: usize) -> Value {
    json!({"key": format!("user-{i}"), "value": {
        "id": 42 + i, "name": "Jane Doe", "email": "jane.doe@example.com",
        "country": "NL", "plan": "pro", "active": true, "score": 97.5,
        "tags": ["a", "b", "c"], "created": "2026-11-22T02:00:00Z",
        "note": "a record of about two hundred and fifty bytes, give or take"}})
}

fn body(records: usize) -> Vec<u8> {
    let records: Vec<Value> = (0..records).map(record).collect();
    serde_json::to_vec(&json!({ "records": records })).unwrap()
}

fn envelope(c: &mut Criterion) {
    let registry = Registry::new();
    let json = registry.get(Format::Json).unwrap();
    let mut group = c.benchmark_group("envelope");
    for records in [1usize, 100] {
        let body = body(records);
        group.throughput(Throughput::Elements(records as u64));
        group.bench_with_input(
            BenchmarkId::new("simd_json_parse_and_encode", records),
            &body,
            |b, body| {
                b.iter(|| {
                    parse_and_encode(Some(json), Some(json), black_box(body), "t".into(), None)
                        .unwrap()
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("simd_json_parse_only", records),
            &body,
            |b, body| {
                b.iter(|| {
                    let mut buf = body.clone();
                    let value = simd_json::to_borrowed_value(&mut buf).unwrap();
                    black_box(&value);
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("simd_json_tape_parse_and_encode", records),
            &body,
            |b, body| {
                use simd_json::prelude::*;
                b.iter(|| {
                    let mut buf = body.clone();
                    let tape = simd_json::to_tape(&mut buf).unwrap();
                    let root = tape.as_value();
                    let mut out = Vec::with_capacity(body.len());
                    for r in root.get("records").unwrap().as_array().unwrap().iter() {
                        r.get("key").unwrap().write(&mut out).unwrap();
                        r.get("value").unwrap().write(&mut out).unwrap();
                    }
                    black_box(out)
                })
            },
        );
        group.bench_with_input(
            BenchmarkId::new("serde_json_parse_only", records),
            &body,
            |b, body| b.iter(|| black_box(serde_json::from_slice::<Value>(body).unwrap())),
        );
        group.bench_with_input(
            BenchmarkId::new("serde_json_parse_and_encode", records),
            &body,
            |b, body| {
                b.iter(|| {
                    let v: Value = serde_json::from_slice(body).unwrap();
                    let mut out = Vec::with_capacity(body.len());
                    for r in v["records"].as_array().unwrap() {
                        serde_json::to_writer(&mut out, &r["key"]).unwrap();
                        serde_json::to_writer(&mut out, &r["value"]).unwrap();
                    }
                    black_box(out)
                })
            },
        );
    }
    group.finish();
}

fn base64(c: &mut Criterion) {
    use base64::Engine;
    let bytes: Vec<u8> = (0..1024).map(|i| (i * 31 % 251) as u8).collect();
    let text = base64_simd::STANDARD.encode_to_string(&bytes);
    let mut group = c.benchmark_group("base64_decode_1KiB");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("base64_simd", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            gateway_codecs::binary::decode_base64(black_box(text.as_bytes()), &mut out).unwrap();
        })
    });
    group.bench_function("base64_crate", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            base64::engine::general_purpose::STANDARD
                .decode_vec(black_box(text.as_bytes()), &mut out)
                .unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, envelope, base64);
criterion_main!(benches);
