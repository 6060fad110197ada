//! Several gateways in front of one Kafka cluster, and no peer list: each
//! gateway announces itself in a compacted topic of that cluster
//! (`cluster.topic`, one partition), and each reads that topic to know the
//! others.
//!
//! A heartbeat is a record keyed by the gateway's id (made at start, random)
//! whose value is `{"url": ..., "instances": [[group, name], ...]}`: the URL
//! other gateways reach it at and the v2 consumer instances it holds. It is
//! written every `cluster.heartbeat_interval_ms`, and at once when an
//! instance is made (the create answers after the broker acknowledged it).
//! A gateway not heard from for `cluster.member_timeout_ms` has left the
//! view; one that stops cleanly writes a tombstone and leaves at once.
//!
//! Why a topic and not Kafka's group membership: a group's member metadata
//! cannot carry the instance list through librdkafka's assignors, a group
//! rebalance stops every member's heartbeats while it runs, and a group
//! member is only dropped after the broker's session timeout (6 s at the
//! least, 45 s by default). A topic needs nothing the broker must support
//! beyond produce and fetch, is read in order, and lets a lookup that
//! misses make sure it has read everything written before it: it writes a
//! heartbeat of its own and waits to read it back ([`Cluster::find`]).
//!
//! A fresh gateway reads the topic's last [`TAIL`] records, enough for the
//! last heartbeat of thousands of gateways; compaction keeps the topic
//! small on brokers that compact.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::ClusterConfig;

/// Records read back from the topic's end at start.
pub const TAIL: i64 = 10_000;

/// The prefix of generated instance names; the owner's id follows it
/// (`rest-consumer-<id>-<unique>`), as Confluent puts its server id there.
pub const GENERATED_PREFIX: &str = "rest-consumer-";

/// Another gateway of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    pub url: String,
}

#[derive(Serialize, Deserialize)]
struct Heartbeat {
    url: String,
    #[serde(default)]
    instances: Vec<(String, String)>,
}

struct Member {
    url: String,
    instances: HashSet<(String, String)>,
    /// When its last heartbeat was written (this gateway's clock).
    seen: Instant,
}

/// What this gateway knows of the others, folded from the topic.
#[derive(Default)]
struct View {
    members: HashMap<String, Member>,
}

impl View {
    /// Folds one record in: a heartbeat `age` old, or a tombstone.
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>, age: Duration, timeout: Duration) {
        let Ok(id) = std::str::from_utf8(key) else {
            return;
        };
        let Some(value) = value else {
            self.members.remove(id);
            return;
        };
        let Ok(beat) = serde_json::from_slice::<Heartbeat>(value) else {
            return;
        };
        if age >= timeout {
            // An old heartbeat read back at start: that gateway may be
            // long gone; a live one will be heard from again soon.
            return;
        }
        let now = Instant::now();
        self.members.insert(
            id.to_string(),
            Member {
                url: beat.url,
                instances: beat.instances.into_iter().collect(),
                seen: now.checked_sub(age).unwrap_or(now),
            },
        );
    }

    fn alive(&self, timeout: Duration) -> impl Iterator<Item = (&String, &Member)> {
        self.members
            .iter()
            .filter(move |(_, m)| m.seen.elapsed() < timeout)
    }

    /// The live gateway (other than `me`) that holds the instance: the one
    /// whose id a generated name carries, else the one that lists it.
    fn owner(&self, me: &str, group: &str, name: &str, timeout: Duration) -> Option<Peer> {
        let peer = |(id, m): (&String, &Member)| Peer {
            id: id.clone(),
            url: m.url.clone(),
        };
        if let Some(id) = generated_owner(name) {
            if id == me {
                return None;
            }
            return self
                .alive(timeout)
                .find(|(member, _)| member.as_str() == id)
                .map(peer);
        }
        let key = (group.to_string(), name.to_string());
        self.alive(timeout)
            .filter(|(id, _)| id.as_str() != me)
            .find(|(_, m)| m.instances.contains(&key))
            .map(peer)
    }
}

