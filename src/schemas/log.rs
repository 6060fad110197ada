//! The `_schemas` topic: writing registry records in Confluent's format and
//! folding them into [`State`] with one reader thread, in log order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::RwLock;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{Compatibility, Mode, Reference, SchemaType, State, Submitted};
use crate::error::{ApiError, ErrorCode};

/// The topic Confluent's Schema Registry keeps its state in.
pub const TOPIC: &str = "_schemas";

#[derive(Serialize, Deserialize)]
#[serde(tag = "keytype", rename_all = "SCREAMING_SNAKE_CASE")]
enum Key {
    Schema {
        subject: String,
        version: u32,
        magic: u32,
    },
    Config {
        subject: Option<String>,
        magic: u32,
    },
    Mode {
        subject: Option<String>,
        magic: u32,
    },
    Noop {
        magic: u32,
    },
    #[serde(other)]
    Other,
}

#[derive(Serialize, Deserialize)]
struct SchemaValue {
    subject: String,
    version: u32,
    id: u32,
    /// Absent for Avro, as Confluent writes it.
    #[serde(
        rename = "schemaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    schema_type: Option<String>,
    /// Absent when empty, as Confluent writes it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    references: Vec<Reference>,
    schema: String,
    #[serde(default)]
    deleted: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigValue {
    compatibility_level: Compatibility,
}

#[derive(Serialize, Deserialize)]
struct ModeValue {
    mode: Mode,
}

pub struct SchemaLog {
    producer: FutureProducer,
    /// The next offset the reader will apply.
    applied: watch::Receiver<i64>,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl SchemaLog {
    /// Connects, checks the topic exists, and starts the reader.
    /// `settings` holds the connection settings (address, security) every
    /// client of the cluster takes.
    pub fn start(
        settings: &[(String, String)],
        state: Arc<RwLock<State>>,
        timeout: Duration,
    ) -> Result<SchemaLog, ApiError> {
        let kafka = |e: rdkafka::error::KafkaError| {
            ApiError::new(
                ErrorCode::SchemaRegistryUnavailable,
                format!("schema registry: {e}"),
            )
        };
        let client = || {
            let mut config = ClientConfig::new();
            for (key, value) in settings {
                config.set(key, value);
            }
            config
        };
        let producer: FutureProducer = client()
            .set("enable.idempotence", "true")
            .set("linger.ms", "0")
            .create()
            .map_err(kafka)?;
        let metadata = producer
            .client()
            .fetch_metadata(Some(TOPIC), timeout)
            .map_err(kafka)?;
        if !metadata
            .topics()
            .iter()
            .any(|t| t.name() == TOPIC && t.error().is_none() && !t.partitions().is_empty())
        {
            crate::kafka::admin::create_log_topic(
                client(),
                TOPIC,
                metadata.brokers().len(),
                timeout,
            )
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::SchemaRegistryUnavailable,
                    format!(
                        "cannot create the {TOPIC} topic ({e}); create it with one \
                             partition and cleanup.policy=compact"
                    ),
                )
            })?;
        }
        let consumer: BaseConsumer = client()
            .set("group.id", "kafka-gateway-schemas")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()
            .map_err(kafka)?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(TOPIC, 0, Offset::Beginning)
            .map_err(kafka)?;
        consumer.assign(&assignment).map_err(kafka)?;
        let (applied_tx, applied) = watch::channel(0i64);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("schemas-reader".into())
                .spawn(move || read(consumer, state, applied_tx, stop))
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        };
        Ok(SchemaLog {
            producer,
            applied,
            timeout,
            stop,
            reader: Some(reader),
        })
    }

    /// Waits until everything in the topic now has been applied.
    pub async fn catch_up(&self) -> Result<(), ApiError> {
        let producer = self.producer.clone();
        let timeout = self.timeout;
        let (_, high) = tokio::task::spawn_blocking(move || {
            producer.client().fetch_watermarks(TOPIC, 0, timeout)
        })
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| ApiError::new(ErrorCode::SchemaRegistryUnavailable, e.to_string()))?;
        self.wait_applied(high).await
    }

    /// Blocks until everything in the topic at start has been applied, so a
    /// restarted instance serves the schemas it had.
    pub fn catch_up_blocking(&self) -> Result<(), ApiError> {
        let (_, high) = self
            .producer
            .client()
            .fetch_watermarks(TOPIC, 0, self.timeout)
            .map_err(|e| ApiError::new(ErrorCode::SchemaRegistryUnavailable, e.to_string()))?;
        let deadline = std::time::Instant::now() + self.timeout;
        while *self.applied.borrow() < high {
            if std::time::Instant::now() >= deadline {
                return Err(ApiError::new(
                    ErrorCode::SchemaRegistryUnavailable,
                    format!("reading {TOPIC} did not reach offset {high} in time"),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Writes a claim record; its offset is unique.
    pub async fn claim(&self) -> Result<i64, ApiError> {
        let key = serde_json::to_vec(&Key::Noop { magic: 0 }).expect("serializes");
        self.write(&key, None).await
    }

    /// Writes a subject version; `deleted` marks it soft-deleted.
    pub async fn write_schema(
        &self,
        subject: &str,
        version: u32,
        id: u32,
        schema: &Submitted,
        deleted: bool,
    ) -> Result<(), ApiError> {
        let schema_type = schema.schema_type;
        let value = serde_json::to_vec(&SchemaValue {
            subject: subject.into(),
            version,
            id,
            schema_type: (schema_type != SchemaType::Avro).then(|| schema_type.name().to_string()),
            references: schema.references.clone(),
            schema: schema.text.clone(),
            deleted,
        })
        .expect("serializes");
        let offset = self
            .write(&schema_key(subject, version), Some(&value))
            .await?;
        self.wait_applied(offset + 1).await
    }

    /// Removes a subject version for good: a tombstone, which compaction
    /// also uses to drop the record.
    pub async fn write_tombstone(&self, subject: &str, version: u32) -> Result<(), ApiError> {
        let offset = self.write(&schema_key(subject, version), None).await?;
        self.wait_applied(offset + 1).await
    }

    /// Writes a compatibility level, global or for a subject; `None`
    /// removes a subject's own level (a tombstone, as Confluent writes it).
    pub async fn write_config(
        &self,
        subject: Option<&str>,
        level: Option<Compatibility>,
    ) -> Result<(), ApiError> {
        let key = serde_json::to_vec(&Key::Config {
            subject: subject.map(String::from),
            magic: 0,
        })
        .expect("serializes");
        let value = level.map(|level| {
            serde_json::to_vec(&ConfigValue {
                compatibility_level: level,
            })
            .expect("serializes")
        });
        let offset = self.write(&key, value.as_deref()).await?;
        self.wait_applied(offset + 1).await
    }

    /// Writes a mode, global or for a subject; `None` removes one (a
    /// tombstone, as Confluent writes it).
    pub async fn write_mode(
        &self,
        subject: Option<&str>,
        mode: Option<Mode>,
    ) -> Result<(), ApiError> {
        let key = serde_json::to_vec(&Key::Mode {
            subject: subject.map(String::from),
            magic: 0,
        })
        .expect("serializes");
        let value = mode.map(|mode| serde_json::to_vec(&ModeValue { mode }).expect("serializes"));
        let offset = self.write(&key, value.as_deref()).await?;
        self.wait_applied(offset + 1).await
    }

    async fn write(&self, key: &[u8], value: Option<&[u8]>) -> Result<i64, ApiError> {
        let mut record = FutureRecord::<[u8], [u8]>::to(TOPIC).key(key).partition(0);
        if let Some(value) = value {
            record = record.payload(value);
        }
        self.producer
            .send(record, self.timeout)
            .await
            .map(|delivery| delivery.offset)
            .map_err(|(e, _)| {
                ApiError::new(
                    ErrorCode::SchemaRegistryUnavailable,
                    format!("writing {TOPIC}: {e}"),
                )
            })
    }

    async fn wait_applied(&self, next: i64) -> Result<(), ApiError> {
        let mut applied = self.applied.clone();
        tokio::time::timeout(self.timeout, applied.wait_for(|a| *a >= next))
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::SchemaRegistryUnavailable,
                    format!("the {TOPIC} reader did not reach offset {next} in time"),
                )
            })?
            .map_err(|_| ApiError::new(ErrorCode::Internal, "the schemas reader stopped"))?;
        Ok(())
    }
}

impl Drop for SchemaLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The reader: applies every record in log order and publishes how far it
/// got.
fn read(
    consumer: BaseConsumer,
    state: Arc<RwLock<State>>,
    applied: watch::Sender<i64>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Acquire) {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "reading {TOPIC}");
                continue;
            }
        };
        if let Some(key) = message.key() {
            apply(&mut state.write(), key, message.payload());
        }
        applied.send_replace(message.offset() + 1);
    }
}

