//! v2 HTTP consumer instances: one librdkafka consumer each, in a consumer
//! group, named by `(group, instance)`, living on the gateway that created
//! it. Behind a load balancer, calls that reach another gateway are
//! forwarded here (`crate::cluster` knows who holds what;
//! the HTTP layer's forwarding middleware forwards). An instance not used for
//! `consumers.instance_timeout_ms` is closed. Every librdkafka call runs off the HTTP workers, and calls on
//! one instance run one at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_codecs::Format;
use parking_lot::Mutex;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{ConsumersConfig, KafkaConfig};
use crate::error::{ApiError, ErrorCode};

/// One record as the consumer read it, before decoding.
pub struct Fetched {
    /// Shared by the records of one topic in a read.
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What takes a read's records, one at a time, on the consumer's thread.
pub trait Reader: Send + 'static {
    /// Takes one record; an error ends the read with it.
    fn record(&mut self, message: &BorrowedMessage<'_>) -> Result<(), ApiError>;
}

/// The records copied out, for formats decoded later (schema formats, whose
/// schemas may have to be fetched first).
impl Reader for Vec<Fetched> {
    fn record(&mut self, message: &BorrowedMessage<'_>) -> Result<(), ApiError> {
        let topic = match self.last() {
            Some(last) if *last.topic == *message.topic() => Arc::clone(&last.topic),
            _ => Arc::from(message.topic()),
        };
        self.push(Fetched {
            topic,
            partition: message.partition(),
            offset: message.offset(),
            timestamp: message.timestamp().to_millis(),
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
        });
        Ok(())
    }
}

/// What a read saw besides its records: for its span and metrics.
#[derive(Default)]
struct Read {
    records: usize,
    lag: Option<i64>,
    /// The first record's topic, and whether every record had it.
    topic: Option<String>,
    one_topic: bool,
    /// The trace contexts the records carry (with tracing on).
    contexts: Vec<crate::telemetry::TraceParent>,
}

impl Read {
    fn trace(&mut self, message: &BorrowedMessage<'_>) {
        match &self.topic {
            None => {
                self.topic = Some(message.topic().to_string());
                self.one_topic = true;
            }
            Some(t) if t != message.topic() => self.one_topic = false,
            Some(_) => {}
        }
        let context = message.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key.eq_ignore_ascii_case(crate::telemetry::TRACEPARENT))
                .and_then(|h| h.value)
                .and_then(crate::telemetry::TraceParent::parse)
        });
        self.contexts.extend(context);
    }
}

/// A topic-partition and an offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The commit's metadata string (empty for none).
    pub metadata: String,
}

/// The least read-ahead an instance gets when the pool is used up.
const MIN_PREFETCH_KBYTES: usize = 1024;

/// Subscriptions, patterns and manual assignments exclude each other
/// (409 / 40903, as Confluent answers).
pub fn exclusive() -> ApiError {
    ApiError::new(
        ErrorCode::ConsumerIllegalState,
        "Subscription to topics, partitions and pattern are mutually exclusive.",
    )
}

/// How long a first read waits for the group to assign partitions.
pub const JOIN_WAIT: Duration = Duration::from_secs(10);

pub struct Instance {
    pub group: String,
    pub name: String,
    pub format: Format,
    /// The principal that created it; only it may use the instance
    /// (`crate::auth` answers others as if it did not exist).
    pub owner: String,
    /// How long a read waits by default (the instance's
    /// `consumer.request.timeout.ms`, else the gateway's).
    pub request_timeout_ms: Option<u64>,
    /// Its read-ahead, taken from `consumers.prefetch_total_kbytes`.
    pub prefetch_kbytes: usize,
    consumer: Arc<BaseConsumer>,
    last_used: Mutex<Instant>,
    /// One call at a time on this instance.
    busy: tokio::sync::Mutex<()>,
    /// What its last read left behind, in `gateway_consumer_lag_records`.
    lag: std::sync::atomic::AtomicI64,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let lag = *self.lag.get_mut();
        if let Some(m) = crate::metrics::try_get() {
            m.consumer_lag.decrement(lag as f64);
        }
    }
}

