//! Subject name strategies: TOPIC_NAME, RECORD_NAME and TOPIC_RECORD_NAME
//! per v3 record (`subject_name_strategy`) and as the configured default
//! for v2 (`schema_registry.subject_name_strategy`). Each record is read
//! back from the broker, framed with the id of the subject's schema.

mod common;

use common::*;
use kafka_gateway::schemas::naming::SubjectNameStrategy;
use serde_json::{json, Value};

const ORDER: &str = r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [{"name": "n", "type": "int"}]}"#;
const ITEM: &str = "syntax = \"proto3\"; package shop; message Item { int32 id = 1; }";

async fn cluster_id(gw: &TestGateway) -> String {
    gw.get("/v3/clusters").await.json()["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The id of `subject`'s latest version, through the registry API.
async fn latest_id(gw: &TestGateway, subject: &str) -> u64 {
    let reply = gw
        .get(&format!("/subjects/{subject}/versions/latest"))
        .await;
    assert_eq!(reply.status, 200, "{subject}: {}", reply.text);
    reply.json()["id"].as_u64().unwrap()
}

fn framed_with(bytes: &[u8], id: u64) -> bool {
    bytes.len() > 5
        && bytes[0] == 0
        && u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as u64 == id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v3_records_choose_their_subject_name_strategy() {
    let t = topic("names");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let path = format!("/v3/clusters/{}/topics/{t}/records", cluster_id(&gw).await);
    let produce = |value: Value| {
        let body = json!({"value": value}).to_string();
        let (gw, path) = (&gw, path.clone());
        async move { gw.post(&path, "application/json", body).await }
    };

    // RECORD_NAME with the schema text: registered under the record's name.
    let reply = produce(json!({"type": "AVRO", "subject_name_strategy": "RECORD_NAME", "schema": ORDER, "data": {"n": 1}})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["value"]["subject"], "shop.Order");
    let id = latest_id(&gw, "shop.Order").await;
    assert_eq!(reply.json()["value"]["schema_id"], id);

    // TOPIC_RECORD_NAME with the schema id: the subject is derived from
    // the schema the id names (and registering the text lands there).
    let reply = produce(json!({"type": "AVRO", "subject_name_strategy": "TOPIC_RECORD_NAME", "schema_id": id, "data": {"n": 2}})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["value"]["subject"], format!("{t}-shop.Order"));
    let reply = produce(json!({"type": "AVRO", "subject_name_strategy": "TOPIC_RECORD_NAME", "schema": ORDER, "data": {"n": 3}})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(latest_id(&gw, &format!("{t}-shop.Order")).await, id);

    // TOPIC_NAME is <topic>-value, as without a strategy.
    let reply = produce(json!({"type": "AVRO", "subject_name_strategy": "TOPIC_NAME", "schema": ORDER, "data": {"n": 4}})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["value"]["subject"], format!("{t}-value"));

    // A strategy that needs the record's name with no schema to take it
    // from, an unknown strategy, and a strategy next to a subject: 422.
    for bad in [
        json!({"subject_name_strategy": "RECORD_NAME", "data": {"n": 5}}),
        json!({"subject_name_strategy": "RECORD_NAME", "schema_version": 1, "data": {"n": 5}}),
        json!({"type": "AVRO", "subject_name_strategy": "SIDEWAYS", "schema": ORDER, "data": {"n": 5}}),
        json!({"type": "AVRO", "subject_name_strategy": "RECORD_NAME", "subject": "s", "schema": ORDER, "data": {"n": 5}}),
    ] {
        let reply = produce(bad.clone()).await;
        assert_eq!(reply.status, 422, "{bad}: {}", reply.text);
    }

    let stored = read_all(&gw.bootstrap, &t, 1, 4).await;
    assert_eq!(stored.len(), 4, "only the four good records were written");
    for record in &stored {
        assert!(framed_with(record.value.as_ref().unwrap(), id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_uses_the_configured_strategy() {
    let t = topic("names-v2");
    let mut config = embedded_config(&[&t], 1);
    config.schema_registry.subject_name_strategy = SubjectNameStrategy::RecordName;
    let gw = TestGateway::start(config).await;
    let body = json!({"value_schema": ITEM, "records": [{"value": {"id": 7}}]}).to_string();
    let reply = gw
        .post(
            &format!("/topics/{t}"),
            "application/vnd.kafka.protobuf.v2+json",
            body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let id = reply.json()["value_schema_id"].as_u64().unwrap();
    assert_eq!(latest_id(&gw, "shop.Item").await, id);
    let subjects = gw.get("/subjects").await.json();
    assert_eq!(subjects, json!(["shop.Item"]), "nothing under {t}-value");

    // TOPIC_RECORD_NAME, Avro keys and values.
    let t2 = topic("names-v2b");
    let mut config = embedded_config(&[&t2], 1);
    config.schema_registry.subject_name_strategy = SubjectNameStrategy::TopicRecordName;
    let gw2 = TestGateway::start(config).await;
    let body = json!({"key_schema": ORDER, "value_schema": ORDER, "records": [{"key": {"n": 1}, "value": {"n": 2}}]}).to_string();
    let reply = gw2
        .post(
            &format!("/topics/{t2}"),
            "application/vnd.kafka.avro.v2+json",
            body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let id = latest_id(&gw2, &format!("{t2}-shop.Order")).await;
    let stored = read_all(&gw2.bootstrap, &t2, 1, 1).await;
    assert_eq!(stored.len(), 1);
    assert!(framed_with(stored[0].key.as_ref().unwrap(), id));
    assert!(framed_with(stored[0].value.as_ref().unwrap(), id));
    // A JSON Schema without a title has no record name: 422, not a guess.
    let untitled = json!({"type": "object"}).to_string();
    let body = json!({"value_schema": untitled, "records": [{"value": {}}]}).to_string();
    let reply = gw2
        .post(
            &format!("/topics/{t2}"),
            "application/vnd.kafka.jsonschema.v2+json",
            body,
        )
        .await;
    assert_eq!(reply.status, 422, "{}", reply.text);
}
