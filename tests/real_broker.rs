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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker: run tests/run.sh"]
async fn v3_topic_administration_and_streaming_against_a_real_broker() {
    let gw = TestGateway::start(config()).await;
    let clusters = gw.get("/v3/clusters").await.json();
    let cluster = clusters["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    let base = format!("/v3/clusters/{cluster}");
    let t = topic("v3-admin");

    // Create, with a config; the topic is usable at once.
    let reply = gw
        .post(
            &format!("{base}/topics"),
            "application/json",
            json!({"topic_name": t, "partitions_count": 2, "replication_factor": 1,
                   "configs": [{"name": "cleanup.policy", "value": "compact"}]})
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(reply.json()["partitions_count"], 2);
    gw.post(
        &format!("{base}/topics"),
        "application/json",
        json!({"topic_name": t, "partitions_count": 1}).to_string(),
    )
    .await
    .assert_error(400, 40002);
    let described = gw.get(&format!("{base}/topics/{t}")).await.json();
    assert_eq!(described["topic_name"], t.as_str());
    assert_eq!(described["partitions_count"], 2);
    let partitions = gw
        .get(&format!("{base}/topics/{t}/partitions"))
        .await
        .json();
    assert_eq!(partitions["data"].as_array().unwrap().len(), 2);
    let configs = gw.get(&format!("{base}/topics/{t}/configs")).await.json();
    let policy = configs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cleanup.policy")
        .expect("cleanup.policy is described");
    assert_eq!(policy["value"], "compact");
    // v2 metadata carries the configs too.
    let v2 = gw.get(&format!("/topics/{t}")).await.json();
    assert_eq!(v2["configs"]["cleanup.policy"], "compact");
    let listed = gw.get(&format!("{base}/topics")).await.json();
    assert!(listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["topic_name"] == t.as_str()));

    // Produce through v3 (a stream of two records in one body), read back.
    let body = [
        json!({"partition_id": 1, "key": {"type": "STRING", "data": "k"},
               "value": {"type": "JSON", "data": {"n": 1}},
               "headers": [{"name": "h", "value": b64(b"v")}]}),
        json!({"partition_id": 1, "value": {"type": "JSON", "data": {"n": 2}}}),
    ]
    .map(|r| r.to_string())
    .join("\n");
    let reply = gw
        .post(
            &format!("{base}/topics/{t}/records"),
            "application/json",
            body,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let answers: Vec<Value> = reply
        .text
        .split("\r\n")
        .map(|a| serde_json::from_str(a).unwrap())
        .collect();
    assert_eq!(answers.len(), 2, "{}", reply.text);
    assert_eq!(answers[0]["offset"], 0);
    assert_eq!(answers[1]["offset"], 1);
    assert!(answers[0]["timestamp"].as_str().unwrap().starts_with("20"));
    let stored = read_all(&bootstrap(), &t, 2, 2).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].key.as_deref(), Some(&b"k"[..]));
    assert_eq!(stored[0].headers, [("h".to_string(), Some(b"v".to_vec()))]);

    // Delete.
    let response = gw
        .http
        .delete(format!("{}{base}/topics/{t}", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    gw.get(&format!("{base}/topics/{t}"))
        .await
        .assert_error(404, 40401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker: run tests/run.sh"]
async fn an_http_consumer_reads_and_commits_against_a_real_broker() {
    let bootstrap = bootstrap();
    let t = topic("consume");
    create_topic(&bootstrap, &t, 2).await;
    let gw = TestGateway::start(config()).await;
    let records: Vec<Value> = (0..6).map(|i| json!({"value": {"n": i}})).collect();
    let reply = gw
        .post(
            &format!("/topics/{t}"),
            JSON,
            json!({"records": records}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let group = format!("g-{t}");
    let created = gw
        .post(
            &format!("/consumers/{group}"),
            V2,
            json!({"name": "c", "format": "json", "auto.offset.reset": "earliest",
                   "auto.commit.enable": "false"})
            .to_string(),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let base = format!("/consumers/{group}/instances/c");
    let subscribed = gw
        .post(
            &format!("{base}/subscription"),
            V2,
            json!({"topics": [t]}).to_string(),
        )
        .await;
    assert_eq!(subscribed.status, 204, "{}", subscribed.text);
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let got = gw
            .http
            .get(format!("{}{base}/records", gw.url))
            .header("Accept", "application/vnd.kafka.json.v2+json")
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        for record in got.as_array().unwrap() {
            seen.insert(record["value"]["n"].as_i64().unwrap());
        }
        if seen.len() == 6 {
            break;
        }
    }
    assert_eq!(seen, (0..6).collect::<HashSet<i64>>());
    let committed = gw.post(&format!("{base}/offsets"), V2, "").await;
    assert_eq!(committed.status, 204, "{}", committed.text);
    let offsets: Value = gw
        .http
        .get(format!("{}{base}/offsets", gw.url))
        .header("Content-Type", V2)
        .body(
            json!({"partitions": [{"topic": t, "partition": 0}, {"topic": t, "partition": 1}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let total: i64 = offsets["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["offset"].as_i64().unwrap().max(0))
        .sum();
    assert_eq!(total, 6, "every record read is committed: {offsets}");
    gw.stop().await.unwrap();
}
