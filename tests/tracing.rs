//! Traces, asserted on the spans the SDK hands its exporter (its in-memory
//! exporter, installed before the gateway starts) and on the records read
//! back from Kafka. Its own test binary: the tracer provider is
//! process-wide.

mod common;

use std::time::{Duration, Instant};

use common::*;
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry::Value;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn attribute(span: &SpanData, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

/// Waits until a finished span satisfies `find` (exports are synchronous,
/// but some spans end after the answer is written).
async fn span_where(
    exporter: &InMemorySpanExporter,
    what: &str,
    find: impl Fn(&SpanData) -> bool,
) -> SpanData {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = exporter.get_finished_spans().unwrap();
        if let Some(span) = spans.iter().find(|s| find(s)) {
            return span.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {what} among {:#?}",
            spans
                .iter()
                .map(|s| (&s.name, s.span_kind.clone()))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn traceparent_of(trace: TraceId, span: SpanId) -> String {
    format!("00-{trace}-{span}-01")
}

fn header<'a>(stored: &'a Stored, name: &str) -> Option<&'a str> {
    stored
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.as_deref())
        .map(|v| std::str::from_utf8(v).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_traced_from_its_caller_into_kafka_and_back_out() {
    let exporter = InMemorySpanExporter::default();
    kafka_gateway::telemetry::install(
        SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build(),
    );
    let t = topic("traced");
    let mut config = embedded_config(&[&t], 1);
    config.tracing.enabled = true;
    let gw = TestGateway::start(config).await;
    let caller = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");

    // v2 produce with the caller's context.
    let reply = gw
        .http
        .post(format!("{}/topics/{t}", gw.url))
        .header("Content-Type", JSON)
        .header("traceparent", &caller)
        .header("tracestate", "vendor=1")
        .body(r#"{"records":[{"value":{"n":1}},{"value":{"n":2}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let server = span_where(&exporter, "v2 SERVER span", |s| {
        s.span_kind == SpanKind::Server && s.name == "POST /topics/{topic}"
    })
    .await;
    assert_eq!(server.span_context.trace_id().to_string(), CALLER_TRACE);
    assert_eq!(server.parent_span_id.to_string(), CALLER_SPAN);
    assert_eq!(
        server.span_context.trace_state().header(),
        "vendor=1",
        "tracestate is kept"
    );
    assert_eq!(
        attribute(&server, "http.request.method"),
        Some(Value::from("POST"))
    );
    assert_eq!(
        attribute(&server, "http.route"),
        Some(Value::from("/topics/{topic}"))
    );
    assert_eq!(
        attribute(&server, "http.response.status_code"),
        Some(Value::I64(200))
    );
    // The records carry the gateway's span of the request.
    let expected = traceparent_of(
        server.span_context.trace_id(),
        server.span_context.span_id(),
    );
    let stored = read_all(&gw.bootstrap, &t, 1, 2).await;
    assert_eq!(stored.len(), 2);
    for record in &stored {
        assert_eq!(header(record, "traceparent"), Some(expected.as_str()));
    }
    // The hand-off to the producer links the request.
    let send = span_where(&exporter, "PRODUCER span of the v2 records", |s| {
        s.span_kind == SpanKind::Producer
            && s.links
                .iter()
                .any(|l| l.span_context.span_id() == server.span_context.span_id())
    })
    .await;
    assert_eq!(send.name, format!("send {t}"));
    assert_eq!(
        attribute(&send, "messaging.destination.name"),
        Some(Value::from(t.clone()))
    );
    assert_eq!(
        attribute(&send, "messaging.system"),
        Some(Value::from("kafka"))
    );
    let Some(Value::I64(count)) = attribute(&send, "messaging.batch.message_count") else {
        panic!("no message count on {send:?}");
    };
    assert!(count >= 2, "{count}");

    // A v3 stream: a record that brings its own traceparent keeps it.
    let cluster = gw.get("/v3/clusters").await.json()["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    let own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let own_b64 = b64(own.as_bytes());
    let body = format!(
        "{}\n{}\n",
        json!({"value": {"type": "JSON", "data": 3}}),
        json!({"value": {"type": "JSON", "data": 4},
               "headers": [{"name": "traceparent", "value": own_b64}]}),
    );
    let chunks: Vec<Result<String, std::io::Error>> = vec![Ok(body)];
    let reply = gw
        .http
        .post(format!(
            "{}/v3/clusters/{cluster}/topics/{t}/records",
            gw.url
        ))
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let answers = reply.text().await.unwrap();
    assert_eq!(
        answers.matches("\"error_code\":200").count(),
        2,
        "{answers}"
    );
    let v3 = span_where(&exporter, "v3 SERVER span", |s| {
        s.span_kind == SpanKind::Server
            && s.name == "POST /v3/clusters/{cluster}/topics/{topic}/records"
    })
    .await;
    assert_eq!(
        v3.parent_span_id,
        SpanId::INVALID,
        "no caller context: a new trace"
    );
    let stored = read_all(&gw.bootstrap, &t, 1, 4).await;
    let v3_expected = traceparent_of(v3.span_context.trace_id(), v3.span_context.span_id());
    assert_eq!(
        header(at(&stored, 0, 2), "traceparent"),
        Some(v3_expected.as_str())
    );
    let kept: Vec<_> = at(&stored, 0, 3)
        .headers
        .iter()
        .filter(|(n, _)| n == "traceparent")
        .collect();
    assert_eq!(kept.len(), 1, "one traceparent, the record's own");
    assert_eq!(header(at(&stored, 0, 3), "traceparent"), Some(own));

    // A consumer read links the contexts its records carry.
    let base = gw.json_consumer("traced", &t).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut read = 0;
    while read < 4 {
        assert!(Instant::now() < deadline, "read {read} of 4");
        read += gw.read_json(&base, "").await;
    }
    let receive = span_where(&exporter, "CLIENT receive span", |s| {
        s.span_kind == SpanKind::Client && s.name == format!("receive {t}")
    })
    .await;
    assert_eq!(
        attribute(&receive, "messaging.consumer.group.name"),
        Some(Value::from("traced"))
    );
    let linked: Vec<String> = receive
        .links
        .iter()
        .map(|l| l.span_context.span_id().to_string())
        .collect();
    assert!(
        linked.contains(&server.span_context.span_id().to_string()),
        "{linked:?}"
    );
    gw.stop().await.unwrap();
}