fn schema_key(subject: &str, version: u32) -> Vec<u8> {
    serde_json::to_vec(&Key::Schema {
        subject: subject.into(),
        version,
        magic: 1,
    })
    .expect("serializes")
}

fn apply(state: &mut State, key: &[u8], value: Option<&[u8]>) {
    let Ok(key) = serde_json::from_slice::<Key>(key) else {
        return;
    };
    match (key, value) {
        (
            Key::Schema {
                subject, version, ..
            },
            None,
        ) => state.remove_version(&subject, version),
        (Key::Schema { .. }, Some(value)) => {
            let Ok(v) = serde_json::from_slice::<SchemaValue>(value) else {
                return;
            };
            match SchemaType::parse(v.schema_type.as_deref()) {
                Ok(schema_type) => {
                    let schema = Submitted {
                        schema_type,
                        text: v.schema,
                        references: v.references,
                    };
                    state.apply_schema(&v.subject, v.version, v.id, schema, v.deleted)
                }
                // Kept in the log for tools that know the type; not served.
                Err(_) => tracing::warn!(id = v.id, "skipping a schema of an unsupported type"),
            }
        }
        (Key::Config { subject, .. }, Some(value)) => {
            if let Ok(v) = serde_json::from_slice::<ConfigValue>(value) {
                match subject {
                    Some(subject) => {
                        state.subject_config.insert(subject, v.compatibility_level);
                    }
                    None => state.global = Some(v.compatibility_level),
                }
            }
        }
        (Key::Config { subject, .. }, None) => match subject {
            Some(subject) => {
                state.subject_config.remove(&subject);
            }
            None => state.global = None,
        },
        (Key::Mode { subject, .. }, Some(value)) => {
            if let Ok(v) = serde_json::from_slice::<ModeValue>(value) {
                match subject {
                    Some(subject) => {
                        state.subject_mode.insert(subject, v.mode);
                    }
                    None => state.global_mode = Some(v.mode),
                }
            }
        }
        (Key::Mode { subject, .. }, None) => match subject {
            Some(subject) => {
                state.subject_mode.remove(&subject);
            }
            None => state.global_mode = None,
        },
        _ => {}
    }
}
