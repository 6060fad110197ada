//! Bad input answers the Confluent error envelope with the right status and
//! code, and a rejected request writes nothing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_requests_answer_their_error_and_write_nothing() {
    let t = topic("errors");
    let mut config = embedded_config(&[&t], 2);
    config.http.max_request_bytes = 4096;
    config.pipeline.max_in_flight_bytes = 1 << 20;
    let gw = TestGateway::start(config).await;
    let path = format!("/topics/{t}");

    let message = gw
        .post(&path, JSON, r#"{"records":[{"value":{"a":1}},"#)
        .await
        .assert_error(400, 400);
    assert!(message.contains("malformed JSON at byte"), "{message}");

    let message = gw
        .post(
            &path,
            BINARY,
            r#"{"records":[{"value":"aGk="},{"value":"not base64!"}]}"#,
        )
        .await
        .assert_error(400, 400);
    assert!(message.starts_with("records[1].value"), "{message}");

    let message = gw
        .post(&path, BINARY, r#"{"records":[{"key":12,"value":"aGk="}]}"#)
        .await
        .assert_error(400, 400);
    assert!(message.starts_with("records[0].key"), "{message}");

    gw.post(&path, JSON, r#"{"records":[]}"#)
        .await
        .assert_error(422, 422);
    gw.post(&path, JSON, r#"{"value":1}"#)
        .await
        .assert_error(422, 422);
    gw.post(&path, JSON, r#"{"records":[{"value":1,"partition":"x"}]}"#)
        .await
        .assert_error(422, 422);

    gw.post(&path, "text/plain", r#"{"records":[{"value":1}]}"#)
        .await
        .assert_error(415, 415);
    gw.post(
        &path,
        "application/vnd.kafka.xml.v2+json",
        r#"{"records":[{"value":1}]}"#,
    )
    .await
    .assert_error(415, 415);

    let big = json!({"records": [{"value": "x".repeat(5000)}]}).to_string();
    gw.post(&path, JSON, big).await.assert_error(413, 413);

    gw.post(
        &format!("/topics/{t}/partitions/2"),
        JSON,
        r#"{"records":[{"value":1}]}"#,
    )
    .await
    .assert_error(404, 40402);
    gw.post(
        &format!("/topics/{t}/partitions/x"),
        JSON,
        r#"{"records":[{"value":1}]}"#,
    )
    .await
    .assert_error(404, 40402);
    // One bad partition refuses the whole request, the good record included.
    gw.post(
        &path,
        JSON,
        r#"{"records":[{"value":1,"partition":0},{"value":2,"partition":9}]}"#,
    )
    .await
    .assert_error(404, 40402);

    // Nothing of the above reached Kafka.
    for p in 0..2 {
        let offsets = gw
            .get(&format!("/topics/{t}/partitions/{p}/offsets"))
            .await
            .json();
        assert_eq!(offsets["end_offset"], 0, "partition {p}: {offsets}");
    }
    let reply = gw
        .post(&path, JSON, r#"{"records":[{"value":"ok"}]}"#)
        .await;
    assert_eq!(reply.status, 200);
    let stored = read_all(&gw.bootstrap, &t, 2, 1).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].value.as_deref(), Some(&br#""ok""#[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topics_answer_40401_within_a_second() {
    let gw = TestGateway::start(embedded_config(&["known"], 1)).await;
    for name in [topic("missing"), "bad name!".to_string()] {
        let started = Instant::now();
        let message = gw
            .post(
                &format!("/topics/{}", name.replace(' ', "%20")),
                JSON,
                r#"{"records":[{"value":1}]}"#,
            )
            .await
            .assert_error(404, 40401);
        assert!(message.contains("not found"), "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    gw.get(&format!("/topics/{}", topic("missing")))
        .await
        .assert_error(404, 40401);
    // And the topic was not created by asking (`_schemas` is the embedded
    // registry's, listed as Confluent lists it).
    let topics = gw.get("/topics").await.json();
    assert_eq!(topics, json!(["_schemas", "known"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_too_large_for_kafka_fails_alone_with_50002() {
    let t = topic("large");
    let mut config = embedded_config(&[&t], 1);
    config.kafka.message_max_bytes = 10_000;
    let gw = TestGateway::start(config).await;
    let body = json!({"records": [
        {"value": "small"},
        {"value": "x".repeat(20_000)},
        {"value": "small too"}
    ]});
    let reply = gw
        .post(&format!("/topics/{t}"), JSON, body.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let offsets = reply.json()["offsets"].clone();
    assert_eq!(offsets[0]["error_code"], serde_json::Value::Null);
    assert_eq!(offsets[1]["error_code"], 50002, "{offsets}");
    assert_eq!(offsets[1]["offset"], serde_json::Value::Null);
    assert!(
        offsets[1]["error"].as_str().unwrap().contains("too large"),
        "{offsets}"
    );
    assert_eq!(offsets[2]["error_code"], serde_json::Value::Null);
    let stored = read_all(&gw.bootstrap, &t, 1, 2).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_json_errors() {
    let gw = TestGateway::start(embedded_config(&["t"], 1)).await;
    gw.get("/nope").await.assert_error(404, 404);
    let r = gw
        .http
        .delete(format!("{}/topics/t", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], 405);
    gw.post("/brokers", JSON, "{}").await.assert_error(405, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_needing_more_than_the_whole_budget_answers_413() {
    let t = topic("many-records");
    let mut config = embedded_config(&[&t], 1);
    config.http.max_request_bytes = 1 << 20;
    config.pipeline.max_in_flight_bytes = 2 << 20;
    let gw = TestGateway::start(config).await;
    // 60,000 tiny records: a small body, but far more bookkeeping than the
    // 2 MiB budget holds.
    let records = vec![json!({"value": 1}); 60_000];
    let message = gw
        .post(
            &format!("/topics/{t}"),
            JSON,
            json!({"records": records}).to_string(),
        )
        .await
        .assert_error(413, 413);
    assert!(message.contains("split the request"), "{message}");
}
