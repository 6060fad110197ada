//! Cached cluster metadata. Produce requests look their topic up here, so an
//! unknown topic or partition is refused at once (404) instead of after a
//! producer timeout. A miss asks the broker for that one topic; a background
//! task refreshes everything every `kafka.metadata_refresh_interval_ms`, so
//! added partitions and deleted topics are seen.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;
use rdkafka::producer::Producer;

use crate::error::{ApiError, ErrorCode};
use crate::kafka::producer::KafkaProducer;

/// How long "this topic does not exist" is believed before asking again, so
/// a client hammering a missing topic does not hammer the broker.
/// Also how long an unreachable cluster is believed so.
const NEGATIVE_TTL: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub id: i32,
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    /// Sorted by id; ids are 0..len.
    pub partitions: Vec<PartitionInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    pub brokers: Vec<i32>,
    /// Each broker's id, host and port, sorted by id.
    pub broker_addresses: Vec<(i32, String, i32)>,
    pub topics: Vec<Arc<TopicInfo>>,
}

pub struct MetadataCache {
    producer: Arc<KafkaProducer>,
    timeout: Duration,
    topics: RwLock<HashMap<String, Arc<TopicInfo>>>,
    missing: Mutex<HashMap<String, Instant>>,
    /// Until when the cluster is believed unreachable (after a failed fetch),
    /// so waiting requests fail fast instead of each timing out in turn.
    unreachable_until: Mutex<Option<Instant>>,
    /// One broker lookup at a time: a burst of requests for a topic not yet
    /// cached makes one metadata request, not one each.
    lookup: tokio::sync::Mutex<()>,
    /// The cluster's id, once known (it does not change).
    cluster_id: tokio::sync::OnceCell<String>,
}

impl MetadataCache {
    pub fn new(producer: Arc<KafkaProducer>, timeout: Duration) -> MetadataCache {
        MetadataCache {
            producer,
            timeout,
            topics: RwLock::new(HashMap::new()),
            missing: Mutex::new(HashMap::new()),
            unreachable_until: Mutex::new(None),
            lookup: tokio::sync::Mutex::new(()),
            cluster_id: tokio::sync::OnceCell::new(),
        }
    }

    /// Drops what is known of a topic (after it is created or deleted here).
    pub fn forget(&self, name: &str) {
        self.topics.write().remove(name);
        self.missing.lock().remove(name);
    }

    /// The Kafka cluster's id, as v3 paths name the cluster.
    pub async fn cluster_id(self: &Arc<Self>) -> Result<String, ApiError> {
        let id = self
            .cluster_id
            .get_or_try_init(|| {
                let this = Arc::clone(self);
                blocking(move || {
                    this.producer
                        .client()
                        .fetch_cluster_id(this.timeout)
                        .ok_or_else(|| unreachable_broker("the cluster did not give its id"))
                })
            })
            .await?;
        Ok(id.clone())
    }

    fn cached(&self, name: &str) -> Option<Result<Arc<TopicInfo>, ApiError>> {
        if let Some(topic) = self.topics.read().get(name) {
            return Some(Ok(Arc::clone(topic)));
        }
        if let Some(at) = self.missing.lock().get(name) {
            if at.elapsed() < NEGATIVE_TTL {
                return Some(Err(ApiError::topic_not_found(name)));
            }
        }
        None
    }

    /// The topic's metadata, from the cache or else from the broker.
    pub async fn topic(self: &Arc<Self>, name: &str) -> Result<Arc<TopicInfo>, ApiError> {
        if let Some(answer) = self.cached(name) {
            return answer;
        }
        let _one_at_a_time = self.lookup.lock().await;
        // Another request may have looked it up while this one waited.
        if let Some(answer) = self.cached(name) {
            return answer;
        }
        if let Some(until) = *self.unreachable_until.lock() {
            if Instant::now() < until {
                return Err(unreachable_broker("the last metadata request failed"));
            }
        }
        let this = Arc::clone(self);
        let owned = name.to_string();
        let found = blocking(move || this.fetch_topic(&owned)).await;
        if matches!(&found, Err(e) if e.code == ErrorCode::BrokerNotAvailable) {
            *self.unreachable_until.lock() = Some(Instant::now() + NEGATIVE_TTL);
        }
        let found = found?;
        match found {
            Some(topic) => {
                self.missing.lock().remove(name);
                self.topics
                    .write()
                    .insert(name.to_string(), Arc::clone(&topic));
                Ok(topic)
            }
            None => {
                let mut missing = self.missing.lock();
                // Bounded: stale entries go whenever a new one is added.
                missing.retain(|_, at| at.elapsed() < NEGATIVE_TTL);
                missing.insert(name.to_string(), Instant::now());
                Err(ApiError::topic_not_found(name))
            }
        }
    }

