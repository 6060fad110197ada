//! Hostile but legal clients, against the real server: typos refused
//! instead of written, encodings and `Accept`s negotiated, bodies that
//! stall answered 408 and their connections closed, bodies too large for
//! the memory budget refused before they are read, and a panicking handler
//! answered 500 by a worker that keeps serving.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Sends `head` and `body` on a fresh connection and reads until the
/// server closes it or `wait` passes; returns what came back.
fn raw(url: &str, head: &str, body: &[u8], wait: Duration) -> (String, bool) {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typos_and_unknown_fields_are_refused_not_written() {
    let t = topic("strict");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let path = format!("/topics/{t}");
    let message = gw
        .post(&path, JSON, r#"{"records":[{"valur":{"foo":"bar"}}]}"#)
        .await
        .assert_error(422, 422);
    assert!(message.contains("records[0].valur"), "{message}");
    let message = gw
        .post(
            &path,
            JSON,
            r#"{"records":[{"value":1}],"value_schema_idd":3}"#,
        )
        .await
        .assert_error(422, 422);
    assert!(message.contains("value_schema_idd"), "{message}");
    assert!(read_all(&gw.bootstrap, &t, 1, 0).await.is_empty());

    // Consumer bodies too.
    let group = topic("g");
    let message = gw
        .post(
            &format!("/consumers/{group}"),
            V2,
            r#"{"name":"c1","formatt":"json"}"#,
        )
        .await
        .assert_error(422, 422);
    assert!(message.contains("formatt"), "{message}");
    let created = gw
        .post(
            &format!("/consumers/{group}"),
            V2,
            r#"{"name":"c1","format":"json"}"#,
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let instance = format!("/consumers/{group}/instances/c1");
    for (sub, body) in [
        ("subscription", json!({"topics": [t], "topic": "x"})),
        (
            "assignments",
            json!({"partitions": [{"topic": t, "partition": 0, "p": 1}]}),
        ),
        (
            "positions",
            json!({"offsets": [{"topic": t, "partition": 0, "offset": 0, "o": 1}]}),
        ),
        ("offsets", json!({"offsets": [], "extra": true})),
    ] {
        let message = gw
            .post(&format!("{instance}/{sub}"), V2, body.to_string())
            .await
            .assert_error(422, 422);
        assert!(message.contains("unknown field"), "{sub}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encodings_and_accept_are_negotiated() {
    let t = topic("negotiate");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let url = format!("{}/topics/{t}", gw.url);
    let body = r#"{"records":[{"value":{"a":1}}]}"#;
    let send =
        |encoding: Option<&str>, accept: Option<&str>, content_type: Option<&str>, body: &str| {
            let mut r = gw.http.post(&url).body(body.to_string());
            if let Some(e) = encoding {
                r = r.header("Content-Encoding", e);
            }
            if let Some(a) = accept {
                r = r.header("Accept", a);
            }
            if let Some(c) = content_type {
                r = r.header("Content-Type", c);
            }
            r.send()
        };
    let br = send(Some("br"), None, Some(JSON), body).await.unwrap();
    assert_eq!(br.status(), 415);
    assert_eq!(
        br.json::<serde_json::Value>().await.unwrap()["error_code"],
        415
    );
    let html = send(None, Some("text/html"), Some(JSON), body)
        .await
        .unwrap();
    assert_eq!(html.status(), 406);
    assert_eq!(
        html.json::<serde_json::Value>().await.unwrap()["error_code"],
        406
    );
    let refused = send(
        None,
        Some("application/json;q=0, text/html"),
        Some(JSON),
        body,
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 406);
    for accept in [
        None,
        Some("*/*"),
        Some("application/*;q=0.5, text/html"),
        Some(JSON),
    ] {
        let r = send(None, accept, Some(JSON), body).await.unwrap();
        assert_eq!(r.status(), 200, "{accept:?}");
    }
    // No Content-Type: Confluent's default, base64 binary.
    let r = send(None, None, None, r#"{"records":[{"value":"aGk="}]}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let stored = read_all(&gw.bootstrap, &t, 1, 5).await;
    assert_eq!(stored.len(), 5);
    assert_eq!(stored[4].value.as_deref(), Some(b"hi".as_slice()));
    // v3 answers application/json only.
    let v3 = gw
        .http
        .get(format!("{}/v3/clusters", gw.url))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(v3.status(), 406);
    assert_eq!(v3.headers()["content-type"], "application/json");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_answer_408_and_close_and_large_ones_are_refused_unread() {
    let t = topic("stall");
    let mut config = embedded_config(&[&t], 1);
    config.http.body_timeout_ms = 500;
    config.http.max_request_bytes = 1 << 20;
    config.pipeline.max_in_flight_bytes = 2 << 20;
    config.http.max_buffered_bytes = 1 << 20;
    config.http.buffered_wait_ms = 200;
    let gw = TestGateway::start(config).await;
    let url = gw.url.clone();
    let head = |length: usize| {
        format!("POST /topics/{t} HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON}\r\nContent-Length: {length}\r\n\r\n")
    };

    // Half a body, then silence: 408 within the deadline, then closed.
    let started = Instant::now();
    let (answer, closed) = tokio::task::spawn_blocking({
        let (url, head) = (url.clone(), head(100));
        move || raw(&url, &head, br#"{"records":[{"val"#, Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error_code":408"#), "{answer}");
    assert!(closed, "the connection stays open after a 408");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // A Content-Length over the limit: 413 with none of the body sent (the
    // close follows actix-web's 1 s disconnect grace).
    let started = Instant::now();
    let (answer, closed) = tokio::task::spawn_blocking({
        let (url, head) = (url.clone(), head(100 << 20));
        move || raw(&url, &head, b"", Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(closed);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );

    // One stalled body holding the budget: the next large body waits, then
    // answers 429 with Retry-After before it is read.
    let holder = tokio::task::spawn_blocking({
        let (url, head) = (url.clone(), head(120_000));
        move || raw(&url, &head, b"{", Duration::from_secs(5))
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (answer, _) = tokio::task::spawn_blocking({
        let (url, head) = (url.clone(), head(120_000));
        move || raw(&url, &head, b"", Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    let (held, _) = holder.await.unwrap();
    assert!(held.starts_with("HTTP/1.1 408"), "{held}");
    // Given back: a body fits again, and is written.
    let ok = gw
        .post(
            &format!("/topics/{t}"),
            JSON,
            r#"{"records":[{"value":1}]}"#,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(read_all(&gw.bootstrap, &t, 1, 1).await.len(), 1);

    // Many slow senders at once: every connection is closed by the deadline.
    let started = Instant::now();
    let slow: Vec<_> = (0..200)
        .map(|_| {
            let (url, head) = (url.clone(), head(1000));
            tokio::task::spawn_blocking(move || {
                raw(&url, &head, b"{\"rec", Duration::from_secs(10))
            })
        })
        .collect();
    for s in slow {
        let (answer, closed) = s.await.unwrap();
        assert!(
            closed && (answer.starts_with("HTTP/1.1 408") || answer.starts_with("HTTP/1.1 429")),
            "{answer}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let metrics = gw.get("/metrics").await.text;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1.0)
    };
    assert!(value("gateway_http_body_timeouts_total") >= 2.0);
    assert!(value("gateway_http_budget_rejections_total") >= 1.0);
    // Only this scrape's own connection is still open.
    assert!(value("gateway_http_connections ") <= 2.0, "{metrics}");
    assert_eq!(value("gateway_http_buffered_bytes"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_and_the_worker_keeps_serving() {
    use actix_web::{web, App, HttpServer};
    let metrics = kafka_gateway::metrics::init();
    let limits = kafka_gateway::http::limits::Limits::new(
        &kafka_gateway::config::HttpConfig::default(),
        1,
        metrics,
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = HttpServer::new(move || {
        App::new()
            .wrap(limits.clone())
            .route(
                "/boom",
                web::get().to(|| async { panic!("a bug") as &'static str }),
            )
            .route("/fine", web::get().to(|| async { "fine" }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let boom = client.get(format!("{url}/boom")).send().await.unwrap();
        assert_eq!(boom.status(), 500);
        let body: serde_json::Value = boom.json().await.unwrap();
        assert_eq!(body["error_code"], 500);
        // The one worker still serves, on the same client's connections.
        let fine = client.get(format!("{url}/fine")).send().await.unwrap();
        assert_eq!(fine.text().await.unwrap(), "fine");
    }
    handle.stop(true).await;
}
