//! Topic administration for the v3 API: create, delete, describe configs,
//! through librdkafka's admin client (its own connection, with the
//! producer's connection and security settings).

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

pub struct Admin {
    client: AdminClient<DefaultClientContext>,
    timeout: Duration,
}

/// One topic configuration as the broker describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
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
        let mut client_config = ClientConfig::new();
        for (key, value) in config.connection_settings(bootstrap_servers) {
            client_config.set(key, value);
        }
        Ok(Admin {
            client: client_config.create()?,
            timeout: Duration::from_millis(config.metadata_timeout_ms),
        })
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

    pub async fn topic_configs(&self, name: &str) -> Result<Vec<TopicConfig>, ApiError> {
        let resource = ResourceSpecifier::Topic(name);
        let results = self
            .client
            .describe_configs([&resource], &self.options())
            .await
            .map_err(kafka)?;
        let mut out = Vec::new();
        for result in results {
            let resource = result.map_err(|code| match code {
                RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
                    ApiError::topic_not_found(name)
                }
                other => bad_request(other),
            })?;
            for entry in resource.entries {
                out.push(TopicConfig {
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
    ApiError::new(ErrorCode::from_kafka_error(&e), e.to_string())
}
