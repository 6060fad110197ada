//! v2 HTTP consumers against the real server and the embedded broker: the
//! seed's flows as written, formats, assignments, positions, offsets.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const V2_CT: &str = "application/vnd.kafka.v2+json";

async fn send(
    gw: &TestGateway,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut request = gw.http.request(method, format!("{}{path}", gw.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.header("Content-Type", V2_CT).body(body.to_string());
    }
    let response = request.send().await.unwrap();
    Reply {
        path: path.to_string(),
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

async fn records(gw: &TestGateway, base: &str, format: &str) -> Reply {
    let accept = format!("application/vnd.kafka.{format}.v2+json");
    send(
        gw,
        reqwest::Method::GET,
        &format!("{base}/records"),
        &[("Accept", &accept)],
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_json_flow_works_as_written() {
    let t = topic("jsontest");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let reply = gw
        .post(
            &format!("/topics/{t}"),
            JSON,
            json!({"records": [{"value": {"foo": "bar"}}]}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let created = send(
        &gw,
        reqwest::Method::POST,
        "/consumers/my_json_consumer",
        &[],
        Some(json!({"name": "my_consumer_instance", "format": "json", "auto.offset.reset": "earliest"})),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let created = created.json();
    assert_eq!(created["instance_id"], "my_consumer_instance");
    let base_uri = created["base_uri"].as_str().unwrap();
    assert_eq!(
        base_uri,
        format!(
            "{}/consumers/my_json_consumer/instances/my_consumer_instance",
            gw.url
        )
    );
    let base = "/consumers/my_json_consumer/instances/my_consumer_instance";
    let subscribed = send(
        &gw,
        reqwest::Method::POST,
        &format!("{base}/subscription"),
        &[],
        Some(json!({"topics": [t]})),
    )
    .await;
    assert_eq!(subscribed.status, 204, "{}", subscribed.text);
    let subscription = send(
        &gw,
        reqwest::Method::GET,
        &format!("{base}/subscription"),
        &[],
        None,
    )
    .await;
    assert_eq!(subscription.json(), json!({"topics": [t]}));

    // One read returns the record (the first read waits for the group).
    let got = records(&gw, base, "json").await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.content_type(), "application/vnd.kafka.json.v2+json");
    let got = got.json();
    assert_eq!(got.as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got[0]["key"], Value::Null);
    assert_eq!(got[0]["value"], json!({"foo": "bar"}));
    assert_eq!(
        (got[0]["partition"].clone(), got[0]["offset"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(got[0]["topic"], t.as_str());

    // Another format in Accept: 406 / 40601.
    records(&gw, base, "binary").await.assert_error(406, 40601);

    // Commit what was read; the group's offset is then 1.
    let committed = send(
        &gw,
        reqwest::Method::POST,
        &format!("{base}/offsets"),
        &[],
        None,
    )
    .await;
    assert_eq!(committed.status, 204, "{}", committed.text);
    let offsets = send(
        &gw,
        reqwest::Method::GET,
        &format!("{base}/offsets"),
        &[],
        Some(json!({"partitions": [{"topic": t, "partition": 0}]})),
    )
    .await
    .json();
    assert_eq!(offsets["offsets"][0]["offset"], 1, "{offsets}");

    let deleted = send(&gw, reqwest::Method::DELETE, base, &[], None).await;
    assert_eq!(deleted.status, 204);
    records(&gw, base, "json").await.assert_error(404, 40403);
    gw.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_and_binary_records_decode_and_positions_move() {
    let t = topic("avrotest");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let schema = r#"{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}, {"name": "nick", "type": ["null", "string"], "default": null}]}"#;
    let reply = gw
        .post(
            &format!("/topics/{t}"),
            "application/vnd.kafka.avro.v2+json",
            json!({"key_schema": r#"{"name":"user_id"  ,"type": "int"   }"#, "value_schema": schema,
                   "records": [{"key": 1, "value": {"name": "testUser", "nick": {"string": "t"}}},
                               {"key": 2, "value": {"name": "other"}}]})
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // Avro, by assignment rather than subscription.
    send(
        &gw,
        reqwest::Method::POST,
        "/consumers/g",
        &[],
        Some(json!({"name": "a", "format": "avro"})),
    )
    .await;
    let base = "/consumers/g/instances/a";
    records(&gw, base, "avro").await.assert_error(409, 40903);
    let assigned = send(
        &gw,
        reqwest::Method::POST,
        &format!("{base}/assignments"),
        &[],
        Some(json!({"partitions": [{"topic": t, "partition": 0}]})),
    )
    .await;
    assert_eq!(assigned.status, 204, "{}", assigned.text);
    let assignments = send(
        &gw,
        reqwest::Method::GET,
        &format!("{base}/assignments"),
        &[],
        None,
    )
    .await;
    assert_eq!(
        assignments.json(),
        json!({"partitions": [{"topic": t, "partition": 0}]})
    );
    let moved = send(
        &gw,
        reqwest::Method::POST,
        &format!("{base}/positions/beginning"),
        &[],
        Some(json!({"partitions": [{"topic": t, "partition": 0}]})),
    )
    .await;
    assert_eq!(moved.status, 204, "{}", moved.text);
    let mut got = Vec::new();
    for _ in 0..10 {
        got.extend(
            records(&gw, base, "avro")
                .await
                .json()
                .as_array()
                .unwrap()
                .clone(),
        );
        if got.len() >= 2 {
            break;
        }
    }
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["key"], 1);
    assert_eq!(
        got[0]["value"],
        json!({"name": "testUser", "nick": {"string": "t"}})
    );
    assert_eq!(got[1]["value"], json!({"name": "other", "nick": null}));

    // Back to offset 1, then commit it explicitly: the group resumes after.
    let seek = send(
        &gw,
        reqwest::Method::POST,
        &format!("{base}/positions"),
        &[],
        Some(json!({"offsets": [{"topic": t, "partition": 0, "offset": 1}]})),
    )
    .await;
    assert_eq!(seek.status, 204, "{}", seek.text);
    let again = records(&gw, base, "avro").await.json();
    assert_eq!(again[0]["offset"], 1, "{again}");
    let commit = send(
        &gw,
        reqwest::Method::POST,
        &format!("{base}/offsets"),
        &[],
        Some(json!({"offsets": [{"topic": t, "partition": 0, "offset": 0}]})),
    )
    .await;
    assert_eq!(commit.status, 204, "{}", commit.text);
    let offsets = send(
        &gw,
        reqwest::Method::GET,
        &format!("{base}/offsets"),
        &[],
        Some(json!({"partitions": [{"topic": t, "partition": 0}]})),
    )
    .await
    .json();
    assert_eq!(offsets["offsets"][0]["offset"], 1, "{offsets}");

    // Binary: the raw framed bytes, base64.
    send(
        &gw,
        reqwest::Method::POST,
        "/consumers/g2",
        &[],
        Some(json!({"name": "b", "format": "binary", "auto.offset.reset": "earliest"})),
    )
    .await;
    send(
        &gw,
        reqwest::Method::POST,
        "/consumers/g2/instances/b/subscription",
        &[],
        Some(json!({"topics": [t]})),
    )
    .await;
    let got = records(&gw, "/consumers/g2/instances/b", "binary")
        .await
        .json();
    let raw = got[0]["value"].as_str().unwrap();
    let bytes = base64_simd::STANDARD.decode_to_vec(raw).unwrap();
    assert_eq!(bytes[0], 0, "framed Avro, as stored");
    // Stopping closes the instances while the broker is up.
    gw.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_errors_and_expiry() {
    let mut config = embedded_config(&[], 1);
    config.consumers.instance_timeout_ms = 500;
    let gw = TestGateway::start(config).await;
    let create = |body: Value| send(&gw, reqwest::Method::POST, "/consumers/g", &[], Some(body));
    assert_eq!(
        create(json!({"name": "x", "format": "json"})).await.status,
        200
    );
    create(json!({"name": "x", "format": "json"}))
        .await
        .assert_error(409, 40902);
    create(json!({"name": "y", "format": "xml"}))
        .await
        .assert_error(422, 42204);
    create(json!({"name": "z", "auto.offset.reset": "sometimes"}))
        .await
        .assert_error(422, 42204);
    // A generated name when none is given.
    let anonymous = create(json!({"format": "binary"})).await.json();
    assert!(anonymous["instance_id"]
        .as_str()
        .unwrap()
        .starts_with("rest-consumer-"));
    // Unused instances are closed after consumers.instance_timeout_ms.
    tokio::time::sleep(Duration::from_secs(6)).await;
    send(
        &gw,
        reqwest::Method::GET,
        "/consumers/g/instances/x/subscription",
        &[],
        None,
    )
    .await
    .assert_error(404, 40403);
}

/// Confluent's v2 answers for the long tail: subscription conflicts (409 /
/// 40903), `records?timeout=` honoured up to the cap, commits of the last
/// record processed (N+1 committed, with metadata) read back by a new
/// instance of the group, trailing slashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_timeouts_and_commits_answer_as_confluent() {
    let t = topic("conform");
    let mut config = embedded_config(&[&t], 1);
    config.consumers.max_request_timeout_ms = 3_000;
    let gw = TestGateway::start(config).await;
    let post = |path: String, body: Value| {
        let gw = &gw;
        async move { send(gw, reqwest::Method::POST, &path, &[], Some(body)).await }
    };
    let group = topic("g");
    let base = format!("/consumers/{group}/instances/a");
    let created = post(
        format!("/consumers/{group}/"),
        json!({"name": "a", "format": "json", "auto.offset.reset": "earliest", "auto.commit.enable": "false"}),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);

    // topics and topic_pattern together, and assign after subscribe: 409.
    post(
        format!("{base}/subscription"),
        json!({"topics": [t], "topic_pattern": "c.*"}),
    )
    .await
    .assert_error(409, 40903);
    let r = post(format!("{base}/subscription/"), json!({"topics": [t]})).await;
    assert_eq!(r.status, 204, "{}", r.text);
    post(
        format!("{base}/assignments"),
        json!({"partitions": [{"topic": t, "partition": 0}]}),
    )
    .await
    .assert_error(409, 40903);

    // timeout=2000 on an empty topic waits two seconds, not the default one;
    // a larger one is cut to the cap (3 s here).
    let read = |timeout: u64| {
        let gw = &gw;
        let path = format!("{base}/records?timeout={timeout}");
        async move {
            let start = std::time::Instant::now();
            let r = send(
                gw,
                reqwest::Method::GET,
                &path,
                &[("Accept", "application/vnd.kafka.json.v2+json")],
                None,
            )
            .await;
            (r, start.elapsed())
        }
    };
    // The first read waits for the group's assignment; afterwards reads
    // take only their timeout.
    read(100).await;
    let (r, took) = read(2_000).await;
    assert_eq!((r.status, r.json()), (200, json!([])));
    assert!(
        took >= Duration::from_millis(1_900) && took < Duration::from_millis(2_900),
        "{took:?}"
    );
    let (_, took) = read(60_000).await;
    assert!(
        took >= Duration::from_millis(2_900) && took < Duration::from_millis(4_500),
        "{took:?}"
    );

    // Five records; commit offset 2 (the last processed), with metadata.
    let batch: Vec<Value> = (0..5).map(|i| json!({"value": {"n": i}})).collect();
    let r = gw
        .post(
            &format!("/topics/{t}"),
            JSON,
            json!({"records": batch}).to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut got = Vec::new();
    for _ in 0..20 {
        let (r, _) = read(500).await;
        got.extend(r.json().as_array().unwrap().clone());
        if got.len() == 5 {
            break;
        }
    }
    assert_eq!(got.len(), 5, "{got:?}");
    let r = post(
        format!("{base}/offsets"),
        json!({"offsets": [{"topic": t, "partition": 0, "offset": 2, "metadata": "ck-2"}]}),
    )
    .await;
    assert!(r.status == 200 || r.status == 204, "{}", r.text);
    let committed = send(
        &gw,
        reqwest::Method::GET,
        &format!("{base}/offsets"),
        &[],
        Some(json!({"partitions": [{"topic": t, "partition": 0}]})),
    )
    .await;
    assert_eq!(
        committed.json(),
        json!({"offsets": [{"topic": t, "partition": 0, "offset": 3, "metadata": "ck-2"}]}),
        "Confluent answers the committed position: the offset given plus one"
    );
    let r = send(&gw, reqwest::Method::DELETE, &base, &[], None).await;
    assert_eq!(r.status, 204, "{}", r.text);

    // A new instance of the group resumes after the committed record (by
    // assignment: no wait for the group to rebalance).
    post(
        format!("/consumers/{group}"),
        json!({"name": "b", "format": "json"}),
    )
    .await;
    let base = format!("/consumers/{group}/instances/b");
    post(
        format!("{base}/assignments"),
        json!({"partitions": [{"topic": t, "partition": 0}]}),
    )
    .await;
    let mut resumed = Vec::new();
    for _ in 0..20 {
        let r = records(&gw, &base, "json").await;
        resumed.extend(r.json().as_array().unwrap().clone());
        if resumed.len() >= 2 {
            break;
        }
    }
    let offsets: Vec<i64> = resumed
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [3, 4]);
    // And subscribe after assign is refused the same way.
    post(
        format!("/consumers/{group}"),
        json!({"name": "c", "format": "json"}),
    )
    .await;
    let base = format!("/consumers/{group}/instances/c");
    let r = post(
        format!("{base}/assignments"),
        json!({"partitions": [{"topic": t, "partition": 0}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    post(format!("{base}/subscription"), json!({"topics": [t]}))
        .await
        .assert_error(409, 40903);
}

/// Records of two topics in one answer each name their own topic (the
/// answer escapes a topic's name once and writes it again until the topic
/// changes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_two_topics_names_each_records_own() {
    let (a, b) = (topic("two-a"), topic("two-b"));
    let gw = TestGateway::start(embedded_config(&[&a, &b], 1)).await;
    for t in [&a, &b] {
        let records: Vec<Value> = (0..20)
            .map(|i| json!({"value": {"from": t, "i": i}}))
            .collect();
        let reply = gw
            .post(
                &format!("/topics/{t}"),
                JSON,
                json!({ "records": records }).to_string(),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
    let created = send(
        &gw,
        reqwest::Method::POST,
        "/consumers/two-topics",
        &[],
        Some(json!({"name": "c", "format": "json", "auto.offset.reset": "earliest"})),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let base = "/consumers/two-topics/instances/c";
    let assigned = send(
        &gw,
        reqwest::Method::POST,
        &format!("{base}/assignments"),
        &[],
        Some(json!({"partitions": [{"topic": a, "partition": 0}, {"topic": b, "partition": 0}]})),
    )
    .await;
    assert_eq!(assigned.status, 204, "{}", assigned.text);
    // Both partitions fetched ahead before the first read, so that it
    // finds records of both.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (mut seen, mut mixed) = (0, 0);
    for _ in 0..20 {
        if seen == 40 {
            break;
        }
        let got = records(&gw, base, "json").await;
        assert_eq!(got.status, 200, "{}", got.text);
        let got = got.json();
        let got = got.as_array().unwrap();
        for r in got {
            assert_eq!(r["topic"], r["value"]["from"], "{r}");
        }
        let topics: std::collections::HashSet<_> = got.iter().map(|r| r["topic"].clone()).collect();
        mixed += usize::from(topics.len() == 2);
        seen += got.len();
    }
    assert_eq!(seen, 40);
    assert!(mixed > 0, "no answer held records of both topics");
}
