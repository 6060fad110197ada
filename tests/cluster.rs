//! Several gateways on one Kafka cluster (librdkafka's mock cluster here;
//! tests/python/test_scale_out.py runs three binaries on tansu behind nginx
//! and haproxy): they find each other through the heartbeat topic, a call
//! on an instance reaches its owner from any gateway, a principal keeps its
//! own instances across a forward, forged forwarding headers are refused,
//! base_uri follows the public URL, and a stopped owner's instances answer
//! 404 / 40403.

mod common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use kafka_gateway::config::Config;
use rdkafka::mocking::MockCluster;
use serde_json::{json, Value};

const SECRET: &str = "a shared secret of at least thirty-two bytes";

fn secret_file() -> String {
    let dir = std::env::temp_dir().join(format!("gw-cluster-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("secret");
    std::fs::write(&path, format!("{SECRET}\n")).unwrap();
    path.to_string_lossy().into_owned()
}

struct Cluster {
    broker: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    members: String,
    secret: String,
}

impl Cluster {
    fn new() -> Cluster {
        let broker = MockCluster::new(1).unwrap();
        let members = topic("members");
        broker.create_topic(&members, 1, 1).unwrap();
        Cluster {
            broker,
            members,
            secret: secret_file(),
        }
    }

    async fn gateway(&self, change: impl FnOnce(&mut Config)) -> TestGateway {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut config = embedded_config(&[], 1);
        config.kafka.bootstrap_servers = self.broker.bootstrap_servers();
        config.cluster.advertised_url = format!("http://127.0.0.1:{port}");
        config.cluster.secret_file = self.secret.clone();
        config.cluster.topic = self.members.clone();
        config.cluster.heartbeat_interval_ms = 200;
        config.cluster.member_timeout_ms = 1500;
        change(&mut config);
        TestGateway::start_on(listener, config, "http", reqwest::Client::new()).await
    }
}

async fn wait_for_gateways(gws: &[&TestGateway], count: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut seen = Vec::new();
        for gw in gws {
            seen.push(gw.get("/readyz").await.json()["gateways"].as_u64());
        }
        if seen.iter().all(|n| *n == Some(count)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gateways see {seen:?}, not {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn call(
    gw: &TestGateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = gw
        .http
        .request(method, format!("{}{path}", gw.url))
        .header("Content-Type", V2)
        .header(
            "Accept",
            "application/vnd.kafka.binary.v2+json, application/vnd.kafka.v2+json",
        );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    Reply::from(request.send().await.unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_gateway_serves_any_instance_and_a_stopped_owners_answer_40403() {
    let cluster = Cluster::new();
    let t = topic("records");
    cluster.broker.create_topic(&t, 1, 1).unwrap();
    let a = cluster.gateway(|_| {}).await;
    let b = cluster
        .gateway(|c| c.http.public_url = "https://rest.example.com/".into())
        .await;
    wait_for_gateways(&[&a, &b], 2).await;

    // A given name, made on a; every call through b reaches it.
    let made = call(
        &a,
        reqwest::Method::POST,
        "/consumers/g",
        Some(json!({"name": "given", "format": "binary", "auto.offset.reset": "earliest"})),
        &[],
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let base = "/consumers/g/instances/given";
    // The same name on the other gateway is taken already.
    call(
        &b,
        reqwest::Method::POST,
        "/consumers/g",
        Some(json!({"name": "given"})),
        &[],
    )
    .await
    .assert_error(409, 40902);
    let subscribed = call(
        &b,
        reqwest::Method::POST,
        &format!("{base}/subscription"),
        Some(json!({"topics": [t]})),
        &[],
    )
    .await;
    assert_eq!(subscribed.status, 204, "{}", subscribed.text);
    let produced = b
        .post(
            &format!("/topics/{t}"),
            BINARY,
            json!({"records": [{"value": b64(b"through b")}]}).to_string(),
        )
        .await;
    assert_eq!(produced.status, 200, "{}", produced.text);
    let deadline = Instant::now() + Duration::from_secs(20);
    let read = loop {
        let r = call(
            &b,
            reqwest::Method::GET,
            &format!("{base}/records"),
            None,
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.content_type(), "application/vnd.kafka.binary.v2+json");
        if !r.json().as_array().unwrap().is_empty() {
            break r.json();
        }
        assert!(Instant::now() < deadline, "no records through the forward");
    };
    assert_eq!(read[0]["value"], b64(b"through b"));

    // A generated name carries its owner; base_uri names b's public URL.
    let generated = call(
        &b,
        reqwest::Method::POST,
        "/consumers/g",
        Some(json!({"format": "binary"})),
        &[],
    )
    .await
    .json();
    let name = generated["instance_id"].as_str().unwrap().to_string();
    assert!(name.starts_with("rest-consumer-"), "{name}");
    assert_eq!(
        generated["base_uri"],
        format!("https://rest.example.com/consumers/g/instances/{name}")
    );
    let assigned = call(
        &a,
        reqwest::Method::GET,
        &format!("/consumers/g/instances/{name}/assignments"),
        None,
        &[],
    )
    .await;
    assert_eq!(assigned.status, 200, "{}", assigned.text);

    // A client posing as a gateway: refused, on either.
    for gw in [&a, &b] {
        call(
            gw,
            reqwest::Method::GET,
            &format!("{base}/subscription"),
            None,
            &[
                ("kafka-gateway-forwarded-principal", "User:ANONYMOUS"),
                ("kafka-gateway-forward-proof", "t=1,v1=00"),
            ],
        )
        .await
        .assert_error(401, 40101);
    }

    // a stops: its instance is gone from b at once (a left the view),
    // and b's own instance lives on.
    a.stop().await.unwrap();
    let stopped = Instant::now();
    call(
        &b,
        reqwest::Method::GET,
        &format!("{base}/records"),
        None,
        &[],
    )
    .await
    .assert_error(404, 40403);
    assert!(stopped.elapsed() < Duration::from_secs(5));
    wait_for_gateways(&[&b], 1).await;
    let deleted = call(
        &b,
        reqwest::Method::DELETE,
        &format!("/consumers/g/instances/{name}"),
        None,
        &[],
    )
    .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
}
