//! Back-pressure, readiness and shutdown against a broker the test owns
//! (librdkafka's mock cluster, with injected latency and outages), so the
//! records can be read back after the gateway has stopped.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use kafka_gateway::config::Config;
use rdkafka::mocking::MockCluster;
use serde_json::{json, Value};

fn external_config(bootstrap: &str) -> Config {
    let mut config = embedded_config(&[], 1);
    config.kafka.bootstrap_servers = bootstrap.to_string();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_byte_budget_answers_429_with_retry_after() {
    let cluster = MockCluster::new(1).unwrap();
    let t = topic("budget");
    cluster.create_topic(&t, 1, 1).unwrap();
    cluster
        .broker_round_trip_time(1, Duration::from_millis(700))
        .unwrap();
    let mut config = external_config(&cluster.bootstrap_servers());
    config.http.max_request_bytes = 3000;
    // One 1.9 kB record costs about 4 kB of budget: room for one.
    config.pipeline.max_in_flight_bytes = 6000;
    config.pipeline.retry_after_seconds = 2;
    let gw = TestGateway::start(config).await;
    let body = json!({"records": [{"value": "x".repeat(1900)}]}).to_string();
    // Warm the metadata cache so the slow broker only delays the produce.
    gw.get(&format!("/topics/{t}")).await;

    let first = gw
        .post(&format!("/topics/{t}?async=true"), JSON, body.clone())
        .await;
    assert_eq!(first.status, 202, "{}", first.text);
    let second = gw.post(&format!("/topics/{t}"), JSON, body.clone()).await;
    second.assert_error(429, 42901);
    assert_eq!(second.headers.get("retry-after").unwrap(), "2");

    // Once the first record is acknowledged the budget is back.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = gw.post(&format!("/topics/{t}"), JSON, body.clone()).await;
        if reply.status == 200 {
            break;
        }
        reply.assert_error(429, 42901);
        assert!(Instant::now() < deadline, "budget never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = read_all(&cluster.bootstrap_servers(), &t, 1, 2).await;
    assert_eq!(stored.len(), 2, "exactly the accepted records are stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_broker() {
    let cluster = MockCluster::new(1).unwrap();
    let t = topic("ready");
    cluster.create_topic(&t, 1, 1).unwrap();
    let mut config = external_config(&cluster.bootstrap_servers());
    config.kafka.metadata_timeout_ms = 500;
    config.kafka.delivery_timeout_ms = 2000;
    let gw = TestGateway::start(config).await;
    assert_eq!(gw.get("/readyz").await.status, 200);

    cluster.broker_down(1).unwrap();
    let started = Instant::now();
    gw.get("/readyz").await.assert_error(503, 50302);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        gw.get("/healthz").await.status,
        200,
        "alive while Kafka is not"
    );
    // A record produced while the broker is down fails on its own, in time.
    let reply = gw
        .post(
            &format!("/topics/{t}"),
            JSON,
            r#"{"records":[{"value":1}]}"#,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json()["offsets"][0]["error_code"],
        50003,
        "{}",
        reply.text
    );

    cluster.broker_up(1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while gw.get("/readyz").await.status != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_answers_503_not_a_hang() {
    let mut config = external_config("127.0.0.1:1");
    config.kafka.metadata_timeout_ms = 500;
    let gw = TestGateway::start(config).await;
    let started = Instant::now();
    gw.get("/readyz").await.assert_error(503, 50302);
    gw.post("/topics/anything", JSON, r#"{"records":[{"value":1}]}"#)
        .await
        .assert_error(503, 50302);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_loses_nothing_that_was_acknowledged_or_accepted() {
    let cluster = MockCluster::new(1).unwrap();
    let t = topic("shutdown");
    cluster.create_topic(&t, 2, 1).unwrap();
    cluster
        .broker_round_trip_time(1, Duration::from_millis(30))
        .unwrap();
    let gw = TestGateway::start(external_config(&cluster.bootstrap_servers())).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..16 {
        let http = gw.http.clone();
        let url = format!("{}/topics/{t}", gw.url);
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            // (value, Some((partition, offset))) when acknowledged, None when
            // accepted with ?async=true.
            let mut accepted = Vec::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let value = format!("{c}-{i}");
                let is_async = i % 3 == 0;
                let target = if is_async {
                    format!("{url}?async=true")
                } else {
                    url.clone()
                };
                let body = json!({"records": [{"value": value}]}).to_string();
                let Ok(response) = http
                    .post(&target)
                    .header("Content-Type", JSON)
                    .body(body)
                    .send()
                    .await
                else {
                    break; // the listener is closed
                };
                match response.status().as_u16() {
                    200 => {
                        let answer: Value = response.json().await.unwrap();
                        let entry = &answer["offsets"][0];
                        accepted.push((
                            value,
                            Some((
                                entry["partition"].as_i64().unwrap(),
                                entry["offset"].as_i64().unwrap(),
                            )),
                        ));
                    }
                    202 => accepted.push((value, None)),
                    _ => {}
                }
                i += 1;
            }
            accepted
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let stopping = tokio::spawn(gw.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    stopping.await.unwrap().expect("clean shutdown");
    let mut accepted = Vec::new();
    for client in clients {
        accepted.extend(client.await.unwrap());
    }
    assert!(
        accepted.len() > 20,
        "too little traffic to mean anything: {}",
        accepted.len()
    );

    let stored = read_all(&cluster.bootstrap_servers(), &t, 2, accepted.len()).await;
    assert_eq!(
        stored.len(),
        accepted.len(),
        "stored records differ from accepted ones"
    );
    for (value, position) in &accepted {
        let json_value = format!("\"{value}\"");
        match position {
            Some((p, o)) => assert_eq!(
                at(&stored, *p, *o).value.as_deref(),
                Some(json_value.as_bytes())
            ),
            None => assert!(
                stored
                    .iter()
                    .any(|s| s.value.as_deref() == Some(json_value.as_bytes())),
                "async {value} lost"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_answered_as_failed_is_never_written_later() {
    let cluster = MockCluster::new(1).unwrap();
    let t = topic("late");
    cluster.create_topic(&t, 1, 1).unwrap();
    let mut config = external_config(&cluster.bootstrap_servers());
    config.kafka.delivery_timeout_ms = 1000;
    // A one-record librdkafka queue: later records wait in the gateway's.
    config.kafka.queue_max_records = 1;
    let gw = TestGateway::start(config).await;
    gw.get(&format!("/topics/{t}")).await;
    cluster.broker_down(1).unwrap();

    let started = Instant::now();
    let mut requests = Vec::new();
    for i in 0..5 {
        let (http, url) = (gw.http.clone(), format!("{}/topics/{t}", gw.url));
        requests.push(tokio::spawn(async move {
            let body = json!({"records": [{"value": i}, {"value": i}]}).to_string();
            let r = http
                .post(url)
                .header("Content-Type", JSON)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }));
    }
    for request in requests {
        let (status, answer) = request.await.unwrap();
        assert_eq!(status, 200, "{answer}");
        for entry in answer["offsets"].as_array().unwrap() {
            assert_eq!(entry["error_code"], 50003, "{answer}");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    cluster.broker_up(1).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let end = loop {
        let reply = gw.get(&format!("/topics/{t}/partitions/0/offsets")).await;
        if reply.status == 200 {
            break reply.json();
        }
        assert!(
            Instant::now() < deadline,
            "broker never came back: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(end["end_offset"], 0, "a failed record was written: {end}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_when_the_broker_is_down() {
    let cluster = MockCluster::new(1).unwrap();
    let t = topic("down");
    cluster.create_topic(&t, 1, 1).unwrap();
    let mut config = external_config(&cluster.bootstrap_servers());
    config.kafka.queue_max_records = 1;
    config.shutdown.flush_timeout_ms = 1000;
    let gw = TestGateway::start(config).await;
    gw.get(&format!("/topics/{t}")).await;
    cluster.broker_down(1).unwrap();
    for i in 0..20 {
        let reply = gw
            .post(
                &format!("/topics/{t}?async=true"),
                JSON,
                json!({"records": [{"value": i}]}).to_string(),
            )
            .await;
        assert_eq!(reply.status, 202);
    }
    let started = Instant::now();
    gw.stop().await.expect("clean shutdown");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_shutdown_readiness_fails_first_while_requests_are_still_served() {
    let cluster = MockCluster::new(1).unwrap();
    let t = topic("drain");
    cluster.create_topic(&t, 1, 1).unwrap();
    let mut config = external_config(&cluster.bootstrap_servers());
    config.http.shutdown_grace_ms = 1500;
    let gw = TestGateway::start(config).await;
    assert_eq!(gw.get("/readyz").await.status, 200);
    let (http, url) = (gw.http.clone(), gw.url.clone());
    let signalled = Instant::now();
    let stopping = tokio::spawn(gw.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Draining: balancers are told to go, clients are still served, and
    // each answer closes its connection so the next one goes elsewhere.
    let ready = http.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "draining");
    let produced = http
        .post(format!("{url}/topics/{t}"))
        .header("Content-Type", JSON)
        .body(json!({"records": [{"value": "during the grace"}]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(produced.status(), 200);
    assert_eq!(produced.headers().get("connection").unwrap(), "close");
    stopping.await.unwrap().expect("clean shutdown");
    assert!(signalled.elapsed() >= Duration::from_millis(1500));
    // After the grace nothing is accepted any more.
    assert!(http.get(format!("{url}/healthz")).send().await.is_err());
    let stored = read_all(&cluster.bootstrap_servers(), &t, 1, 1).await;
    assert_eq!(stored.len(), 1);
}