/// What creating an instance takes (Confluent's request fields).
pub struct NewInstance {
    pub name: Option<String>,
    pub format: Format,
    pub auto_offset_reset: Option<String>,
    pub auto_commit: bool,
    pub fetch_min_bytes: Option<u32>,
    /// The creating principal (`User:ANONYMOUS` with security off).
    pub owner: String,
    pub request_timeout_ms: Option<u64>,
}

pub struct Consumers {
    kafka: Vec<(String, String)>,
    config: ConsumersConfig,
    instances: Mutex<HashMap<(String, String), Arc<Instance>>>,
    /// This gateway's id in a cluster (`crate::cluster`): generated names
    /// carry it, so any gateway knows where they live.
    node: Option<String>,
}

impl Consumers {
    pub fn new(kafka: &KafkaConfig, bootstrap_servers: &str, config: ConsumersConfig) -> Consumers {
        Consumers {
            kafka: kafka.connection_settings(bootstrap_servers),
            config,
            instances: Mutex::new(HashMap::new()),
            node: None,
        }
    }

    /// Generated names carry `node`, this gateway's cluster id.
    pub fn with_node(mut self, node: &str) -> Consumers {
        self.node = Some(node.to_string());
        self
    }

    /// Every instance held here, as (group, name).
    pub fn names(&self) -> Vec<(String, String)> {
        let mut names: Vec<_> = self.instances.lock().keys().cloned().collect();
        names.sort();
        names
    }

    pub fn config(&self) -> &ConsumersConfig {
        &self.config
    }

    pub fn create(&self, group: &str, new: NewInstance) -> Result<Arc<Instance>, ApiError> {
        let invalid = |m: String| ApiError::new(ErrorCode::InvalidConsumerConfig, m);
        let name = new.name.unwrap_or_else(|| {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match &self.node {
                Some(node) => format!("{}{node}-{nanos:x}-{n}", crate::cluster::GENERATED_PREFIX),
                None => format!("rest-consumer-{nanos:x}-{n}"),
            }
        });
        if name.is_empty() || name.contains('/') {
            return Err(invalid(format!("{name:?} is not a valid instance name")));
        }
        let reset = match new.auto_offset_reset.as_deref() {
            None => "latest",
            Some("earliest" | "smallest") => "earliest",
            Some("latest" | "largest") => "latest",
            Some("none") => "error",
            Some(other) => {
                return Err(invalid(format!(
                    "auto.offset.reset must be earliest, latest or none, not {other:?}"
                )))
            }
        };
        let mut config = ClientConfig::new();
        // A partition whose read-ahead is full looks again after 10 ms,
        // not librdkafka's 1000: a reader that drains it faster than that
        // otherwise waits out the second (scenario f read 490-535k records/s
        // with 1000 ms and 737-873k with 10, loadtest/RESULTS.md). kafka.*
        // settings may still set it.
        config.set("fetch.queue.backoff.ms", "10");
        for (key, value) in &self.kafka {
            config.set(key, value);
        }
        config
            .set("group.id", group)
            .set("client.id", format!("kafka-gateway-{name}"))
            .set("auto.offset.reset", reset)
            .set("enable.auto.commit", new.auto_commit.to_string())
            .set("enable.partition.eof", "false");
        // Bounded read-ahead: the queue librdkafka fills ahead of the reads.
        // fetch.max.bytes stays librdkafka's: capping it ties the response
        // guard to it, and brokers answer a little more than asked (tansu
        // answered 4.3 MB to a 4 MiB fetch in the soak, and reads failed).
        // Each instance takes its read-ahead from one pool
        // (`consumers.prefetch_total_kbytes`), at least 1 MiB.
        config.set(
            "fetch.wait.max.ms",
            self.config.fetch_wait_max_ms.to_string(),
        );
        if let Some(bytes) = new.fetch_min_bytes {
            config.set("fetch.min.bytes", bytes.to_string());
        }
        let mut instances = self.instances.lock();
        let reserved: usize = instances.values().map(|i| i.prefetch_kbytes).sum();
        let prefetch_kbytes = self
            .config
            .prefetch_kbytes
            .min(self.config.prefetch_total_kbytes.saturating_sub(reserved))
            .max(MIN_PREFETCH_KBYTES);
        config.set("queued.max.messages.kbytes", prefetch_kbytes.to_string());
        let key = (group.to_string(), name.clone());
        if instances.contains_key(&key) {
            return Err(ApiError::new(
                ErrorCode::ConsumerAlreadyExists,
                format!("Consumer with specified consumer ID already exists in the specified consumer group: {name}"),
            ));
        }
        if instances.len() >= self.config.max_instances {
            return Err(ApiError::new(
                ErrorCode::Throttled,
                format!(
                    "this gateway already has {} consumer instances (consumers.max_instances)",
                    instances.len()
                ),
            ));
        }
        let consumer: BaseConsumer = config.create().map_err(|e| invalid(e.to_string()))?;
        let instance = Arc::new(Instance {
            group: group.to_string(),
            name,
            format: new.format,
            owner: new.owner,
            request_timeout_ms: new.request_timeout_ms,
            prefetch_kbytes,
            consumer: Arc::new(consumer),
            last_used: Mutex::new(Instant::now()),
            busy: tokio::sync::Mutex::new(()),
            lag: std::sync::atomic::AtomicI64::new(0),
        });
        instances.insert(key, Arc::clone(&instance));
        publish_count(instances.len());
        Ok(instance)
    }

