//! `/metrics` after real traffic. Its own test binary (own process), so the
//! process-wide counters hold this test's traffic only.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_requests_records_batches_and_errors() {
    let t = topic("metrics");
    // Always linger: 64 clients are below the in-flight count from which
    // adaptive lanes linger (tests/v3.rs covers those).
    let mut config = embedded_config(&[&t], 2);
    config.kafka.linger_above_in_flight = 0;
    let gw = TestGateway::start(config).await;
    let clients = 64;
    let per_client = 25;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = gw.http.clone();
        let url = format!("{}/topics/{t}", gw.url);
        tasks.push(tokio::spawn(async move {
            for i in 0..per_client {
                let body = json!({"records": [{"value": {"c": c, "i": i}}]}).to_string();
                let r = http
                    .post(&url)
                    .header("Content-Type", JSON)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    gw.post("/topics/nope", JSON, r#"{"records":[{"value":1}]}"#)
        .await
        .assert_error(404, 40401);
    gw.post(&format!("/topics/{t}"), JSON, "{")
        .await
        .assert_error(400, 400);
    gw.get("/no/such/route").await.assert_error(404, 404);

    let records = (clients * per_client) as f64;
    // librdkafka reports batches in its statistics, once a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    let m = loop {
        let reply = gw.get("/metrics").await;
        assert_eq!(reply.status, 200);
        assert!(reply.content_type().starts_with("text/plain"));
        let m = parse(&reply.text);
        if m.get("gateway_kafka_batch_records_total") == Some(&records) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "batch statistics never covered every record: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(m["gateway_produce_records_total"], records);
    // Labelled by route template, never by the path a client sent.
    assert_eq!(
        m["gateway_http_requests_total{route=\"/topics/{topic}\",status=\"2xx\"}"],
        records
    );
    assert_eq!(
        m["gateway_http_requests_total{route=\"/topics/{topic}\",status=\"4xx\"}"],
        2.0
    );
    assert!(
        !m.keys().any(|k| k.contains(&format!("/topics/{t}"))),
        "a topic name in a label"
    );
    // Unknown paths count as unmatched.
    assert!(m.contains_key("gateway_http_requests_total{route=\"unmatched\",status=\"4xx\"}"));
    assert_eq!(m["gateway_errors_total{code=\"40401\"}"], 1.0);
    assert_eq!(m["gateway_errors_total{code=\"400\"}"], 1.0);
    assert_eq!(m["gateway_kafka_delivery_duration_seconds_count"], records);
    assert_eq!(m["gateway_produce_request_records_count"], records);
    assert!(m.contains_key(
        "gateway_http_request_duration_seconds_bucket{route=\"/topics/{topic}\",status=\"2xx\",le=\"0.004\"}"
    ));
    assert_eq!(
        m["gateway_pipeline_in_flight_bytes"], 0.0,
        "budget returned"
    );
    assert_eq!(m["gateway_pipeline_queue_depth_requests"], 0.0);
    // Server-side batching: concurrent single-record requests share batches.
    let per_batch = m["gateway_kafka_batch_records_total"] / m["gateway_kafka_batches_total"];
    assert!(per_batch > 2.0, "records per Kafka batch: {per_batch}");

    // What the dashboard's bounds and broker panels read.
    assert_eq!(m["gateway_pipeline_queue_capacity_requests"], 8192.0);
    assert_eq!(
        m["gateway_pipeline_in_flight_limit_bytes"],
        64.0 * 1024.0 * 1024.0
    );
    assert_eq!(
        m["gateway_http_buffered_limit_bytes"],
        320.0 * 1024.0 * 1024.0
    );
    assert!(m["gateway_kafka_brokers_up"] >= 1.0, "{m:?}");
    let p99 = m["gateway_kafka_batch_size_records{sink=\"linger\",quantile=\"0.99\"}"];
    assert!(p99 >= 1.0, "records per batch, p99: {p99}");
    assert!(m["gateway_kafka_batch_size_bytes{sink=\"linger\",quantile=\"0.5\"}"] > 0.0);

    // A consumer: its instance, its reads, and what it has not read yet.
    let base = gw.json_consumer("metrics-group", &t).await;
    let read = |max_bytes: usize| {
        let (gw, base) = (&gw, &base);
        async move { gw.read_json(base, &format!("?max_bytes={max_bytes}")).await }
    };
    let scrape = || async { parse(&gw.get("/metrics").await.text) };
    let mut read_so_far = read(64).await;
    let m = scrape().await;
    assert_eq!(m["gateway_consumer_instances"], 1.0);
    assert!(m["gateway_consumer_read_duration_seconds_count"] >= 1.0);
    let lag = m["gateway_consumer_lag_records"];
    assert!(
        lag > 0.0 && lag <= records - read_so_far as f64,
        "lag {lag} after reading {read_so_far} of {records}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while (read_so_far as f64) < records {
        assert!(Instant::now() < deadline, "read {read_so_far} of {records}");
        read_so_far += read(1 << 20).await;
    }
    read(1 << 20).await;
    assert_eq!(scrape().await["gateway_consumer_lag_records"], 0.0);
    let deleted = gw
        .http
        .delete(format!("{}{}", gw.url, base))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(scrape().await["gateway_consumer_instances"], 0.0);
}