/// The owner id a generated instance name carries.
pub fn generated_owner(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(GENERATED_PREFIX)?;
    let (id, _) = rest.split_once('-')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// A new gateway id: 12 random hex digits (std's per-process random keys).
fn new_id() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

/// This gateway's place in the cluster.
pub struct Cluster {
    id: String,
    url: String,
    topic: String,
    producer: FutureProducer,
    view: Arc<RwLock<View>>,
    /// The last offset the reader folded in.
    applied: watch::Receiver<i64>,
    member_timeout: Duration,
    /// Time allowed for a heartbeat's acknowledgement and its read-back.
    write_timeout: Duration,
    stop: Arc<AtomicBool>,
    reader: Mutex<Option<JoinHandle<()>>>,
}

impl Cluster {
    /// Connects, makes the topic if it is missing, and starts reading it.
    /// `settings` are the connection settings every client of the cluster
    /// takes.
    pub fn start(
        settings: &[(String, String)],
        config: &ClusterConfig,
        timeout: Duration,
    ) -> Result<Cluster, String> {
        let client = || {
            let mut c = ClientConfig::new();
            for (key, value) in settings {
                c.set(key, value);
            }
            c
        };
        let topic = config.topic.clone();
        let failed = |e: rdkafka::error::KafkaError| format!("cluster topic {topic}: {e}");
        let producer: FutureProducer = client()
            .set("linger.ms", "0")
            .set("acks", "all")
            .set(
                "message.timeout.ms",
                config.member_timeout_ms.max(1000).to_string(),
            )
            .create()
            .map_err(failed)?;
        let metadata = producer
            .client()
            .fetch_metadata(Some(&topic), timeout)
            .map_err(failed)?;
        if !metadata
            .topics()
            .iter()
            .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        {
            crate::kafka::admin::create_log_topic(
                client(),
                &topic,
                metadata.brokers().len(),
                timeout,
            )
            .map_err(|e| {
                format!(
                    "cannot create the cluster topic {topic} ({e}); create it with one \
                         partition and cleanup.policy=compact"
                )
            })?;
        }
        let consumer: BaseConsumer = client()
            .set("group.id", "kafka-gateway-cluster")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "50")
            .create()
            .map_err(failed)?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&topic, 0, Offset::OffsetTail(TAIL))
            .map_err(failed)?;
        consumer.assign(&assignment).map_err(failed)?;
        let view = Arc::new(RwLock::new(View::default()));
        let (applied_tx, applied) = watch::channel(-1i64);
        let stop = Arc::new(AtomicBool::new(false));
        let member_timeout = Duration::from_millis(config.member_timeout_ms);
        let reader = {
            let (view, stop) = (Arc::clone(&view), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("cluster-reader".into())
                .spawn(move || read(consumer, view, applied_tx, stop, member_timeout))
                .map_err(|e| e.to_string())?
        };
        let id = new_id();
        tracing::info!(id, url = %config.advertised_url, topic, "joining the gateway cluster");
        Ok(Cluster {
            id,
            url: config.advertised_url.clone(),
            topic,
            producer,
            view,
            applied,
            member_timeout,
            write_timeout: timeout,
            stop,
            reader: Mutex::new(Some(reader)),
        })
    }

    /// This gateway's id (in its generated instance names).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Announces this gateway and the instances it holds; the offset the
    /// broker acknowledged.
    pub async fn beat(&self, instances: Vec<(String, String)>) -> Result<i64, String> {
        let value = serde_json::to_vec(&Heartbeat {
            url: self.url.clone(),
            instances,
        })
        .expect("serializes");
        self.write(Some(&value)).await
    }

    async fn write(&self, value: Option<&[u8]>) -> Result<i64, String> {
        let mut record = FutureRecord::<str, [u8]>::to(&self.topic)
            .key(&self.id)
            .partition(0);
        if let Some(value) = value {
            record = record.payload(value);
        }
        let result = self
            .producer
            .send(record, self.write_timeout)
            .await
            .map(|delivery| delivery.offset)
            .map_err(|(e, _)| format!("writing {}: {e}", self.topic));
        if result.is_err() {
            crate::metrics::get()
                .cluster_heartbeat_failures
                .increment(1);
        }
        result
    }

    /// Announces this gateway, then waits until the reader has folded in
    /// that heartbeat, and with it everything written before it.
    pub async fn sync(&self, instances: Vec<(String, String)>) -> Result<(), String> {
        let offset = self.beat(instances).await?;
        let mut applied = self.applied.clone();
        tokio::time::timeout(self.write_timeout, applied.wait_for(|a| *a >= offset))
            .await
            .map_err(|_| {
                format!(
                    "reading {} did not reach offset {offset} in time",
                    self.topic
                )
            })?
            .map_err(|_| "the cluster reader stopped".to_string())?;
        Ok(())
    }

    /// The gateway that holds instance `name` of `group`, if another live
    /// one does. On a miss, `instances` (this gateway's own) are announced
    /// and read back first, so an instance made on another gateway before
    /// this call began is found.
    pub async fn find(
        &self,
        group: &str,
        name: &str,
        instances: impl FnOnce() -> Vec<(String, String)>,
    ) -> Option<Peer> {
        if let Some(peer) = self.owner(group, name) {
            return Some(peer);
        }
        if let Err(e) = self.sync(instances()).await {
            tracing::warn!(error = %e, "cluster lookup could not read the topic to its end");
        }
        self.owner(group, name)
    }

    /// The live gateway other than this one that holds the instance, as
    /// far as the view knows now.
    pub fn owner(&self, group: &str, name: &str) -> Option<Peer> {
        self.view
            .read()
            .owner(&self.id, group, name, self.member_timeout)
    }

    /// The live gateways, this one included once it has read itself.
    pub fn members(&self) -> Vec<Peer> {
        let mut members: Vec<Peer> = self
            .view
            .read()
            .alive(self.member_timeout)
            .map(|(id, m)| Peer {
                id: id.clone(),
                url: m.url.clone(),
            })
            .collect();
        members.sort_by(|a, b| a.id.cmp(&b.id));
        members
    }

    /// Leaves the view at once (a tombstone), at shutdown.
    pub async fn leave(&self) {
        if let Err(e) = self.write(None).await {
            tracing::warn!(error = %e, "could not announce leaving the cluster; the others drop this gateway after cluster.member_timeout_ms");
        }
    }

    /// Drops gateways not heard from (keeps the view's memory bounded by
    /// the live ones) and returns how many are alive.
    pub fn prune(&self) -> usize {
        let mut view = self.view.write();
        let timeout = self.member_timeout;
        view.members.retain(|_, m| m.seen.elapsed() < timeout);
        view.members.len()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(reader) = self.reader.lock().take() {
            let _ = reader.join();
        }
    }
}

