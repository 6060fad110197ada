//! Administration for the v3 API, through librdkafka's admin client (its
//! own connection, with the producer's connection and security settings):
//! topics, configs, the cluster's description, consumer groups and their
//! offsets, ACLs. What rdkafka does not wrap goes through [`admin_ffi`].
//! Every call first checks the broker advertises the API it needs
//! ([`capabilities`]), so an unsupported one answers 501 at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::error::{ApiError, ErrorCode};
use crate::kafka::admin_ffi::{Acl, ClusterDescription, ConfigTarget, Handle};
use crate::kafka::capabilities::{Api, Probe};
use crate::kafka::groups::Group;

pub struct Admin {
    client: Arc<AdminClient<DefaultClientContext>>,
    timeout: Duration,
    probe: Probe,
}

/// One configuration as the broker describes it (topic or broker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigInfo {
    pub name: String,
    pub value: Option<String>,
    pub is_default: bool,
    pub is_read_only: bool,
    pub is_sensitive: bool,
    /// Confluent's name for where the value comes from.
    pub source: &'static str,
}

impl Admin {
    pub fn new(config: &KafkaConfig, bootstrap_servers: &str) -> KafkaResult<Admin> {
        let settings = config.connection_settings(bootstrap_servers);
        let mut client_config = ClientConfig::new();
        for (key, value) in &settings {
            client_config.set(key, value);
        }
        let timeout = Duration::from_millis(config.metadata_timeout_ms);
        Ok(Admin {
            client: Arc::new(client_config.create()?),
            timeout,
            probe: Probe::new(settings, timeout),
        })
    }

    /// `Ok` unless the broker lacks `api` (501 at once).
    pub async fn require(&self, api: Api, what: &str) -> Result<(), ApiError> {
        self.probe.require(api, what).await
    }

    /// `Ok` if the broker implements ACL administration (all three APIs).
    pub async fn require_acl_admin(&self, what: &str) -> Result<(), ApiError> {
        let caps = self.probe.get().await?;
        if caps.is_empty() {
            return Ok(());
        }
        caps.require_acl_admin(what)
    }

    /// Runs `f` with the admin client's native handle on a blocking
    /// thread; the client is kept alive for the call.
    async fn ffi<T: Send + 'static>(
        &self,
        f: impl FnOnce(Handle, Duration) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let client = Arc::clone(&self.client);
        let timeout = self.timeout;
        tokio::task::spawn_blocking(move || f(Handle(client.inner().native_ptr()), timeout))
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("admin task failed: {e}")))?
    }

    /// IncrementalAlterConfigs: `None` values are deleted (back to the
    /// default).
    pub async fn alter_configs(
        &self,
        target: OwnedTarget,
        changes: Vec<(String, Option<String>)>,
    ) -> Result<(), ApiError> {
        self.require(Api::IncrementalAlterConfigs, "altering configs")
            .await?;
        self.ffi(move |h, timeout| {
            let target = match &target {
                OwnedTarget::Topic(t) => ConfigTarget::Topic(t),
                OwnedTarget::Broker(id) => ConfigTarget::Broker(*id),
            };
            h.incremental_alter_configs(target, &changes, timeout)
        })
        .await
    }

    /// DescribeCluster: the controller and every broker's address.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, ApiError> {
        self.require(Api::DescribeCluster, "describing the cluster")
            .await?;
        self.ffi(|h, timeout| h.describe_cluster(timeout)).await
    }

    /// Every consumer group (`None`) or one, described.
    pub async fn groups(&self, group: Option<String>) -> Result<Vec<Group>, ApiError> {
        self.require(Api::ListGroups, "listing consumer groups")
            .await?;
        self.require(Api::DescribeGroups, "describing consumer groups")
            .await?;
        let client = Arc::clone(&self.client);
        let found = self
            .ffi(move |h, timeout| {
                if let Some(found) = h.list_groups(group.as_deref(), timeout)? {
                    return Ok(found);
                }
                // No broker learned yet: learn them, and ask again.
                client
                    .inner()
                    .fetch_metadata(None, timeout)
                    .map_err(kafka)?;
                h.list_groups(group.as_deref(), timeout)?.ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::BrokerNotAvailable,
                        "no broker is known to list consumer groups",
                    )
                })
            })
            .await?;
        Ok(found.into_iter().map(Group::from_description).collect())
    }

    /// The group's committed offsets (of `only` those partitions, or with
    /// `None` of every partition it committed) and those partitions' end
    /// offsets, through the admin client
    /// (ListConsumerGroupOffsets, ListOffsets): no consumer is made.
    pub async fn group_offsets(
        &self,
        group: String,
        only: Option<Vec<(String, i32)>>,
    ) -> Result<GroupOffsets, ApiError> {
        self.require(Api::OffsetFetch, "reading a group's offsets")
            .await?;
        self.ffi(move |h, timeout| {
            let committed: BTreeMap<(String, i32), i64> = h
                .group_offsets(&group, only.as_deref(), timeout)?
                .into_iter()
                .map(|(t, p, o)| ((t, p), o))
                .collect();
            let wanted: Vec<(String, i32)> = committed.keys().cloned().collect();
            let ends = h
                .end_offsets(&wanted, timeout)?
                .into_iter()
                .map(|(t, p, o)| ((t, p), o))
                .collect();
            Ok(GroupOffsets { committed, ends })
        })
        .await
    }

    pub async fn describe_acls(&self, filter: Acl) -> Result<Vec<Acl>, ApiError> {
        self.require(Api::DescribeAcls, "listing ACLs").await?;
        self.ffi(move |h, timeout| h.describe_acls(&filter, timeout))
            .await
    }

    pub async fn create_acls(&self, acls: Vec<Acl>) -> Result<(), ApiError> {
        self.require_acl_admin("creating ACLs").await?;
        self.ffi(move |h, timeout| h.create_acls(&acls, timeout))
            .await
    }

    pub async fn delete_acls(&self, filter: Acl) -> Result<Vec<Acl>, ApiError> {
        self.require_acl_admin("deleting ACLs").await?;
        self.ffi(move |h, timeout| h.delete_acls(&filter, timeout))
            .await
    }

    /// The broker's configs (DescribeConfigs on the BROKER resource).
    pub async fn broker_configs(&self, broker: i32) -> Result<Vec<ConfigInfo>, ApiError> {
        self.require(Api::DescribeConfigs, "describing broker configs")
            .await?;
        let resource = ResourceSpecifier::Broker(broker);
        let results = self
            .client
            .describe_configs([&resource], &self.options())
            .await
            .map_err(kafka)?;
        collect_configs(results, bad_request)
    }

    fn options(&self) -> AdminOptions {
        AdminOptions::new()
            .operation_timeout(Some(self.timeout))
            .request_timeout(Some(self.timeout))
    }

    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i32,
        configs: &[(String, String)],
        validate_only: bool,
    ) -> Result<(), ApiError> {
        self.require(Api::CreateTopics, "creating topics").await?;
        let mut topic = NewTopic::new(
            name,
            partitions,
            TopicReplication::Fixed(replication_factor),
        );
        for (key, value) in configs {
            topic = topic.set(key, value);
        }
        let options = self.options().validate_only(validate_only);
        let results = self
            .client
            .create_topics([&topic], &options)
            .await
            .map_err(kafka)?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(match code {
                    RDKafkaErrorCode::TopicAlreadyExists => ApiError::new(
                        ErrorCode::KafkaBadRequest,
                        format!("Topic '{name}' already exists."),
                    ),
                    other => bad_request(other),
                });
            }
        }
        Ok(())
    }

    pub async fn delete_topic(&self, name: &str) -> Result<(), ApiError> {
        self.require(Api::DeleteTopics, "deleting topics").await?;
        let results = self
            .client
            .delete_topics(&[name], &self.options())
            .await
            .map_err(kafka)?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(match code {
                    RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                        ApiError::topic_not_found(name)
                    }
                    other => bad_request(other),
                });
            }
        }
        Ok(())
    }

    pub async fn topic_configs(&self, name: &str) -> Result<Vec<ConfigInfo>, ApiError> {
        self.require(Api::DescribeConfigs, "describing topic configs")
            .await?;
        let resource = ResourceSpecifier::Topic(name);
        let results = self
            .client
            .describe_configs([&resource], &self.options())
            .await
            .map_err(kafka)?;
        collect_configs(results, |code| match code {
            RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                ApiError::topic_not_found(name)
            }
            other => bad_request(other),
        })
    }
}