    /// The instance's owner, if it exists (without counting as a use).
    pub fn owner(&self, group: &str, name: &str) -> Option<String> {
        self.instances
            .lock()
            .get(&(group.to_string(), name.to_string()))
            .map(|i| i.owner.clone())
    }

    pub fn get(&self, group: &str, name: &str) -> Result<Arc<Instance>, ApiError> {
        let instance = self
            .instances
            .lock()
            .get(&(group.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| {
                ApiError::new(ErrorCode::ConsumerNotFound, "Consumer instance not found.")
            })?;
        *instance.last_used.lock() = Instant::now();
        Ok(instance)
    }

    /// Closes an instance: it leaves its group.
    pub async fn delete(&self, group: &str, name: &str) -> Result<(), ApiError> {
        let instance = {
            let mut instances = self.instances.lock();
            let removed = instances.remove(&(group.to_string(), name.to_string()));
            publish_count(instances.len());
            removed
        }
        .ok_or_else(|| {
            ApiError::new(ErrorCode::ConsumerNotFound, "Consumer instance not found.")
        })?;
        instance.close().await;
        Ok(())
    }

    /// Closes the instances idle longer than the timeout; called
    /// periodically.
    pub async fn expire(&self) -> usize {
        let timeout = Duration::from_millis(self.config.instance_timeout_ms);
        let expired: Vec<Arc<Instance>> = {
            let mut instances = self.instances.lock();
            let keys: Vec<_> = instances
                .iter()
                .filter(|(_, i)| i.last_used.lock().elapsed() >= timeout)
                .map(|(k, _)| k.clone())
                .collect();
            let expired = keys.iter().filter_map(|k| instances.remove(k)).collect();
            publish_count(instances.len());
            expired
        };
        for instance in &expired {
            tracing::info!(group = %instance.group, instance = %instance.name, "consumer instance expired");
            instance.close().await;
        }
        expired.len()
    }

    /// Closes every instance (at shutdown); returns how many.
    pub async fn close_all(&self) -> usize {
        let all: Vec<Arc<Instance>> = self.instances.lock().drain().map(|(_, i)| i).collect();
        publish_count(0);
        let count = all.len();
        for instance in all {
            instance.close().await;
            // The consumer's close (leaving the group) blocks: not on the
            // async workers.
            let _ = tokio::task::spawn_blocking(move || drop(instance)).await;
        }
        count
    }

    pub fn count(&self) -> usize {
        self.instances.lock().len()
    }
}

/// Records between a consumer's positions and the ends of its assigned
/// partitions, from what librdkafka has cached (no broker call); `None`
/// before it knows both for any partition.
fn lag_of(consumer: &BaseConsumer) -> Option<i64> {
    let positions = consumer.position().ok()?;
    let mut total = None;
    for element in positions.elements() {
        let rdkafka::Offset::Offset(position) = element.offset() else {
            continue;
        };
        let Some(high) = crate::kafka::metadata::cached_high_watermark(
            consumer.client(),
            element.topic(),
            element.partition(),
        ) else {
            continue;
        };
        *total.get_or_insert(0) += (high - position).max(0);
    }
    total
}

/// `gateway_consumer_instances`.
fn publish_count(instances: usize) {
    if let Some(m) = crate::metrics::try_get() {
        m.consumer_instances.set(instances as f64);
    }
}

fn kafka_error(e: KafkaError) -> ApiError {
    ApiError::new(ErrorCode::from_kafka_error(&e), e.to_string())
}

impl Instance {
    /// Runs `f` on the consumer off the HTTP workers, one call at a time.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&BaseConsumer) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _turn = self.busy.lock().await;
        let consumer = Arc::clone(&self.consumer);
        let result = tokio::task::spawn_blocking(move || f(&consumer))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        *self.last_used.lock() = Instant::now();
        result
    }

