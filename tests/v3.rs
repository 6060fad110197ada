//! v3 produce, single and streamed, against the real server; every record
//! is read back from the broker.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

async fn cluster_id(gw: &TestGateway) -> String {
    let clusters = gw.get("/v3/clusters").await.json();
    assert_eq!(clusters["kind"], "KafkaClusterList");
    clusters["data"][0]["cluster_id"]
        .as_str()
        .expect("a cluster id")
        .to_string()
}

async fn post_json(gw: &TestGateway, path: &str, body: &str) -> Reply {
    gw.post(path, "application/json", body.to_string()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_record_is_answered_with_its_offset_as_in_the_seed() {
    let t = topic("v3");
    let gw = TestGateway::start(embedded_config(&[&t], 2)).await;
    let cluster = cluster_id(&gw).await;
    let cluster_self = gw.get(&format!("/v3/clusters/{cluster}")).await.json();
    assert_eq!(cluster_self["cluster_id"], cluster);
    assert!(cluster_self["metadata"]["self"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/v3/clusters/{cluster}")));

    // The seed's request: a STRING key and a client-framed BINARY value, at
    // Confluent Cloud's /kafka/v3 path; with a header, a partition and a
    // timestamp besides.
    let framed = b"\x00\x00\x00\x00\x01avro";
    let body = json!({
        "partition_id": 1,
        "headers": [{"name": "trace", "value": b64(b"t-1")}, {"name": "empty", "value": null}],
        "key": {"type": "STRING", "data": "k1"},
        "value": {"type": "BINARY", "data": b64(framed)},
        "timestamp": "2026-11-22T05:00:00.250Z",
    });
    let reply = post_json(
        &gw,
        &format!("/kafka/v3/clusters/{cluster}/topics/{t}/records"),
        &body.to_string(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.content_type(), "application/json");
    let answer = reply.json();
    assert_eq!(answer["error_code"], 200);
    assert_eq!(answer["cluster_id"], cluster);
    assert_eq!(answer["topic_name"], t);
    assert_eq!(answer["partition_id"], 1);
    assert_eq!(answer["timestamp"], "2026-11-22T05:00:00.250Z");
    assert_eq!(answer["key"], json!({"type": "STRING", "size": 2}));
    assert_eq!(
        answer["value"],
        json!({"type": "BINARY", "size": framed.len()})
    );
    let offset = answer["offset"].as_i64().unwrap();

    let stored = read_all(&gw.bootstrap, &t, 2, 1).await;
    assert_eq!(stored.len(), 1);
    let record = at(&stored, 1, offset);
    assert_eq!(record.key.as_deref(), Some(&b"k1"[..]));
    assert_eq!(record.value.as_deref(), Some(&framed[..]));
    assert_eq!(
        record.headers,
        [
            ("trace".to_string(), Some(b"t-1".to_vec())),
            ("empty".to_string(), None)
        ]
    );
    assert_eq!(record.timestamp, Some(1_795_323_600_250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_single_record_gets_its_status_and_writes_nothing() {
    let t = topic("v3-bad");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let cluster = cluster_id(&gw).await;
    let path = format!("/v3/clusters/{cluster}/topics/{t}/records");
    let cases = [
        (r#"{"value": {"type": "BINARY", "data": "***"}}"#, 400, 400),
        (r#"{"value": {"type": "WHAT", "data": 1}}"#, 422, 422),
        (r#"{"partition_id": 5, "value": {"data": 1}}"#, 404, 40402),
        (
            r#"{"value": {"data": 1}, "timestamp": "yesterday"}"#,
            422,
            422,
        ),
        (
            r#"{"value": {"type": "JSON", "data": 1, "schema_id": 1}}"#,
            422,
            422,
        ),
        ("", 422, 422),
        (r#"{"value": {"type": "JSON", "data": 1}} ]"#, 200, 0),
    ];
    for (body, status, code) in cases {
        let reply = post_json(&gw, &path, body).await;
        if status == 200 {
            // A record then junk: a stream, whose second entry is the error.
            assert_eq!(reply.status, 200, "{body}: {}", reply.text);
            let lines: Vec<&str> = reply.text.split("\r\n").collect();
            assert_eq!(lines.len(), 2, "{}", reply.text);
            let last: Value = serde_json::from_str(lines[1]).unwrap();
            assert_eq!(last["error_code"], 400, "{}", reply.text);
            continue;
        }
        reply.assert_error(status, code);
    }
    let reply = post_json(
        &gw,
        &format!("/v3/clusters/other/topics/{t}/records"),
        r#"{"value": {"data": 1}}"#,
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.text);
    let reply = post_json(
        &gw,
        &format!("/v3/clusters/{cluster}/topics/missing-topic/records"),
        r#"{"value": {"data": 1}}"#,
    )
    .await;
    reply.assert_error(404, 40401);
    gw.post(&path, "text/plain", "{}")
        .await
        .assert_error(415, 415);

    // Only the one good record of the stream case was written.
    let stored = read_all(&gw.bootstrap, &t, 1, 1).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].value.as_deref(), Some(&b"1"[..]));
}

/// An HTTP/1.1 connection that sends a chunked body piece by piece and
/// reads the chunked answer as it comes.
struct Streaming {
    reader: BufReader<tokio::io::ReadHalf<TcpStream>>,
    writer: tokio::io::WriteHalf<TcpStream>,
    pending: String,
}

impl Streaming {
    async fn open(gw: &TestGateway, path: &str) -> Streaming {
        let addr = gw.url.trim_start_matches("http://");
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read, mut writer) = tokio::io::split(stream);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        writer.write_all(head.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(read);
        // The answer starts at once, before the body is sent.
        let mut status = String::new();
        tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut status))
            .await
            .expect("the status line comes before the body ends")
            .unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
        }
        Streaming {
            reader,
            writer,
            pending: String::new(),
        }
    }

    async fn send(&mut self, data: &str) {
        let chunk = format!("{:x}\r\n{data}\r\n", data.len());
        self.writer.write_all(chunk.as_bytes()).await.unwrap();
        self.writer.flush().await.unwrap();
    }

    async fn finish(&mut self) {
        self.writer.write_all(b"0\r\n\r\n").await.unwrap();
    }

    /// The next answer object, waiting for it up to 10 s.
    async fn next_answer(&mut self) -> Option<Value> {
        loop {
            let text = self.pending.trim_start_matches("\r\n");
            if !text.is_empty() {
                let mut objects = serde_json::Deserializer::from_str(text).into_iter::<Value>();
                if let Some(Ok(value)) = objects.next() {
                    let used = objects.byte_offset();
                    self.pending = text[used..].to_string();
                    return Some(value);
                }
            }
            let mut size = String::new();
            tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut size))
                .await
                .expect("an answer within 10 s")
                .unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            if size == 0 {
                return None;
            }
            let mut data = vec![0; size + 2];
            self.reader.read_exact(&mut data).await.unwrap();
            self.pending
                .push_str(std::str::from_utf8(&data[..size]).unwrap());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_answered_record_by_record_in_order() {
    let t = topic("v3-stream");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let cluster = cluster_id(&gw).await;
    let mut stream =
        Streaming::open(&gw, &format!("/v3/clusters/{cluster}/topics/{t}/records")).await;

    // Each record's answer arrives while the body is still open; a record
    // split across chunks is put together.
    stream
        .send(r#"{"value": {"type": "JSON", "data": {"n": 1}}}"#)
        .await;
    let first = stream.next_answer().await.unwrap();
    // No timestamp given: the time it was sent, not the embedded broker's
    // fixed log-append time (1970).
    let at = first["timestamp"].as_str().unwrap();
    assert!(!at.starts_with("1970"), "{at}");
    assert_eq!(
        (first["error_code"].clone(), first["offset"].clone()),
        (json!(200), json!(0))
    );
    stream
        .send(r#"{"value": {"type": "BINARY", "data": "not base64!"}}  {"value": {"ty"#)
        .await;
    let bad = stream.next_answer().await.unwrap();
    assert_eq!(bad["error_code"], 400, "a bad record gets an error entry");
    stream.send(r#"pe": "JSON", "data": {"n": 2}}}"#).await;
    let second = stream.next_answer().await.unwrap();
    assert_eq!(second["offset"], 1, "and the stream goes on");
    // Many at once keep their order.
    let many: String = (3..=50)
        .map(|n| json!({"value": {"type": "JSON", "data": {"n": n}}}).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    stream.send(&many).await;
    for offset in 2..=49 {
        let answer = stream.next_answer().await.unwrap();
        assert_eq!(answer["offset"], offset, "{answer}");
    }
    // Malformed JSON ends the stream after its error entry.
    stream
        .send(r#"{"value": {"type": "JSON", "data": nope}} {"value": {"data": 99}}"#)
        .await;
    let malformed = stream.next_answer().await.unwrap();
    assert_eq!(malformed["error_code"], 400);
    assert!(malformed["message"]
        .as_str()
        .unwrap()
        .contains("malformed JSON"));
    stream.finish().await;
    assert_eq!(stream.next_answer().await, None, "nothing after it");

    let stored = read_all(&gw.bootstrap, &t, 1, 50).await;
    assert_eq!(stored.len(), 50);
    let values: Vec<Value> = stored
        .iter()
        .map(|s| serde_json::from_slice(s.value.as_ref().unwrap()).unwrap())
        .collect();
    assert_eq!(values[0], json!({"n": 1}));
    assert_eq!(values[49], json!({"n": 50}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_records_by_id_version_text_or_latest() {
    const USER: &str =
        r#"{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]}"#;
    let t = topic("v3-avro");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let cluster = cluster_id(&gw).await;
    let path = format!("/v3/clusters/{cluster}/topics/{t}/records");
    let produce = |value: Value| {
        let body = json!({"value": value}).to_string();
        let path = path.clone();
        let gw = &gw;
        async move { post_json(gw, &path, &body).await }
    };

    // With the schema text: registered under <topic>-value.
    let reply = produce(json!({"type": "AVRO", "schema": USER, "data": {"name": "a"}})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let value = reply.json()["value"].clone();
    assert_eq!(value["type"], "AVRO");
    assert_eq!(value["subject"], format!("{t}-value"));
    assert_eq!(value["schema_version"], 1);
    let id = value["schema_id"].as_u64().unwrap();
    // By id, by version, and with no schema field at all (the latest).
    for spec in [
        json!({"type": "AVRO", "schema_id": id, "data": {"name": "b"}}),
        json!({"schema_version": 1, "data": {"name": "c"}}),
        json!({"data": {"name": "d"}}),
    ] {
        let reply = produce(spec.clone()).await;
        assert_eq!(reply.status, 200, "{spec}: {}", reply.text);
        assert_eq!(reply.json()["value"]["schema_id"], id, "{spec}");
        assert_eq!(reply.json()["value"]["type"], "AVRO", "{spec}");
    }
    // Data that does not fit: 42206, naming the field.
    let reply = produce(json!({"data": {"name": 5}})).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(reply.json()["error_code"], 42206);
    assert!(reply.text.contains("name"), "{}", reply.text);
    let reply = produce(json!({"type": "AVRO", "subject": "nobody", "data": {}})).await;
    assert_eq!(reply.json()["error_code"], 42207, "{}", reply.text);

    let stored = read_all(&gw.bootstrap, &t, 1, 4).await;
    assert_eq!(stored.len(), 4);
    for (record, name) in stored.iter().zip(["a", "b", "c", "d"]) {
        let bytes = record.value.as_ref().unwrap();
        assert_eq!(&bytes[..5], &[0, 0, 0, 0, id as u8]);
        assert_eq!(&bytes[5..], [&[2u8][..], name.as_bytes()].concat());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_answers_successes_and_failures_by_id() {
    let t = topic("v3-batch");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let cluster = cluster_id(&gw).await;
    let path = format!("/v3/clusters/{cluster}/topics/{t}/records:batch");
    let body = json!({"entries": [
        {"id": "a", "value": {"type": "JSON", "data": {"n": 1}}},
        {"id": "b", "value": {"type": "BINARY", "data": "***"}},
        {"id": "c", "key": {"type": "STRING", "data": "k"}, "value": {"type": "JSON", "data": {"n": 3}}},
    ]});
    let reply = post_json(&gw, &path, &body.to_string()).await;
    assert_eq!(reply.status, 207, "{}", reply.text);
    let answer = reply.json();
    let successes = answer["successes"].as_array().unwrap();
    assert_eq!(successes.len(), 2);
    assert_eq!(successes[0]["id"], "a");
    assert_eq!(successes[1]["id"], "c");
    assert_eq!(successes[1]["key"], json!({"type": "STRING", "size": 1}));
    assert_eq!(
        answer["failures"],
        json!([{"id": "b", "error_code": 400,
        "message": answer["failures"][0]["message"]}])
    );
    let offsets: Vec<i64> = successes
        .iter()
        .map(|s| s["offset"].as_i64().unwrap())
        .collect();
    let stored = read_all(&gw.bootstrap, &t, 1, 2).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(at(&stored, 0, offsets[1]).key.as_deref(), Some(&b"k"[..]));

    // An id used twice, or missing: 42208, nothing written.
    for bad in [
        json!({"entries": [{"id": "x", "value": {"data": 1}}, {"id": "x", "value": {"data": 2}}]}),
        json!({"entries": [{"value": {"data": 1}}]}),
        json!({"entries": []}),
    ] {
        post_json(&gw, &path, &bad.to_string())
            .await
            .assert_error(422, 42208);
    }
    assert_eq!(read_all(&gw.bootstrap, &t, 1, 2).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_partitions_and_brokers_are_described() {
    let t = topic("v3-meta");
    let gw = TestGateway::start(embedded_config(&[&t], 3)).await;
    let cluster = cluster_id(&gw).await;
    let base = format!("/v3/clusters/{cluster}");
    let listed = gw.get(&format!("{base}/topics")).await.json();
    assert_eq!(listed["kind"], "KafkaTopicList");
    let found = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["topic_name"] == t.as_str())
        .expect("the topic is listed")
        .clone();
    assert_eq!(found["partitions_count"], 3);
    assert_eq!(gw.get(&format!("/kafka{base}/topics/{t}")).await.json(), {
        // The same resource under /kafka/v3, with its own links.
        let mut again = found.clone();
        for link in ["configs", "partitions", "partition_reassignments"] {
            let old = again[link]["related"].as_str().unwrap().to_string();
            again[link]["related"] = json!(old.replace("/v3/", "/kafka/v3/"));
        }
        let own = again["metadata"]["self"]
            .as_str()
            .unwrap()
            .replace("/v3/", "/kafka/v3/");
        again["metadata"]["self"] = json!(own);
        again
    });
    let partition = gw
        .get(&format!("{base}/topics/{t}/partitions/2"))
        .await
        .json();
    assert_eq!(partition["partition_id"], 2);
    gw.get(&format!("{base}/topics/{t}/partitions/3"))
        .await
        .assert_error(404, 40402);
    gw.get(&format!("{base}/topics/nope-{t}"))
        .await
        .assert_error(404, 40401);
    let brokers = gw.get(&format!("{base}/brokers")).await.json();
    assert!(!brokers["data"].as_array().unwrap().is_empty());
    gw.get("/v3/clusters/elsewhere/topics")
        .await
        .assert_error(404, 404);
}

/// The adaptive lanes (pipeline::adaptive): a stream that goes from one
/// record at a time (sent at once) to bursts (lingered) and back keeps its
/// records in order across every switch of producer, in the answers and
/// in the partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_keeps_its_order_across_lane_switches() {
    let t = topic("v3-adaptive");
    let mut config = embedded_config(&[&t], 1);
    config.kafka.linger_above_in_flight = 8;
    let gw = TestGateway::start(config).await;
    let cluster = cluster_id(&gw).await;
    let switches = |metrics: String| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("gateway_pipeline_lane_switches_total "))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    };
    let before = switches(gw.get("/metrics").await.text);
    let mut stream =
        Streaming::open(&gw, &format!("/v3/clusters/{cluster}/topics/{t}/records")).await;
    let record = |n: usize| json!({"value": {"type": "JSON", "data": {"n": n}}}).to_string();
    let mut n = 0;
    let mut offsets = Vec::new();
    for _round in 0..3 {
        // Alone: one at a time.
        for _ in 0..3 {
            stream.send(&record(n)).await;
            n += 1;
            offsets.push(stream.next_answer().await.unwrap()["offset"].clone());
        }
        // A burst, well over the threshold.
        let burst: Vec<String> = (n..n + 200).map(record).collect();
        n += 200;
        stream.send(&burst.join("\n")).await;
        for _ in 0..200 {
            offsets.push(stream.next_answer().await.unwrap()["offset"].clone());
        }
        // Quiet, so the lane may go back to sending at once.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stream.finish().await;
    let expected: Vec<Value> = (0..n).map(|i| json!(i)).collect();
    assert_eq!(offsets, expected, "answers in order, offsets in order");
    let stored = read_all(&gw.bootstrap, &t, 1, n).await;
    let values: Vec<Value> = stored
        .iter()
        .map(|s| serde_json::from_slice(s.value.as_ref().unwrap()).unwrap())
        .collect();
    let written: Vec<Value> = (0..n).map(|i| json!({"n": i})).collect();
    assert_eq!(values, written, "the partition holds them in order, once");
    let after = switches(gw.get("/metrics").await.text);
    assert!(
        after - before >= 4.0,
        "the lane switched up and down: {before} -> {after}"
    );
}