/// A config resource IncrementalAlterConfigs changes, owned (it crosses to
/// a blocking thread).
#[derive(Debug, Clone)]
pub enum OwnedTarget {
    Topic(String),
    Broker(i32),
}

/// A group's committed offsets and the end offsets of those partitions.
#[derive(Debug, Clone, Default)]
pub struct GroupOffsets {
    pub committed: BTreeMap<(String, i32), i64>,
    pub ends: BTreeMap<(String, i32), i64>,
}

fn collect_configs(
    results: Vec<rdkafka::admin::ConfigResourceResult>,
    on_error: impl Fn(RDKafkaErrorCode) -> ApiError,
) -> Result<Vec<ConfigInfo>, ApiError> {
    let mut out = Vec::new();
    for result in results {
        let resource = result.map_err(&on_error)?;
        for entry in resource.entries {
            out.push(ConfigInfo {
                source: source_name(&entry.source),
                name: entry.name,
                value: entry.value,
                is_default: entry.is_default,
                is_read_only: entry.is_read_only,
                is_sensitive: entry.is_sensitive,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn source_name(source: &ConfigSource) -> &'static str {
    match source {
        ConfigSource::Unknown => "UNKNOWN",
        ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
        ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigSource::Default => "DEFAULT_CONFIG",
    }
}

fn bad_request(code: RDKafkaErrorCode) -> ApiError {
    ApiError::new(ErrorCode::KafkaBadRequest, code.to_string())
}

fn kafka(e: KafkaError) -> ApiError {
    let code = match e.rdkafka_error_code() {
        // librdkafka's own check (the probe normally answers first).
        Some(RDKafkaErrorCode::UnsupportedFeature) => ErrorCode::UnsupportedByBroker,
        _ => ErrorCode::from_kafka_error(&e),
    };
    ApiError::new(code, e.to_string())
}

/// Makes `topic` as the gateway's own logs need it (the registry's
/// `_schemas`, the cluster's heartbeats): one partition, compacted,
/// replicated up to three times; one that exists already is fine. Blocks
/// the calling thread (start-up only). The error names what failed; the
/// caller says what to do about it.
pub fn create_log_topic(
    client: ClientConfig,
    topic: &str,
    brokers: usize,
    timeout: Duration,
) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = client.create().map_err(|e| e.to_string())?;
    let replication = brokers.clamp(1, 3) as i32;
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication))
        .set("cleanup.policy", "compact");
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = futures_executor::block_on(admin.create_topics(&[new], &options))
        .map_err(|e| e.to_string())?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, e)) => return Err(e.to_string()),
        }
    }
    Ok(())
}