    /// Fetches the whole cluster's metadata and replaces the cache with it.
    pub async fn refresh(self: &Arc<Self>) -> Result<ClusterInfo, ApiError> {
        let this = Arc::clone(self);
        let cluster = blocking(move || {
            let metadata = this
                .producer
                .client()
                .fetch_metadata(None, this.timeout)
                .map_err(|e| unreachable_broker(e.to_string()))?;
            Ok(cluster_info(&metadata))
        })
        .await?;
        let map = cluster
            .topics
            .iter()
            .map(|t| (t.name.clone(), Arc::clone(t)))
            .collect();
        *self.topics.write() = map;
        Ok(cluster)
    }

    /// Beginning and end offsets of one partition.
    pub async fn watermarks(
        self: &Arc<Self>,
        topic: &str,
        partition: i32,
    ) -> Result<(i64, i64), ApiError> {
        let this = Arc::clone(self);
        let topic = topic.to_string();
        blocking(move || {
            this.producer
                .client()
                .fetch_watermarks(&topic, partition, this.timeout)
                .map_err(|e| ApiError::new(ErrorCode::from_kafka_error(&e), e.to_string()))
        })
        .await
    }

    /// Asks the broker about one topic; `None` if it does not exist. A topic
    /// just created may briefly have no leader; that is waited out.
    fn fetch_topic(&self, name: &str) -> Result<Option<Arc<TopicInfo>>, ApiError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let metadata = self
                .producer
                .client()
                .fetch_metadata(Some(name), self.timeout)
                .map_err(|e| unreachable_broker(e.to_string()))?;
            let Some(topic) = metadata.topics().iter().find(|t| t.name() == name) else {
                return Ok(None);
            };
            match topic.error().map(RDKafkaErrorCode::from) {
                None if !topic.partitions().is_empty() => {
                    return Ok(Some(Arc::new(topic_info(topic))))
                }
                Some(RDKafkaErrorCode::UnknownTopicOrPartition)
                | Some(RDKafkaErrorCode::UnknownTopic)
                | Some(RDKafkaErrorCode::InvalidTopic) => return Ok(None),
                Some(RDKafkaErrorCode::TopicAuthorizationFailed) => {
                    return Err(ApiError::new(
                        ErrorCode::KafkaAuthorization,
                        format!("not authorized to access topic {name}"),
                    ))
                }
                other => {
                    if Instant::now() >= deadline {
                        return Err(ApiError::new(
                            ErrorCode::KafkaRetriable,
                            format!(
                                "metadata for topic {name} not available: {}",
                                other.map_or("no partitions".to_string(), |e| e.to_string())
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}

fn unreachable_broker(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::BrokerNotAvailable,
        format!("cannot reach the Kafka cluster: {e}"),
    )
}

/// Runs blocking librdkafka calls off the HTTP worker threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("metadata task failed: {e}")))?
}

fn topic_info(topic: &rdkafka::metadata::MetadataTopic) -> TopicInfo {
    let mut partitions: Vec<PartitionInfo> = topic
        .partitions()
        .iter()
        .map(|p| PartitionInfo {
            id: p.id(),
            leader: p.leader(),
            replicas: p.replicas().to_vec(),
            isr: p.isr().to_vec(),
        })
        .collect();
    partitions.sort_by_key(|p| p.id);
    TopicInfo {
        name: topic.name().to_string(),
        partitions,
    }
}

fn cluster_info(metadata: &Metadata) -> ClusterInfo {
    let mut brokers: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
    brokers.sort_unstable();
    let mut broker_addresses: Vec<(i32, String, i32)> = metadata
        .brokers()
        .iter()
        .map(|b| (b.id(), b.host().to_string(), b.port()))
        .collect();
    broker_addresses.sort_unstable();
    let mut topics: Vec<Arc<TopicInfo>> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| Arc::new(topic_info(t)))
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    ClusterInfo {
        brokers,
        broker_addresses,
        topics,
    }
}

/// The high watermark of a partition as the client last saw it in a fetch
/// response (librdkafka's `rd_kafka_get_watermark_offsets`, which rdkafka
/// does not wrap): no broker call. `None` before the client has fetched
/// from the partition.
pub fn cached_high_watermark<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is live for the borrow of `client`; the
    // topic is a NUL-terminated string that outlives the call; librdkafka
    // only writes the two offsets.
    let err = unsafe {
        rdkafka_sys::rd_kafka_get_watermark_offsets(
            client.native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(high)
}
