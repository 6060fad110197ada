//! Which Kafka APIs the cluster supports, so that an admin request the
//! broker cannot serve is refused at once (501, [`ErrorCode::UnsupportedByBroker`])
//! instead of waiting out an admin timeout.
//!
//! librdkafka keeps each broker's ApiVersions answer to itself, but logs it
//! with `debug=feature` (`  ApiKey DescribeConfigs (32) Versions 0..4`). A
//! short-lived probe client connects with that debug context, and its log
//! callback collects those lines. This works for every security protocol
//! librdkafka speaks, the embedded mock cluster included (which advertises
//! only what it implements: no ListGroups, DescribeConfigs, CreateTopics,
//! ACLs...). The answer is kept for [`TTL`], so a broker upgrade is noticed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};

use crate::error::{ApiError, ErrorCode};

/// How long a probe's answer is believed.
pub const TTL: Duration = Duration::from_secs(300);

/// Kafka API keys the admin routes need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    OffsetFetch = 9,
    DescribeGroups = 15,
    ListGroups = 16,
    CreateTopics = 19,
    DeleteTopics = 20,
    DescribeAcls = 29,
    CreateAcls = 30,
    DeleteAcls = 31,
    DescribeConfigs = 32,
    IncrementalAlterConfigs = 44,
    DescribeCluster = 60,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::OffsetFetch => "OffsetFetch",
            Api::DescribeGroups => "DescribeGroups",
            Api::ListGroups => "ListGroups",
            Api::CreateTopics => "CreateTopics",
            Api::DeleteTopics => "DeleteTopics",
            Api::DescribeAcls => "DescribeAcls",
            Api::CreateAcls => "CreateAcls",
            Api::DeleteAcls => "DeleteAcls",
            Api::DescribeConfigs => "DescribeConfigs",
            Api::IncrementalAlterConfigs => "IncrementalAlterConfigs",
            Api::DescribeCluster => "DescribeCluster",
        }
    }
}

/// The API keys (and version ranges) the probed broker advertises.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    apis: BTreeMap<i16, (i16, i16)>,
}

impl Capabilities {
    pub fn from_apis(apis: impl IntoIterator<Item = (i16, (i16, i16))>) -> Capabilities {
        Capabilities {
            apis: apis.into_iter().collect(),
        }
    }

    pub fn supports(&self, api: Api) -> bool {
        self.apis.contains_key(&(api as i16))
    }

    /// `Ok` if the broker has `api`; else the clear 501 naming what `what`
    /// needed.
    pub fn require(&self, api: Api, what: &str) -> Result<(), ApiError> {
        if self.supports(api) {
            Ok(())
        } else {
            Err(unsupported(format!(
                "{what} needs the Kafka {} API, which the broker does not support",
                api.name()
            )))
        }
    }

    /// ACL writes need all three ACL APIs. A broker that advertises
    /// CreateAcls without DeleteAcls (tansu 0.6) does not implement ACLs,
    /// and its CreateAcls answer trips an assertion in librdkafka 2.12's
    /// response parser (a process abort), so it must never be sent.
    pub fn require_acl_admin(&self, what: &str) -> Result<(), ApiError> {
        for api in [Api::DescribeAcls, Api::CreateAcls, Api::DeleteAcls] {
            self.require(api, what)?;
        }
        Ok(())
    }

    /// True if this probe saw no ApiVersions answer at all.
    pub fn is_empty(&self) -> bool {
        self.apis.is_empty()
    }
}

pub fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::UnsupportedByBroker, message)
}

/// Parses one librdkafka feature debug line:
/// `... ApiKey DescribeConfigs (32) Versions 0..4`.
pub fn parse_api_line(line: &str) -> Option<(i16, (i16, i16))> {
    let rest = &line[line.find("ApiKey ")? + "ApiKey ".len()..];
    let open = rest.find('(')?;
    let close = open + rest[open..].find(')')?;
    let key: i16 = rest[open + 1..close].trim().parse().ok()?;
    let versions = rest[close..].split("Versions ").nth(1)?;
    let (min, max) = versions.trim().split_once("..")?;
    Some((key, (min.trim().parse().ok()?, max.trim().parse().ok()?)))
}

#[derive(Default)]
struct ProbeContext {
    lines: StdMutex<Vec<(i16, (i16, i16))>>,
}

