//! The OTLP exporter as configured (`[tracing]` and the OTEL_* variables),
//! against a collector in this process that speaks OTLP/HTTP with JSON,
//! and then against no collector at all. Its own test binary: the exporter
//! is process-wide and reads its variables once.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One OTLP export as received: request head and body.
type Exports = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP collector: answers every POST with `{}` (an empty
/// ExportTraceServiceResponse) and keeps what it was sent.
async fn collector(listener: TcpListener, exports: Exports, alive: Arc<AtomicBool>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let exports = Arc::clone(&exports);
        let alive = Arc::clone(&alive);
        tokio::spawn(async move {
            let mut buffer = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let Ok(n) = socket.read(&mut chunk).await else {
                    return;
                };
                if n == 0 {
                    return;
                }
                buffer.extend_from_slice(&chunk[..n]);
                let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&buffer[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if buffer.len() < end + 4 + length {
                    continue;
                }
                if !alive.load(Ordering::Relaxed) {
                    // Gone: the connection closes unanswered.
                    return;
                }
                let body = buffer[end + 4..end + 4 + length].to_vec();
                buffer.drain(..end + 4 + length);
                exports.lock().unwrap().push((head, body));
                let answer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
                if socket.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn counter(gw: &TestGateway, name: &str) -> f64 {
    let text = gw.get("/metrics").await.text;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_an_otlp_collector_and_a_dead_one_costs_only_a_counter() {
    // The standard variables, read by the SDK and the exporter at start.
    // SAFETY: set before any other thread of this test binary reads the
    // environment (the gateway is not started yet).
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "100");
        std::env::set_var("OTEL_SERVICE_NAME", "gateway-under-test");
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let exports: Exports = Arc::default();
    let alive = Arc::new(AtomicBool::new(true));
    let server = tokio::spawn(collector(
        listener,
        Arc::clone(&exports),
        Arc::clone(&alive),
    ));

    let t = topic("otlp");
    let mut config = embedded_config(&[&t], 1);
    config.tracing.enabled = true;
    config.tracing.endpoint = format!("http://127.0.0.1:{port}");
    let gw = TestGateway::start(config).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let reply = gw
        .http
        .post(format!("{}/topics/{t}", gw.url))
        .header("Content-Type", JSON)
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .body(r#"{"records":[{"value":1}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);

    let deadline = Instant::now() + Duration::from_secs(15);
    let body = loop {
        let found = exports.lock().unwrap().iter().find_map(|(head, body)| {
            let text = String::from_utf8_lossy(body).to_string();
            text.contains("POST /topics/{topic}")
                .then(|| (head.clone(), text))
        });
        if let Some((head, text)) = found {
            assert!(head.starts_with("POST /v1/traces "), "{head}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/json"),
                "{head}"
            );
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "no export with the request's span"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let export: serde_json::Value = serde_json::from_str(&body).unwrap();
    let resource = &export["resourceSpans"][0]["resource"]["attributes"];
    assert!(
        resource.to_string().contains("gateway-under-test"),
        "OTEL_SERVICE_NAME: {resource}"
    );
    assert!(body.contains(trace), "the caller's trace id: {body}");
    assert_eq!(
        counter(&gw, "gateway_tracing_export_failures_total").await,
        0.0
    );

    // The collector goes away: requests are served as before, and failed
    // exports are counted.
    alive.store(false, Ordering::Relaxed);
    server.abort();
    let _ = server.await;
    let mut served = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    while counter(&gw, "gateway_tracing_export_failures_total").await == 0.0 {
        assert!(Instant::now() < deadline, "no export failure counted");
        for _ in 0..20 {
            let reply = gw
                .post(
                    &format!("/topics/{t}"),
                    JSON,
                    r#"{"records":[{"value":2}]}"#,
                )
                .await;
            assert_eq!(reply.status, 200);
            served += 1;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(served >= 20);
    gw.stop().await.unwrap();
}
