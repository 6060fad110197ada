//! The embedded Schema Registry: subjects, versions and ids, kept in Kafka's
//! `_schemas` topic in Confluent's record format, so a restart or another
//! gateway instance reads them back.
//!
//! State is a fold of the topic's single partition, applied in log order by
//! one reader thread per instance; every instance computes the same state.
//! Writes go to the topic and return once this instance's reader has applied
//! them (read your writes).
//!
//! Ids without a leader: before registering a new schema an instance writes
//! a `NOOP` claim record; its offset `o` is unique in the partition, and the
//! id is `max(highest id seen, o) + 1`. When two schema records still end up
//! claiming the same id, or the same subject version, the first in the log
//! wins on every instance, and the loser's writer sees that after applying
//! the log and retries. So one id never names two schemas.

pub mod log;
pub mod remote;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use gateway_codecs::avro::AvroCodec;
use gateway_codecs::jsonschema::JsonSchemaCodec;
use gateway_codecs::{Codec, Format};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ErrorCode};

/// Subject compatibility levels, as Confluent names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    None,
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

/// The schema languages the registry holds, as Confluent names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    Avro,
    Json,
    Protobuf,
}

impl SchemaType {
    /// Parses Confluent's `schemaType` (absent means Avro).
    pub fn parse(name: Option<&str>) -> Result<SchemaType, ApiError> {
        match name {
            None | Some("AVRO") => Ok(SchemaType::Avro),
            Some("JSON") => Ok(SchemaType::Json),
            Some("PROTOBUF") => Ok(SchemaType::Protobuf),
            Some(other) => Err(ApiError::new(
                ErrorCode::InvalidSchema,
                format!("schema type {other} is not supported by this gateway yet"),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }

    /// The record format this schema type encodes.
    pub fn format(self) -> Format {
        match self {
            SchemaType::Avro => Format::Avro,
            SchemaType::Json => Format::JsonSchema,
            SchemaType::Protobuf => Format::Protobuf,
        }
    }
}

/// One registered schema.
#[derive(Debug, Clone)]
pub struct StoredSchema {
    pub id: u32,
    pub schema_type: SchemaType,
    /// As registered.
    pub text: String,
    /// Canonical form (with its type), to find the same schema written
    /// differently.
    pub canonical: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectVersion {
    pub version: u32,
    pub id: u32,
    pub deleted: bool,
}

/// The registry's state: a fold of the `_schemas` log.
#[derive(Debug, Default)]
pub struct State {
    pub schemas: HashMap<u32, Arc<StoredSchema>>,
    pub by_canonical: HashMap<String, u32>,
    pub subjects: BTreeMap<String, Vec<SubjectVersion>>,
    pub global: Option<Compatibility>,
    pub subject_config: HashMap<String, Compatibility>,
    pub max_id: u32,
}

impl State {
    /// Applies a schema record; the first record for an id or a subject
    /// version wins, later conflicting ones are ignored.
    pub fn apply_schema(
        &mut self,
        subject: &str,
        version: u32,
        id: u32,
        schema_type: SchemaType,
        text: &str,
        deleted: bool,
    ) {
        let canonical = canonical(text, schema_type).unwrap_or_else(|_| text.to_string());
        if let Some(existing) = self.schemas.get(&id) {
            if existing.canonical != canonical {
                return;
            }
        }
        let versions = self.subjects.entry(subject.to_string()).or_default();
        if let Some(v) = versions.iter_mut().find(|v| v.version == version) {
            if v.id != id {
                return;
            }
            v.deleted = deleted;
        } else {
            versions.push(SubjectVersion {
                version,
                id,
                deleted,
            });
            versions.sort_by_key(|v| v.version);
        }
        self.max_id = self.max_id.max(id);
        self.by_canonical.entry(canonical.clone()).or_insert(id);
        self.schemas.entry(id).or_insert_with(|| {
            Arc::new(StoredSchema {
                id,
                schema_type,
                text: text.to_string(),
                canonical,
            })
        });
    }

    /// Applies a hard delete (tombstone) of a subject version. The schema
    /// stays resolvable by id, for consumers of records already written.
    pub fn remove_version(&mut self, subject: &str, version: u32) {
        if let Some(versions) = self.subjects.get_mut(subject) {
            versions.retain(|v| v.version != version);
            if versions.is_empty() {
                self.subjects.remove(subject);
            }
        }
    }

    pub fn live_versions(&self, subject: &str) -> Vec<SubjectVersion> {
        self.subjects
            .get(subject)
            .map(|v| v.iter().filter(|v| !v.deleted).copied().collect())
            .unwrap_or_default()
    }

    pub fn compatibility(&self, subject: &str) -> Compatibility {
        self.subject_config
            .get(subject)
            .copied()
            .or(self.global)
            .unwrap_or(Compatibility::Backward)
    }
}

/// A schema's canonical form, prefixed by its type: Avro's parsing
/// canonical form; for JSON Schema, the JSON with sorted keys and no
/// whitespace; for Protobuf, the text with whitespace runs collapsed. The
/// schema is also checked to compile.
pub fn canonical(text: &str, schema_type: SchemaType) -> Result<String, ApiError> {
    let invalid = |e: String| ApiError::new(ErrorCode::InvalidSchema, e);
    let form = match schema_type {
        SchemaType::Avro => apache_avro::Schema::parse_str(text)
            .map(|s| s.canonical_form())
            .map_err(|e| invalid(format!("invalid Avro schema: {e}")))?,
        SchemaType::Json => {
            JsonSchemaCodec::new(text, 0)
                .map_err(|e| invalid(format!("invalid JSON schema: {e}")))?;
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
            value.to_string()
        }
        SchemaType::Protobuf => {
            gateway_codecs::protobuf::compile(text)
                .map_err(|e| invalid(format!("invalid Protobuf schema: {e}")))?;
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    };
    Ok(format!("{}:{form}", schema_type.name()))
}

/// Checks `new` against the subject's live versions under `level`.
pub fn check_compatible(
    state: &State,
    subject: &str,
    new: &str,
    schema_type: SchemaType,
    level: Compatibility,
) -> Result<(), String> {
    use apache_avro::schema_compatibility::SchemaCompatibility as C;
    let versions = state.live_versions(subject);
    let against: Vec<&SubjectVersion> = match level {
        Compatibility::None => return Ok(()),
        Compatibility::Backward | Compatibility::Forward | Compatibility::Full => {
            versions.last().into_iter().collect()
        }
        _ => versions.iter().collect(),
    };
    if let Some(v) = against
        .iter()
        .find(|v| state.schemas[&v.id].schema_type != schema_type)
    {
        return Err(format!(
            "version {} is a {} schema, not {}",
            v.version,
            state.schemas[&v.id].schema_type.name(),
            schema_type.name()
        ));
    }
    if schema_type == SchemaType::Json && !against.is_empty() {
        return Err(
            "compatibility checking of JSON schemas is not implemented yet; \
             set the subject's compatibility to NONE to register new versions"
                .into(),
        );
    }
    if against.is_empty() {
        return Ok(());
    }
    let new = apache_avro::Schema::parse_str(new).map_err(|e| e.to_string())?;
    for v in against {
        let old = &state.schemas[&v.id];
        let old = apache_avro::Schema::parse_str(&old.text).map_err(|e| e.to_string())?;
        let result = match level {
            Compatibility::Backward | Compatibility::BackwardTransitive => C::can_read(&old, &new),
            Compatibility::Forward | Compatibility::ForwardTransitive => C::can_read(&new, &old),
            _ => C::mutual_read(&old, &new),
        };
        result.map_err(|e| format!("incompatible with version {}: {e}", v.version))?;
    }
    Ok(())
}

/// The embedded registry: the state, the log it is folded from, and the
/// codecs built from its schemas (once per id).
pub struct Registry {
    state: Arc<RwLock<State>>,
    log: log::SchemaLog,
    codecs: RwLock<HashMap<u32, Arc<dyn Codec>>>,
}

/// What a registration answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    pub id: u32,
    pub version: u32,
}

impl Registry {
    pub fn start(bootstrap_servers: &str, timeout: Duration) -> Result<Registry, ApiError> {
        let state = Arc::new(RwLock::new(State::default()));
        let log = log::SchemaLog::start(bootstrap_servers, Arc::clone(&state), timeout)?;
        log.catch_up_blocking()?;
        Ok(Registry {
            state,
            log,
            codecs: RwLock::new(HashMap::new()),
        })
    }

    pub fn state(&self) -> parking_lot::RwLockReadGuard<'_, State> {
        self.state.read()
    }

    /// Registers `text` under `subject` (or finds it there), checking
    /// compatibility. Idempotent.
    pub async fn register(
        &self,
        subject: &str,
        text: &str,
        schema_type: SchemaType,
    ) -> Result<Registered, ApiError> {
        let canonical = canonical(text, schema_type)?;
        for _attempt in 0..5 {
            self.log.catch_up().await?;
            let (id, version) = {
                let state = self.state.read();
                if let Some(found) = find_in_subject(&state, subject, &canonical) {
                    return Ok(found);
                }
                let level = state.compatibility(subject);
                check_compatible(&state, subject, text, schema_type, level)
                    .map_err(|m| ApiError::new(ErrorCode::IncompatibleSchema, m))?;
                let version = state
                    .subjects
                    .get(subject)
                    .and_then(|v| v.last())
                    .map_or(1, |v| v.version + 1);
                (state.by_canonical.get(&canonical).copied(), version)
            };
            let id = match id {
                Some(id) => id,
                None => {
                    let claim = self.log.claim().await?;
                    let max = self.state.read().max_id;
                    max.max(u32::try_from(claim).unwrap_or(u32::MAX - 1)) + 1
                }
            };
            self.log
                .write_schema(subject, version, id, schema_type, text, false)
                .await?;
            let state = self.state.read();
            if let Some(found) = find_in_subject(&state, subject, &canonical) {
                return Ok(found);
            }
            // Another instance took this version or id first; try again.
        }
        Err(ApiError::new(
            ErrorCode::Internal,
            "schema registration kept conflicting with concurrent registrations",
        ))
    }

    /// The schema with this id.
    pub fn schema(&self, id: u32) -> Result<Arc<StoredSchema>, ApiError> {
        self.state.read().schemas.get(&id).cloned().ok_or_else(|| {
            ApiError::new(ErrorCode::SchemaNotFound, format!("schema {id} not found"))
        })
    }

    /// The schema with this id, reading the log to its end first if this
    /// instance does not know it yet (another instance may just have
    /// registered it).
    pub async fn schema_fresh(&self, id: u32) -> Result<Arc<StoredSchema>, ApiError> {
        match self.schema(id) {
            Ok(schema) => Ok(schema),
            Err(_) => {
                self.log.catch_up().await?;
                self.schema(id)
            }
        }
    }

    /// The codec for schema `id`, built once, if the schema encodes
    /// `format`.
    pub async fn codec(&self, id: u32, format: Format) -> Result<Arc<dyn Codec>, ApiError> {
        if let Some(codec) = self.codecs.read().get(&id) {
            return check_format(id, Arc::clone(codec), format);
        }
        let schema = self.schema_fresh(id).await?;
        let codec = build_codec(id, schema.schema_type, &schema.text)?;
        self.codecs.write().insert(id, Arc::clone(&codec));
        check_format(id, codec, format)
    }

    /// Deletes versions of a subject: softly (they stay readable by id and
    /// in the log, marked deleted) or, if already soft-deleted, for good.
    /// `version` `None` means every version. Returns the versions deleted.
    pub async fn delete(
        &self,
        subject: &str,
        version: Option<u32>,
        permanent: bool,
    ) -> Result<Vec<u32>, ApiError> {
        self.log.catch_up().await?;
        let targets: Vec<SubjectVersion> = {
            let state = self.state.read();
            let all = state.subjects.get(subject).cloned().unwrap_or_default();
            if all.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::SubjectNotFound,
                    format!("Subject '{subject}' not found."),
                ));
            }
            let chosen: Vec<SubjectVersion> = all
                .into_iter()
                .filter(|v| version.is_none_or(|n| v.version == n))
                .filter(|v| permanent || !v.deleted)
                .collect();
            if chosen.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::VersionNotFound,
                    format!(
                        "Version {} not found.",
                        version.map_or("any".into(), |n| n.to_string())
                    ),
                ));
            }
            if permanent {
                if let Some(live) = chosen.iter().find(|v| !v.deleted) {
                    return Err(ApiError::new(
                        ErrorCode::NotSoftDeleted,
                        format!(
                            "Subject '{subject}' version {} was not deleted first before being permanently deleted",
                            live.version
                        ),
                    ));
                }
            }
            chosen
        };
        for v in &targets {
            if permanent {
                self.log.write_tombstone(subject, v.version).await?;
            } else {
                let schema = self.schema(v.id)?;
                self.log
                    .write_schema(
                        subject,
                        v.version,
                        v.id,
                        schema.schema_type,
                        &schema.text,
                        true,
                    )
                    .await?;
            }
        }
        Ok(targets.iter().map(|v| v.version).collect())
    }

    /// Sets the compatibility level of a subject, or the global one.
    pub async fn set_compatibility(
        &self,
        subject: Option<&str>,
        level: Compatibility,
    ) -> Result<(), ApiError> {
        self.log.write_config(subject, level).await
    }
}

