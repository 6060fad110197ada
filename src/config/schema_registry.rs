//! `[schema_registry]`: the embedded registry or an external one, and the
//! default subject name strategy.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaRegistryConfig {
    /// An external Confluent-compatible registry (Confluent, Karapace,
    /// Apicurio, Redpanda). Empty: the gateway's embedded registry, kept in
    /// the `_schemas` topic and served on the gateway's own port.
    pub url: String,
    /// `user:password` for HTTP basic auth to the external registry.
    pub basic_auth_user_info: String,
    /// Time allowed for one call to the external registry.
    pub timeout_ms: u64,
    /// The subjects schemas are registered under when a request does not
    /// name one: TOPIC_NAME (`<topic>-key`, `<topic>-value`), RECORD_NAME
    /// (the record's full name) or TOPIC_RECORD_NAME (`<topic>-<record>`).
    /// v2 always uses it; a v3 record may choose its own.
    pub subject_name_strategy: SubjectNameStrategy,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        SchemaRegistryConfig {
            url: String::new(),
            basic_auth_user_info: String::new(),
            timeout_ms: 10_000,
            subject_name_strategy: Default::default(),
        }
    }
}

/// Which subject a topic's key or value schema is registered and looked
/// up under, as Confluent's serializers name them (`schemas::naming`
/// derives the subjects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value` (Confluent's default).
    #[default]
    TopicName,
    /// The schema's fully qualified record name.
    RecordName,
    /// `<topic>-<record name>`.
    TopicRecordName,
}
