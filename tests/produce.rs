//! v2 produce end to end: the real server on 127.0.0.1:0, its embedded
//! broker, and a real Kafka consumer reading every record back.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_records_are_stored_at_the_offsets_answered() {
    let t = topic("json");
    let gw = TestGateway::start(embedded_config(&[&t], 3)).await;
    let body = json!({"records": [
        {"key": "k1", "value": {"name": "John", "n": [1, 2.5, null]}},
        {"value": {"name": "Mary"}, "partition": 2},
        {"key": {"id": 7}, "value": "plain string"},
        {"key": "tombstone"}
    ]});
    let reply = gw
        .post(&format!("/topics/{t}"), JSON, body.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), V2);
    let answer = reply.json();
    assert_eq!(answer["key_schema_id"], Value::Null);
    assert_eq!(answer["value_schema_id"], Value::Null);
    let offsets = answer["offsets"].as_array().unwrap();
    assert_eq!(offsets.len(), 4);
    assert_eq!(offsets[1]["partition"], 2, "explicit partition is kept");

    let stored = read_all(&gw.bootstrap, &t, 3, 4).await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    for (record, entry) in body["records"].as_array().unwrap().iter().zip(offsets) {
        assert_eq!(entry["error_code"], Value::Null);
        assert_eq!(entry["error"], Value::Null);
        let s = at(
            &stored,
            entry["partition"].as_i64().unwrap(),
            entry["offset"].as_i64().unwrap(),
        );
        let decode = |b: &Option<Vec<u8>>| {
            b.as_ref()
                .map(|b| serde_json::from_slice::<Value>(b).unwrap())
                .unwrap_or(Value::Null)
        };
        assert_eq!(decode(&s.key), record["key"]);
        assert_eq!(decode(&s.value), record["value"]);
    }
    // A null value is a tombstone: no payload at all.
    assert_eq!(
        at(
            &stored,
            offsets[3]["partition"].as_i64().unwrap(),
            offsets[3]["offset"].as_i64().unwrap()
        )
        .value,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_records_keep_their_bytes_and_partitions() {
    let t = topic("bin");
    let gw = TestGateway::start(embedded_config(&[&t], 4)).await;
    let payload: Vec<u8> = (0..=255u8).collect();
    let body = json!({"records": [
        {"key": b64(b"key-a"), "value": b64(&payload)},
        {"value": "S2Fma2E="},
        {"value": "S2Fma2E=", "partition": 0}
    ]});
    // The partition path form; a partition in the body overrides it.
    let reply = gw
        .post(
            &format!("/topics/{t}/partitions/3"),
            BINARY,
            body.to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let offsets = reply.json()["offsets"].as_array().unwrap().clone();
    let partitions: Vec<i64> = offsets
        .iter()
        .map(|o| o["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(partitions, [3, 3, 0]);

    let stored = read_all(&gw.bootstrap, &t, 4, 3).await;
    assert_eq!(stored.len(), 3);
    let first = at(&stored, 3, offsets[0]["offset"].as_i64().unwrap());
    assert_eq!(first.key.as_deref(), Some(&b"key-a"[..]));
    assert_eq!(first.value.as_deref(), Some(&payload[..]));
    let second = at(&stored, 3, offsets[1]["offset"].as_i64().unwrap());
    assert_eq!(second.key, None);
    assert_eq!(second.value.as_deref(), Some(&b"Kafka"[..]));
    assert_eq!(
        at(&stored, 0, offsets[2]["offset"].as_i64().unwrap())
            .value
            .as_deref(),
        Some(&b"Kafka"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_go_where_java_producers_put_them() {
    // murmur2 of the key, as Kafka's Java client and Confluent's proxy do,
    // so HTTP and native producers agree on a key's partition.
    let t = topic("keyed");
    let gw = TestGateway::start(embedded_config(&[&t], 6)).await;
    let keys = ["alpha", "bravo", "charlie", "delta"];
    let records: Vec<Value> = keys
        .iter()
        .map(|k| json!({"key": b64(k.as_bytes()), "value": "AA=="}))
        .collect();
    let reply = gw
        .post(
            &format!("/topics/{t}"),
            BINARY,
            json!({"records": records}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    for (key, entry) in keys.iter().zip(reply.json()["offsets"].as_array().unwrap()) {
        let expected = (murmur2(key.as_bytes()) & 0x7fff_ffff) % 6;
        assert_eq!(
            entry["partition"].as_u64().unwrap(),
            expected as u64,
            "key {key}"
        );
    }
}

/// Kafka's murmur2 (the Java client's default partitioner hash).
fn murmur2(data: &[u8]) -> u32 {
    let seed: u32 = 0x9747_b28c;
    let m: u32 = 0x5bd1_e995;
    let mut h = seed ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(m);
        k ^= k >> 24;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    match rest.len() {
        3 => {
            h ^= (rest[2] as u32) << 16;
            h ^= (rest[1] as u32) << 8;
            h ^= rest[0] as u32;
            h = h.wrapping_mul(m);
        }
        2 => {
            h ^= (rest[1] as u32) << 8;
            h ^= rest[0] as u32;
            h = h.wrapping_mul(m);
        }
        1 => {
            h ^= rest[0] as u32;
            h = h.wrapping_mul(m);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_json_is_accepted_as_json_and_seed_examples_work() {
    // The seed quickstart, as written, against the embedded broker's
    // default topics.
    let gw = TestGateway::start(embedded_config(&["jsontest", "binarytest"], 1)).await;
    let reply = gw
        .post(
            "/topics/jsontest",
            JSON,
            r#"{"records":[{"value":{"foo":"bar"}}]}"#,
        )
        .await;
    assert_eq!(
        reply.text,
        r#"{"offsets":[{"partition":0,"offset":0,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}"#
    );
    let reply = gw
        .post(
            "/topics/binarytest",
            BINARY,
            r#"{"records":[{"value":"S2Fma2E="}]}"#,
        )
        .await;
    assert_eq!(reply.json()["offsets"][0]["offset"], 0);
    let reply = gw
        .post(
            "/topics/jsontest",
            "application/json; charset=utf-8",
            r#"{"records":[{"value":[1,2]}]}"#,
        )
        .await;
    assert_eq!(reply.json()["offsets"][0]["offset"], 1);
    let stored = read_all(&gw.bootstrap, "jsontest", 1, 2).await;
    assert_eq!(stored[0].value.as_deref(), Some(&br#"{"foo":"bar"}"#[..]));
    assert_eq!(stored[1].value.as_deref(), Some(&b"[1,2]"[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_requests_answer_202_and_their_records_arrive() {
    let t = topic("async");
    let gw = TestGateway::start(embedded_config(&[&t], 2)).await;
    let reply = gw
        .post(
            &format!("/topics/{t}?async=true"),
            JSON,
            r#"{"records":[{"value":1},{"value":2,"partition":1}]}"#,
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.text);
    let offsets = reply.json()["offsets"].clone();
    assert_eq!(offsets[0]["offset"], Value::Null);
    assert_eq!(offsets[1]["partition"], 1);
    let stored = read_all(&gw.bootstrap, &t, 2, 2).await;
    let mut values: Vec<_> = stored.iter().map(|s| s.value.clone().unwrap()).collect();
    values.sort();
    assert_eq!(values, [b"1".to_vec(), b"2".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_request_bodies_are_decoded() {
    use std::io::Write;
    let t = topic("gzip");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder
        .write_all(br#"{"records":[{"value":{"zipped":true}}]}"#)
        .unwrap();
    let response = gw
        .http
        .post(format!("{}/topics/{t}", gw.url))
        .header("Content-Type", JSON)
        .header("Content-Encoding", "gzip")
        .body(encoder.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let stored = read_all(&gw.bootstrap, &t, 1, 1).await;
    assert_eq!(stored[0].value.as_deref(), Some(&br#"{"zipped":true}"#[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients_each_get_their_own_offsets() {
    let t = topic("many");
    let partitions = 3;
    let gw = TestGateway::start(embedded_config(&[&t], partitions as u32)).await;
    let clients = 32;
    let per_client = 20;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = gw.http.clone();
        let url = format!("{}/topics/{t}", gw.url);
        tasks.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            for i in 0..per_client {
                let value = format!("client-{c}-record-{i}");
                let body = json!({"records": [{"value": b64(value.as_bytes())}]}).to_string();
                let response = http
                    .post(&url)
                    .header("Content-Type", BINARY)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let answer: Value = response.json().await.unwrap();
                let entry = &answer["offsets"][0];
                answered.push((
                    entry["partition"].as_i64().unwrap(),
                    entry["offset"].as_i64().unwrap(),
                    value,
                ));
            }
            answered
        }));
    }
    let mut answered = Vec::new();
    for task in tasks {
        answered.extend(task.await.unwrap());
    }
    let total = clients * per_client;
    let positions: HashSet<(i64, i64)> = answered.iter().map(|(p, o, _)| (*p, *o)).collect();
    assert_eq!(positions.len(), total, "two records were given one offset");

    let stored = read_all(&gw.bootstrap, &t, partitions, total).await;
    assert_eq!(stored.len(), total, "records lost or duplicated");
    for (partition, offset, value) in &answered {
        assert_eq!(
            at(&stored, *partition, *offset).value.as_deref(),
            Some(value.as_bytes())
        );
    }
}