impl ClientContext for ProbeContext {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if fac != "APIVERSION" {
            return;
        }
        if let Some(api) = parse_api_line(log_message) {
            if let Ok(mut lines) = self.lines.lock() {
                // Bounded: a broker has a few hundred API keys at most.
                if lines.len() < 4096 {
                    lines.push(api);
                }
            }
        }
    }
}

impl ProducerContext for ProbeContext {
    type DeliveryOpaque = ();
    // The probe never produces.
    fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {}
}

/// Connects once with `settings` and returns what the broker advertised.
/// Blocking: run it off the HTTP workers.
pub fn probe(settings: &[(String, String)], timeout: Duration) -> Result<Capabilities, ApiError> {
    let mut config = ClientConfig::new();
    for (key, value) in settings {
        config.set(key, value);
    }
    config
        .set("debug", "feature")
        .set_log_level(RDKafkaLogLevel::Debug);
    let producer: BaseProducer<ProbeContext> = config
        .create_with_context(ProbeContext::default())
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("probe client: {e}")))?;
    // A metadata request for no topics: cheap, and it waits for a broker
    // connection, so the ApiVersions exchange is done.
    if producer.client().fetch_cluster_id(timeout).is_none() {
        return Err(ApiError::new(
            ErrorCode::BrokerNotAvailable,
            "cannot reach the Kafka cluster to read its API versions",
        ));
    }
    // Logs go through the client's main queue (rdkafka sets log.queue):
    // serve what is queued.
    producer.poll(Duration::from_millis(100));
    let lines = producer
        .context()
        .lines
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    Ok(Capabilities::from_apis(lines))
}

/// The cached answer of [`probe`].
pub struct Probe {
    settings: Vec<(String, String)>,
    timeout: Duration,
    cached: tokio::sync::Mutex<Option<(Instant, Arc<Capabilities>)>>,
}

impl Probe {
    pub fn new(settings: Vec<(String, String)>, timeout: Duration) -> Probe {
        Probe {
            settings,
            timeout,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    pub async fn get(&self) -> Result<Arc<Capabilities>, ApiError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, caps)) = cached.as_ref() {
            if at.elapsed() < TTL {
                return Ok(Arc::clone(caps));
            }
        }
        let settings = self.settings.clone();
        let timeout = self.timeout;
        let caps = tokio::task::spawn_blocking(move || probe(&settings, timeout))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("probe task failed: {e}")))??;
        let caps = Arc::new(caps);
        // A probe that saw no ApiVersions answer (the line format changed,
        // a very old broker) is not cached, and nothing is refused on it.
        if !caps.is_empty() {
            *cached = Some((Instant::now(), Arc::clone(&caps)));
        }
        Ok(caps)
    }

    /// `Ok` unless the probe positively shows the broker lacks `api`.
    pub async fn require(&self, api: Api, what: &str) -> Result<(), ApiError> {
        let caps = self.get().await?;
        if caps.is_empty() {
            return Ok(());
        }
        caps.require(api, what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_librdkafka_feature_lines() {
        assert_eq!(
            parse_api_line("[thrd:127.0.0.1:9092/bootstrap]: 127.0.0.1:9092/bootstrap:   ApiKey DescribeConfigs (32) Versions 0..4"),
            Some((32, (0, 4)))
        );
        assert_eq!(
            parse_api_line("  ApiKey Unknown-75? (75) Versions 0..0"),
            Some((75, (0, 0)))
        );
        assert_eq!(parse_api_line("Broker API support:"), None);
        assert_eq!(parse_api_line("ApiKey X (x) Versions 0..1"), None);
        assert_eq!(parse_api_line("ApiKey X (3) Versions"), None);
    }

    #[test]
    fn acl_admin_needs_all_three_acl_apis() {
        let tansu = Capabilities::from_apis([(29, (0, 3)), (30, (0, 3))]);
        assert!(tansu.require(Api::DescribeAcls, "x").is_ok());
        let e = tansu.require_acl_admin("creating ACLs").unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedByBroker);
        assert!(e.message.contains("DeleteAcls"), "{}", e.message);
        let kafka = Capabilities::from_apis([(29, (0, 3)), (30, (0, 3)), (31, (0, 3))]);
        assert!(kafka.require_acl_admin("x").is_ok());
    }
}
