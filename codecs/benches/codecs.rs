//! Each codec on a realistic 10-field record: records/s and bytes/s.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use gateway_codecs::{Format, Registry};

const RECORD: &str = r#"{"id":42,"name":"Jane Doe","email":"jane.doe@example.com","country":"NL","plan":"pro","active":true,"score":97.5,"tags":["a","b","c"],"created":"2026-11-22T02:00:00Z","note":"a record of about two hundred and fifty bytes, give or take"}"#;

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
        group.finish();
    }
}

criterion_group!(benches, codecs);
criterion_main!(benches);