    /// Leaves the group (librdkafka's close runs when the last handle is
    /// dropped, which the callers arrange while the broker is reachable).
    async fn close(&self) {
        let _ = self
            .with(|consumer| {
                consumer.unsubscribe();
                Ok(())
            })
            .await;
    }

    /// Subscribes; an instance with partitions assigned by hand cannot
    /// (409 / 40903, as Kafka's consumer and Confluent's proxy refuse it).
    pub async fn subscribe(&self, topics: Vec<String>) -> Result<(), ApiError> {
        self.with(move |consumer| {
            let manual = consumer
                .assignment()
                .map(|a| a.count() > 0)
                .unwrap_or(false)
                && consumer
                    .subscription()
                    .map(|s| s.count() == 0)
                    .unwrap_or(true);
            if manual {
                return Err(exclusive());
            }
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&topics).map_err(kafka_error)
        })
        .await
    }

    pub async fn subscription(&self) -> Result<Vec<String>, ApiError> {
        self.with(|consumer| {
            let list = consumer.subscription().map_err(kafka_error)?;
            let mut topics: Vec<String> = list
                .elements()
                .iter()
                .map(|e| e.topic().to_string())
                .collect();
            topics.dedup();
            Ok(topics)
        })
        .await
    }

    pub async fn unsubscribe(&self) -> Result<(), ApiError> {
        self.with(|consumer| {
            consumer.unsubscribe();
            Ok(())
        })
        .await
    }

    /// Assigns partitions by hand; a subscribed instance cannot (409 /
    /// 40903).
    pub async fn assign(&self, partitions: Vec<(String, i32)>) -> Result<(), ApiError> {
        self.with(move |consumer| {
            if consumer
                .subscription()
                .map(|s| s.count() > 0)
                .unwrap_or(false)
            {
                return Err(exclusive());
            }
            let mut list = TopicPartitionList::new();
            for (topic, partition) in &partitions {
                list.add_partition(topic, *partition);
            }
            consumer.assign(&list).map_err(kafka_error)
        })
        .await
    }

    pub async fn assignment(&self) -> Result<Vec<(String, i32)>, ApiError> {
        self.with(|consumer| {
            let list = consumer.assignment().map_err(kafka_error)?;
            Ok(list
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect())
        })
        .await
    }

    /// Moves the fetch positions: to given offsets, or to the beginning or
    /// end of partitions. Partitions assigned by hand are assigned again
    /// from there (a seek right after an assignment can come before
    /// fetching starts, and librdkafka refuses it); a group's are sought.
    pub async fn seek(&self, targets: Vec<(String, i32, Offset)>) -> Result<(), ApiError> {
        self.with(move |consumer| {
            let subscribed = consumer
                .subscription()
                .map(|s| s.count() > 0)
                .unwrap_or(false);
            if !subscribed {
                let current = consumer.assignment().map_err(kafka_error)?;
                let positions = consumer.position().unwrap_or(current);
                let mut list = TopicPartitionList::new();
                for e in positions.elements() {
                    list.add_partition_offset(e.topic(), e.partition(), e.offset())
                        .map_err(kafka_error)?;
                }
                for (topic, partition, offset) in &targets {
                    if list.find_partition(topic, *partition).is_none() {
                        return Err(ApiError::new(
                            ErrorCode::ConsumerIllegalState,
                            format!(
                                "partition {topic}/{partition} is not assigned to this consumer"
                            ),
                        ));
                    }
                    list.set_partition_offset(topic, *partition, *offset)
                        .map_err(kafka_error)?;
                }
                return consumer.assign(&list).map_err(kafka_error);
            }
            let mut list = TopicPartitionList::new();
            for (topic, partition, offset) in &targets {
                list.add_partition_offset(topic, *partition, *offset)
                    .map_err(kafka_error)?;
            }
            let result = consumer
                .seek_partitions(list, Duration::from_secs(10))
                .map_err(kafka_error)?;
            for e in result.elements() {
                if let Err(err) = e.error() {
                    return Err(ApiError::new(
                        ErrorCode::ConsumerIllegalState,
                        format!("cannot move {}/{}: {err}", e.topic(), e.partition()),
                    ));
                }
            }
            Ok(())
        })
        .await
    }

    /// Reads records for up to `timeout`, stopping early at `max_bytes`,
    /// into a [`Vec`] of [`Fetched`] (their bytes copied out of
    /// librdkafka's messages).
    pub async fn poll(
        &self,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Vec<Fetched>, ApiError> {
        self.read(timeout, max_bytes, Vec::new()).await
    }

    /// Reads records for up to `timeout`, stopping early at `max_bytes`,
    /// handing each to `reader` on the consumer's thread as librdkafka
    /// holds it, and gives the reader back. Nothing read is held back: what
    /// was handed over is what the position (and so a later commit) covers.
    pub async fn read<R: Reader>(
        &self,
        timeout: Duration,
        max_bytes: usize,
        mut reader: R,
    ) -> Result<R, ApiError> {
        let started = Instant::now();
        let tracing = crate::telemetry::enabled();
        let (reader, read) = self
            .with(move |consumer| {
                let subscribed = consumer
                    .subscription()
                    .map(|s| s.count() > 0)
                    .unwrap_or(false);
                let assigned = consumer
                    .assignment()
                    .map(|a| a.count() > 0)
                    .unwrap_or(false);
                if !subscribed && !assigned {
                    return Err(ApiError::new(
                        ErrorCode::ConsumerIllegalState,
                        "The consumer instance has neither a subscription nor an assignment.",
                    ));
                }
                // Just subscribed: the group has not given this instance its
                // partitions yet. Wait for them (a join takes a few seconds) so
                // the first read returns records rather than nothing.
                let mut deadline = Instant::now() + timeout;
                if subscribed && !assigned {
                    deadline = deadline.max(Instant::now() + JOIN_WAIT);
                }
                let mut read = Read::default();
                let mut bytes = 0usize;
                while bytes < max_bytes {
                    // After the first records, take only what has already
                    // come (the deadline is looked at every 256 records
                    // below: the clock, twice per record, was 5% of a fast
                    // read's CPU).
                    let wait = if read.records == 0 {
                        deadline.saturating_duration_since(Instant::now())
                    } else {
                        Duration::ZERO
                    };
                    let Some(message) = consumer.poll(wait.min(Duration::from_millis(100))) else {
                        if read.records > 0 || Instant::now() >= deadline {
                            break;
                        }
                        continue;
                    };
                    let message = message.map_err(kafka_error)?;
                    reader.record(&message)?;
                    read.records += 1;
                    bytes += message.key().map_or(0, <[u8]>::len)
                        + message.payload().map_or(0, <[u8]>::len);
                    if tracing {
                        read.trace(&message);
                    }
                    if read.records.is_multiple_of(256) && Instant::now() >= deadline {
                        break;
                    }
                }
                read.lag = lag_of(consumer);
                Ok((reader, read))
            })
            .await?;
        if tracing && read.records > 0 {
            crate::telemetry::received(
                read.topic.as_deref().filter(|_| read.one_topic),
                &self.group,
                read.contexts,
                read.records,
                std::time::SystemTime::now() - started.elapsed(),
            );
        }
        if let Some(m) = crate::metrics::try_get() {
            m.consumer_read_duration
                .record(started.elapsed().as_secs_f64());
            if let Some(lag) = read.lag {
                let before = self.lag.swap(lag, std::sync::atomic::Ordering::Relaxed);
                m.consumer_lag.increment((lag - before) as f64);
            }
        }
        Ok(reader)
    }

    /// Commits what was read (`None`), or the given offsets: each is the
    /// last record processed, so the group resumes after it (Confluent's
    /// v2 semantics).
    pub async fn commit(&self, offsets: Option<Vec<PartitionOffset>>) -> Result<(), ApiError> {
        self.with(move |consumer| match offsets {
            None => match consumer.commit_consumer_state(CommitMode::Sync) {
                // Nothing read yet: nothing to commit.
                Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {
                    Ok(())
                }
                other => other.map_err(kafka_error),
            },
            Some(offsets) => {
                let mut list = TopicPartitionList::new();
                for o in &offsets {
                    list.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset + 1))
                        .map_err(kafka_error)?;
                    if !o.metadata.is_empty() {
                        if let Some(mut e) = list.find_partition(&o.topic, o.partition) {
                            e.set_metadata(&o.metadata);
                        }
                    }
                }
                consumer
                    .commit(&list, CommitMode::Sync)
                    .map_err(kafka_error)
            }
        })
        .await
    }

    /// The group's committed offsets for these partitions.
    pub async fn committed(
        &self,
        partitions: Vec<(String, i32)>,
    ) -> Result<Vec<PartitionOffset>, ApiError> {
        self.with(move |consumer| {
            let mut list = TopicPartitionList::new();
            for (topic, partition) in &partitions {
                list.add_partition(topic, *partition);
            }
            let committed = consumer
                .committed_offsets(list, Duration::from_secs(10))
                .map_err(kafka_error)?;
            Ok(committed
                .elements()
                .iter()
                .map(|e| PartitionOffset {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                    offset: match e.offset() {
                        Offset::Offset(o) => o,
                        _ => -1,
                    },
                    // rdkafka panics on metadata that is not UTF-8, which
                    // another client may have committed.
                    metadata: std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        e.metadata().to_string()
                    }))
                    .unwrap_or_default(),
                })
                .collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_ahead_comes_from_one_pool_with_a_floor() {
        let config = ConsumersConfig {
            prefetch_kbytes: 4096,
            prefetch_total_kbytes: 10_000,
            ..ConsumersConfig::default()
        };
        let consumers = Consumers::new(&KafkaConfig::default(), "127.0.0.1:9", config);
        let create = |name: &str| {
            consumers
                .create(
                    "g",
                    NewInstance {
                        name: Some(name.into()),
                        format: Format::Binary,
                        auto_offset_reset: None,
                        auto_commit: false,
                        fetch_min_bytes: None,
                        owner: "User:ANONYMOUS".into(),
                        request_timeout_ms: None,
                    },
                )
                .unwrap()
                .prefetch_kbytes
        };
        let got: Vec<usize> = ["a", "b", "c", "d"].into_iter().map(create).collect();
        assert_eq!(got, [4096, 4096, 1808, MIN_PREFETCH_KBYTES]);
        // A closed instance gives its share back.
        consumers.instances.lock().remove(&("g".into(), "a".into()));
        assert_eq!(create("e"), 10_000 - 4096 - 1808 - MIN_PREFETCH_KBYTES);
    }
}