/// The reader: folds every heartbeat in, in log order, and publishes how
/// far it got.
fn read(
    consumer: BaseConsumer,
    view: Arc<RwLock<View>>,
    applied: watch::Sender<i64>,
    stop: Arc<AtomicBool>,
    timeout: Duration,
) {
    while !stop.load(Ordering::Acquire) {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "reading the cluster topic");
                continue;
            }
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let age = message.timestamp().to_millis().map_or(Duration::ZERO, |t| {
            Duration::from_millis(now_ms.saturating_sub(t).max(0) as u64)
        });
        if let Some(key) = message.key() {
            view.write().apply(key, message.payload(), age, timeout);
        }
        applied.send_replace(message.offset());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(6);

    fn beat(url: &str, instances: &[(&str, &str)]) -> Vec<u8> {
        serde_json::to_vec(&Heartbeat {
            url: url.into(),
            instances: instances
                .iter()
                .map(|(g, n)| (g.to_string(), n.to_string()))
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn instances_map_to_the_gateway_that_lists_them() {
        let mut view = View::default();
        view.apply(
            b"aaaaaaaaaaaa",
            Some(&beat("http://a", &[("g", "mine")])),
            Duration::ZERO,
            T,
        );
        view.apply(
            b"bbbbbbbbbbbb",
            Some(&beat("http://b", &[("g", "theirs")])),
            Duration::ZERO,
            T,
        );
        let owner = view.owner("aaaaaaaaaaaa", "g", "theirs", T).unwrap();
        assert_eq!(owner.url, "http://b");
        // Its own instance, another group's name, an unknown one: no peer.
        assert_eq!(view.owner("aaaaaaaaaaaa", "g", "mine", T), None);
        assert_eq!(view.owner("aaaaaaaaaaaa", "h", "theirs", T), None);
        assert_eq!(view.owner("aaaaaaaaaaaa", "g", "nobody", T), None);
        // A generated name names its owner, listed or not yet.
        let generated = "rest-consumer-bbbbbbbbbbbb-17f-0";
        assert_eq!(
            view.owner("aaaaaaaaaaaa", "g", generated, T).unwrap().id,
            "bbbbbbbbbbbb"
        );
        assert_eq!(
            view.owner("aaaaaaaaaaaa", "g", "rest-consumer-cccccccccccc-1-0", T),
            None
        );
    }

    #[test]
    fn a_gateway_leaves_by_tombstone_or_silence_and_old_beats_do_not_count() {
        let mut view = View::default();
        view.apply(
            b"b",
            Some(&beat("http://b", &[("g", "i")])),
            Duration::ZERO,
            T,
        );
        assert!(view.owner("a", "g", "i", T).is_some());
        view.apply(b"b", None, Duration::ZERO, T);
        assert!(view.owner("a", "g", "i", T).is_none());
        // A heartbeat as old as the timeout, read back at start: gone.
        view.apply(b"c", Some(&beat("http://c", &[("g", "i")])), T, T);
        assert!(view.owner("a", "g", "i", T).is_none());
        // One a little younger counts for what is left of the timeout.
        let short = Duration::from_millis(200);
        view.apply(
            b"d",
            Some(&beat("http://d", &[("g", "i")])),
            Duration::from_millis(100),
            short,
        );
        assert!(view.owner("a", "g", "i", short).is_some());
        std::thread::sleep(Duration::from_millis(150));
        assert!(view.owner("a", "g", "i", short).is_none());
        // Garbage is ignored.
        view.apply(b"e", Some(b"not json"), Duration::ZERO, T);
        view.apply(&[0xff, 0xfe], Some(&beat("x", &[])), Duration::ZERO, T);
        assert_eq!(view.alive(short).count(), 0);
    }

    #[test]
    fn generated_names_carry_a_twelve_digit_id() {
        let id = new_id();
        assert_eq!(id.len(), 12);
        assert_eq!(
            generated_owner(&format!("{GENERATED_PREFIX}{id}-18a-3")),
            Some(id.as_str())
        );
        assert_eq!(generated_owner("rest-consumer-17fabc-3"), None);
        assert_eq!(generated_owner("my_consumer_instance"), None);
        assert_ne!(new_id(), new_id());
    }
}
