//! `log.format = "json"`, on the binary as an operator runs it: every line
//! of stderr is one JSON object, and the lines written within a request
//! (the access log among them) name its trace id.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line_with_the_trace_id() {
    let port = free_port();
    let dead_collector = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kafka-gateway"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("KAFKA_GATEWAY_LOG_FORMAT", "json")
        .env("KAFKA_GATEWAY_HTTP_ACCESS_LOG", "true")
        .env("KAFKA_GATEWAY_TRACING_ENABLED", "true")
        .env(
            "KAFKA_GATEWAY_TRACING_ENDPOINT",
            format!("http://127.0.0.1:{dead_collector}"),
        )
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("{url}/readyz"))
        .send()
        .await
        .map(|r| !r.status().is_success())
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let reply = http
        .post(format!("{url}/topics/jsontest"))
        .header("Content-Type", "application/vnd.kafka.json.v2+json")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .body(r#"{"records":[{"value":{"logged":true}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    // A request without a caller's context gets a trace of its own.
    let reply = http.get(format!("{url}/topics")).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SIGTERM: the gateway logs its way out and exits.
    unsafe {
        libc_kill(child.id() as i32, 15);
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let lines = lines.join().unwrap();
    assert!(lines.len() >= 3, "{lines:?}");
    let objects: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object: {line}: {e}"))
        })
        .collect();
    let access: Vec<&serde_json::Value> = objects
        .iter()
        .filter(|o| o["target"] == "kafka_gateway::access" && o["fields"]["path"] != "/readyz")
        .collect();
    assert_eq!(access.len(), 2, "{lines:#?}");
    let produce = access
        .iter()
        .find(|o| o["fields"]["path"] == "/topics/jsontest")
        .expect("the produce request's access line");
    assert_eq!(produce["fields"]["trace_id"], trace);
    assert_eq!(
        produce["span"]["trace_id"], trace,
        "the request's span names it too"
    );
    let listing = access
        .iter()
        .find(|o| o["fields"]["path"] == "/topics")
        .expect("the listing's access line");
    let own = listing["fields"]["trace_id"].as_str().unwrap();
    assert_eq!(own.len(), 32);
    assert_ne!(own, trace);
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, signal: i32) -> i32;
}
