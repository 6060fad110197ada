//! Shared test harness: starts the real gateway on 127.0.0.1:0 and reads
//! records back from the broker with a real Kafka consumer.

#![allow(dead_code)]

use std::net::TcpListener;
use std::time::{Duration, Instant};

use kafka_gateway::config::Config;
use kafka_gateway::Gateway;
use kafka_gateway::StartError;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const JSON: &str = "application/vnd.kafka.json.v2+json";
pub const BINARY: &str = "application/vnd.kafka.binary.v2+json";
pub const V2: &str = "application/vnd.kafka.v2+json";

pub struct TestGateway {
    pub url: String,
    pub bootstrap: String,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), StartError>>>,
}

/// What a client of each API family sends as `Accept`.
pub fn accept_for(path: &str) -> &'static str {
    if path.starts_with("/v3/") || path.starts_with("/kafka/v3/") {
        "application/json"
    } else if [
        "/subjects",
        "/schemas",
        "/config",
        "/compatibility",
        "/mode",
    ]
    .iter()
    .any(|p| path.starts_with(p))
    {
        "application/vnd.schemaregistry.v1+json"
    } else {
        V2
    }
}

/// A random topic name, so tests never see each other's records.
pub fn topic(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// A config whose embedded broker has `topics`, each with `partitions`.
pub fn embedded_config(topics: &[&str], partitions: u32) -> Config {
    let mut config = Config::default();
    config.embedded.topics = topics.iter().map(|t| t.to_string()).collect();
    config.embedded.partitions = partitions;
    config.http.workers = 2;
    config
}

impl TestGateway {
    pub async fn start(config: Config) -> TestGateway {
        TestGateway::start_with(config, "http", reqwest::Client::new()).await
    }

    /// Starts it with `client` for the helpers, at `scheme://localhost:port`
    /// (`https` when the config has a certificate for localhost).
    pub async fn start_with(config: Config, scheme: &str, client: reqwest::Client) -> TestGateway {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        TestGateway::start_on(listener, config, scheme, client).await
    }

    /// Starts it on `listener` (bound already, so its address can be in
    /// the config).
    pub async fn start_on(
        listener: TcpListener,
        config: Config,
        scheme: &str,
        client: reqwest::Client,
    ) -> TestGateway {
        let gateway = Gateway::start(config).expect("gateway starts");
        let bootstrap = gateway.bootstrap_servers().to_string();
        let port = listener.local_addr().unwrap().port();
        let url = if scheme == "http" {
            format!("http://127.0.0.1:{port}")
        } else {
            format!("{scheme}://localhost:{port}")
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(gateway.serve(listener, async {
            let _ = rx.await;
        }));
        TestGateway {
            url,
            bootstrap,
            http: client,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// POSTs `body` to `path` with `content_type`; returns status, headers
    /// and the JSON body.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Content-Type", content_type)
            .header("Accept", accept_for(path))
            .body(body)
            .send()
            .await
            .expect("request is answered");
        Reply::from(response).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request is answered");
        Reply::from(response).await
    }

    /// Signals shutdown and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), StartError> {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    /// The path the request went to.
    pub path: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Reply {
        Reply {
            path: response.url().path().to_string(),
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            text: response.text().await.unwrap(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Asserts a Confluent error envelope with this status and code, in
    /// the content type of the API family asked (v2, v3, Schema Registry).
    pub fn assert_error(&self, status: u16, code: u64) -> String {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["error_code"], code, "{}", self.text);
        let family = if self.path.starts_with("/v3/") || self.path.starts_with("/kafka/v3/") {
            "application/json"
        } else if ["/subjects", "/schemas", "/config", "/compatibility"]
            .iter()
            .any(|p| self.path.starts_with(p))
        {
            "application/vnd.schemaregistry.v1+json"
        } else {
            V2
        };
        assert_eq!(self.content_type(), family, "{}", self.path);
        body["message"].as_str().expect("message").to_string()
    }
}

/// A record as read back from Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
}

/// Reads every record of `topic`'s partitions `0..partitions` from the
/// beginning until `expected` records are found or 15 s pass.
pub async fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<Stored> {
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", format!("test-{:x}", rand::random::<u64>()))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .expect("consumer");
        let mut assignment = TopicPartitionList::new();
        for p in 0..partitions {
            assignment
                .add_partition_offset(&topic, p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).unwrap();
        let poll = |timeout| {
            consumer.poll(timeout).map(|message| {
                let message = message.expect("consume");
                Stored {
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec),
                    headers: message
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                                .collect()
                        })
                        .unwrap_or_default(),
                    timestamp: message.timestamp().to_millis(),
                }
            })
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut out = Vec::new();
        while out.len() < expected && Instant::now() < deadline {
            out.extend(poll(Duration::from_millis(100)));
        }
        // Anything beyond what was expected would be a duplicate or a leak.
        out.extend(poll(Duration::from_millis(300)));
        out
    })
    .await
    .unwrap()
}

/// The record stored at (partition, offset), from a set read back.
pub fn at(stored: &[Stored], partition: i64, offset: i64) -> &Stored {
    stored
        .iter()
        .find(|s| s.partition as i64 == partition && s.offset == offset)
        .unwrap_or_else(|| panic!("no record at {partition}/{offset} in {stored:?}"))
}

/// Base64 of `bytes`.
pub fn b64(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(bytes)
}

impl TestGateway {
    /// Makes a JSON consumer instance `reader` of `group`, subscribed to
    /// `topic` from the beginning; returns its path.
    pub async fn json_consumer(&self, group: &str, topic: &str) -> String {
        let created = self
            .post(
                &format!("/consumers/{group}"),
                V2,
                r#"{"name":"reader","format":"json","auto.offset.reset":"earliest"}"#,
            )
            .await;
        assert_eq!(created.status, 200, "{}", created.text);
        let base = format!("/consumers/{group}/instances/reader");
        let subscribed = self
            .post(
                &format!("{base}/subscription"),
                V2,
                serde_json::json!({ "topics": [topic] }).to_string(),
            )
            .await;
        assert_eq!(subscribed.status, 204);
        base
    }

    /// One records read of the JSON instance at `base`; how many came.
    pub async fn read_json(&self, base: &str, query: &str) -> usize {
        let reply = self
            .http
            .get(format!("{}{base}/records{query}", self.url))
            .header("Accept", "application/vnd.kafka.json.v2+json")
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        reply
            .json::<serde_json::Value>()
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len()
    }
}