/// Compiles a schema into its codec.
pub(crate) fn build_codec(
    id: u32,
    schema_type: SchemaType,
    text: &str,
) -> Result<Arc<dyn Codec>, ApiError> {
    let invalid =
        |e: gateway_codecs::CodecError| ApiError::new(ErrorCode::InvalidSchema, e.to_string());
    Ok(match schema_type {
        SchemaType::Avro => Arc::new(AvroCodec::new(text, id).map_err(invalid)?),
        SchemaType::Json => Arc::new(JsonSchemaCodec::new(text, id).map_err(invalid)?),
        SchemaType::Protobuf => {
            Arc::new(gateway_codecs::protobuf::ProtobufCodec::new(text, id).map_err(invalid)?)
        }
    })
}

pub(crate) fn check_format(
    id: u32,
    codec: Arc<dyn Codec>,
    format: Format,
) -> Result<Arc<dyn Codec>, ApiError> {
    if codec.format() == format {
        Ok(codec)
    } else {
        Err(ApiError::new(
            ErrorCode::SchemaNotFound,
            format!("schema {id} is a {} schema, not {format}", codec.format()),
        ))
    }
}

fn find_in_subject(state: &State, subject: &str, canonical: &str) -> Option<Registered> {
    state.live_versions(subject).into_iter().find_map(|v| {
        (state.schemas[&v.id].canonical == canonical).then_some(Registered {
            id: v.id,
            version: v.version,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str =
        r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    const V2: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#;
    const V3: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}"#;

    #[test]
    fn the_first_record_for_an_id_or_a_version_wins() {
        let mut state = State::default();
        let avro = SchemaType::Avro;
        state.apply_schema("s", 1, 1, avro, V1, false);
        state.apply_schema("s", 1, 2, avro, V2, false); // same version, other id
        state.apply_schema("t", 1, 1, avro, V2, false); // same id, other schema
        assert_eq!(
            state.live_versions("s"),
            [SubjectVersion {
                version: 1,
                id: 1,
                deleted: false
            }]
        );
        assert!(state.live_versions("t").is_empty());
        assert_eq!(state.schemas.len(), 1);
    }

    #[test]
    fn backward_compatibility_is_checked_against_the_latest_version() {
        let mut state = State::default();
        let avro = SchemaType::Avro;
        state.apply_schema("s", 1, 1, avro, V1, false);
        let check = |new, level| check_compatible(&state, "s", new, avro, level);
        assert!(check(V2, Compatibility::Backward).is_ok());
        let err = check(V3, Compatibility::Backward).unwrap_err();
        assert!(err.contains("version 1"), "{err}");
        assert!(check(V3, Compatibility::None).is_ok());
        assert!(check(V3, Compatibility::Forward).is_ok());
        assert!(check(V3, Compatibility::Full).is_err());
        let json = check_compatible(&state, "s", "{}", SchemaType::Json, Compatibility::None);
        assert!(json.is_ok(), "NONE compares nothing");
    }

    #[test]
    fn schemas_written_differently_are_the_same_schema() {
        let avro = SchemaType::Avro;
        let a = canonical(r#"{"name":"user_id"  ,"type": "int"   }"#, avro).unwrap();
        let b = canonical(r#""int""#, avro).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            canonical("nope", avro).unwrap_err().code,
            ErrorCode::InvalidSchema
        );
        let json = SchemaType::Json;
        assert_eq!(
            canonical(r#"{"type": "object", "required": []}"#, json).unwrap(),
            canonical(r#"{"required":[],"type":"object"}"#, json).unwrap()
        );
        assert_ne!(canonical(r#"{"type": "integer"}"#, json).ok(), Some(b));
    }
}
