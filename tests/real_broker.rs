//! End to end against a real Kafka-compatible broker (tansu), started by
//! `tests/run.sh`, which sets KAFKA_GATEWAY_TEST_BOOTSTRAP. Ignored in a
//! plain `cargo test` because it needs that broker.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use kafka_gateway::config::Config;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::{json, Value};

fn bootstrap() -> String {
    std::env::var("KAFKA_GATEWAY_TEST_BOOTSTRAP")
        .expect("KAFKA_GATEWAY_TEST_BOOTSTRAP names the real broker; run tests/run.sh")
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    for result in results {
        result.unwrap_or_else(|(topic, e)| panic!("create {topic}: {e}"));
    }
}

fn config() -> Config {
    let mut config = embedded_config(&[], 1);
    config.kafka.bootstrap_servers = bootstrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker: run tests/run.sh"]
async fn produce_to_a_real_broker_and_read_back() {
    let bootstrap = bootstrap();
    let t = topic("e2e");
    create_topic(&bootstrap, &t, 3).await;
    let gw = TestGateway::start(config()).await;
    assert_eq!(gw.get("/readyz").await.status, 200);

    let json_body = json!({"records": [
        {"key": "user-1", "value": {"name": "John", "email": "john@gmail.com"}},
        {"value": {"name": "Mary", "email": "mary@email.com"}, "partition": 1}
    ]});
    let reply = gw
        .post(&format!("/topics/{t}"), JSON, json_body.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let json_offsets = reply.json()["offsets"].clone();

    let reply = gw
        .post(
            &format!("/topics/{t}/partitions/2"),
            BINARY,
            json!({"records": [{"key": b64(b"k"), "value": b64(&[0, 159, 146, 150, 255])}]})
                .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let binary_offset = reply.json()["offsets"][0].clone();
    assert_eq!(binary_offset["partition"], 2);

    let stored = read_all(&bootstrap, &t, 3, 3).await;
    assert_eq!(stored.len(), 3, "{stored:?}");
    for (record, entry) in json_body["records"]
        .as_array()
        .unwrap()
        .iter()
        .zip(json_offsets.as_array().unwrap())
    {
        let s = at(
            &stored,
            entry["partition"].as_i64().unwrap(),
            entry["offset"].as_i64().unwrap(),
        );
        let value: Value = serde_json::from_slice(s.value.as_ref().unwrap()).unwrap();
        assert_eq!(value, record["value"]);
    }
    let s = at(&stored, 2, binary_offset["offset"].as_i64().unwrap());
    assert_eq!(s.key.as_deref(), Some(&b"k"[..]));
    assert_eq!(s.value.as_deref(), Some(&[0u8, 159, 146, 150, 255][..]));

    // The broker does not create topics: unknown is 40401, at once.
    gw.post(
        &format!("/topics/{}", topic("absent")),
        JSON,
        r#"{"records":[{"value":1}]}"#,
    )
    .await
    .assert_error(404, 40401);
    gw.post(
        &format!("/topics/{t}/partitions/3"),
        JSON,
        r#"{"records":[{"value":1}]}"#,
    )
    .await
    .assert_error(404, 40402);

    let topics = gw.get("/topics").await.json();
    assert!(topics.as_array().unwrap().contains(&json!(t)), "{topics}");
    let partitions = gw.get(&format!("/topics/{t}/partitions")).await.json();
    assert_eq!(partitions.as_array().unwrap().len(), 3);
    gw.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker: run tests/run.sh"]
async fn concurrent_clients_against_a_real_broker() {
    let bootstrap = bootstrap();
    let t = topic("e2e-many");
    create_topic(&bootstrap, &t, 2).await;
    let gw = TestGateway::start(config()).await;
    let mut tasks = Vec::new();
    for c in 0..24 {
        let http = gw.http.clone();
        let url = format!("{}/topics/{t}", gw.url);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for i in 0..10 {
                let value = format!("{c}/{i}");
                let body = json!({"records": [{"value": value}, {"value": value}]}).to_string();
                let r = http
                    .post(&url)
                    .header("Content-Type", JSON)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                let answer: Value = r.json().await.unwrap();
                for entry in answer["offsets"].as_array().unwrap() {
                    assert_eq!(entry["error_code"], Value::Null, "{answer}");
                    out.push((
                        entry["partition"].as_i64().unwrap(),
                        entry["offset"].as_i64().unwrap(),
                        value.clone(),
                    ));
                }
            }
            out
        }));
    }
    let mut answered = Vec::new();
    for task in tasks {
        answered.extend(task.await.unwrap());
    }
    let unique: HashSet<(i64, i64)> = answered.iter().map(|(p, o, _)| (*p, *o)).collect();
    assert_eq!(unique.len(), answered.len());
    let stored = read_all(&bootstrap, &t, 2, answered.len()).await;
    assert_eq!(stored.len(), answered.len());
    for (p, o, value) in &answered {
        assert_eq!(
            at(&stored, *p, *o).value.as_deref(),
            Some(format!("\"{value}\"").as_bytes())
        );
    }
    gw.stop().await.unwrap();
}
