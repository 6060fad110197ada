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

pub mod compatibility;
pub mod log;
pub mod naming;
pub mod remote;
mod state;
mod types;

pub use state::{canonical, State};
pub use types::*;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gateway_codecs::avro::AvroCodec;
use gateway_codecs::jsonschema::JsonSchemaCodec;
use gateway_codecs::{Codec, Format, Referenced};
use parking_lot::RwLock;

use crate::error::{ApiError, ErrorCode};
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
    /// `kafka`: the connection settings of the cluster that holds
    /// `_schemas` ([`crate::config::KafkaConfig::connection_settings`]).
    pub fn start(kafka: &[(String, String)], timeout: Duration) -> Result<Registry, ApiError> {
        let state = Arc::new(RwLock::new(State::default()));
        let log = log::SchemaLog::start(kafka, Arc::clone(&state), timeout)?;
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

    /// Registers `schema` under `subject` (or finds it there), checking
    /// its references and compatibility. Idempotent.
    pub async fn register(
        &self,
        subject: &str,
        schema: &Submitted,
    ) -> Result<Registered, ApiError> {
        self.register_as(subject, schema, Given::default()).await
    }

    /// [`Registry::register`], with the id and version a client may give:
    /// kept in IMPORT mode (no compatibility check then), refused in any
    /// other mode unless they are what the registry would answer anyway.
    pub async fn register_as(
        &self,
        subject: &str,
        schema: &Submitted,
        given: Given,
    ) -> Result<Registered, ApiError> {
        for _attempt in 0..5 {
            self.log.catch_up().await?;
            let (canonical, id, version) = {
                let state = self.state.read();
                let mode = state.mode(Some(subject));
                if mode.is_read_only() {
                    return Err(read_only(subject));
                }
                let (canonical, _) = state.canonical(schema)?;
                let import = mode == Mode::Import;
                if let Some(found) = find_in_subject(&state, subject, &canonical) {
                    if given.id.is_none_or(|id| id == found.id)
                        && given.version.is_none_or(|v| v == found.version)
                    {
                        return Ok(found);
                    }
                }
                if !import && (given.id.is_some() || given.version.is_some()) {
                    return Err(ApiError::new(
                        ErrorCode::OperationNotPermitted,
                        format!(
                            "Subject '{subject}' is not in IMPORT mode: a registration cannot choose its id or version"
                        ),
                    ));
                }
                if import && given.id.is_none() {
                    return Err(ApiError::new(
                        ErrorCode::OperationNotPermitted,
                        format!(
                            "Subject '{subject}' is in IMPORT mode: a registration must give the schema's id"
                        ),
                    ));
                }
                if let Some(id) = given.id {
                    if id == 0 || id > i32::MAX as u32 {
                        return Err(ApiError::new(
                            ErrorCode::InvalidSchema,
                            format!("Invalid schema id {id}"),
                        ));
                    }
                    if let Some(existing) = state.schemas.get(&id) {
                        if existing.canonical != canonical {
                            return Err(ApiError::new(
                                ErrorCode::OperationNotPermitted,
                                format!("Overwrite new schema with id {id} is not permitted: the id names another schema"),
                            ));
                        }
                    }
                }
                let all = state.versions(subject, Deleted::Include);
                let version = match given.version {
                    Some(v) => {
                        if all.iter().any(|x| x.version == v) {
                            return Err(ApiError::new(
                                ErrorCode::OperationNotPermitted,
                                format!("Subject '{subject}' already has a version {v}"),
                            ));
                        }
                        v
                    }
                    None => all.last().map_or(1, |v| v.version + 1),
                };
                if !import {
                    let level = state.compatibility(subject);
                    compatibility::check(&state, subject, schema, level, None)
                        .map_err(|m| ApiError::new(ErrorCode::IncompatibleSchema, m))?;
                }
                let id = given
                    .id
                    .or_else(|| state.by_canonical.get(&canonical).copied());
                (canonical, id, version)
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
                .write_schema(subject, version, id, schema, false)
                .await?;
            let state = self.state.read();
            if let Some(found) = find_in_subject(&state, subject, &canonical) {
                if given.id.is_none_or(|id| id == found.id) {
                    return Ok(found);
                }
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
    /// `format` (any format for `None`).
    pub async fn codec(&self, id: u32, format: Option<Format>) -> Result<Arc<dyn Codec>, ApiError> {
        if let Some(codec) = self.codecs.read().get(&id) {
            return check_format(id, Arc::clone(codec), format);
        }
        let schema = self.schema_fresh(id).await?;
        let resolved = self.state.read().resolve(&schema.references)?;
        let codec = build_codec(id, schema.schema_type, &schema.text, &resolved)?;
        self.codecs.write().insert(id, Arc::clone(&codec));
        check_format(id, codec, format)
    }

    /// Deletes versions of a subject: softly (they stay readable by id and
    /// in the log, marked deleted) or, if already soft-deleted, for good.
    /// `version` `None` means every version. Returns the versions deleted.
    /// The errors are Confluent's: 40401, 40402, 40404 to 40407, 42206.
    pub async fn delete(
        &self,
        subject: &str,
        version: Option<VersionSpec>,
        permanent: bool,
    ) -> Result<Vec<u32>, ApiError> {
        self.log.catch_up().await?;
        let targets: Vec<SubjectVersion> = {
            let state = self.state.read();
            if state.mode(Some(subject)).is_read_only() {
                return Err(read_only(subject));
            }
            let all = state.versions(subject, Deleted::Include);
            if all.is_empty() {
                return Err(subject_not_found(subject));
            }
            let chosen: Vec<SubjectVersion> = match version {
                None if permanent => {
                    if all.iter().any(|v| !v.deleted) {
                        return Err(ApiError::new(
                            ErrorCode::NotSoftDeleted,
                            format!("Subject '{subject}' was not deleted first before being permanently deleted"),
                        ));
                    }
                    all
                }
                None => {
                    let live: Vec<SubjectVersion> =
                        all.into_iter().filter(|v| !v.deleted).collect();
                    if live.is_empty() {
                        return Err(ApiError::new(
                            ErrorCode::SubjectSoftDeleted,
                            format!("Subject '{subject}' was soft deleted.Set permanent=true to delete permanently"),
                        ));
                    }
                    live
                }
                Some(spec) => {
                    let found = match spec {
                        VersionSpec::Latest if permanent => all.last().copied(),
                        // The newest live one, as Confluent reads `latest`.
                        VersionSpec::Latest => all.iter().rev().find(|v| !v.deleted).copied(),
                        VersionSpec::Number(n) => all.iter().find(|v| v.version == n).copied(),
                    };
                    let v = found.ok_or_else(|| version_not_found(spec))?;
                    if permanent && !v.deleted {
                        return Err(ApiError::new(
                            ErrorCode::VersionNotSoftDeleted,
                            format!("Subject '{subject}' Version {} was not deleted first before being permanently deleted", v.version),
                        ));
                    }
                    if !permanent && v.deleted {
                        return Err(ApiError::new(
                            ErrorCode::VersionSoftDeleted,
                            format!("Subject '{subject}' Version {} was soft deleted.Set permanent=true to delete permanently", v.version),
                        ));
                    }
                    vec![v]
                }
            };
            for v in &chosen {
                let users = state.referenced_by(subject, v.version, permanent);
                if !users.is_empty() {
                    return Err(ApiError::new(
                        ErrorCode::ReferenceExists,
                        format!(
                            "One or more references exist to the schema {{magic=1,keytype=SCHEMA,subject={subject},version={}}}: schemas {users:?}",
                            v.version
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
                let schema = self.schema(v.id)?.submitted();
                self.log
                    .write_schema(subject, v.version, v.id, &schema, true)
                    .await?;
            }
        }
        // A deleted subject's own level and mode go with it.
        if version.is_none() {
            let (level, mode) = {
                let state = self.state.read();
                (
                    state.subject_config.contains_key(subject),
                    state.subject_mode.contains_key(subject),
                )
            };
            if level {
                self.log.write_config(Some(subject), None).await?;
            }
            if mode {
                self.log.write_mode(Some(subject), None).await?;
            }
        }
        Ok(targets.iter().map(|v| v.version).collect())
    }

    /// Sets the mode of a subject, or the global one; `None` removes a
    /// subject's own mode. IMPORT over existing schemas needs `force`, as
    /// in Confluent's registry.
    pub async fn set_mode(
        &self,
        subject: Option<&str>,
        mode: Option<Mode>,
        force: bool,
    ) -> Result<(), ApiError> {
        self.log.catch_up().await?;
        if mode == Some(Mode::Import) && !force {
            let state = self.state.read();
            let existing = match subject {
                Some(s) => !state.versions(s, Deleted::Include).is_empty(),
                None => !state.subjects.is_empty(),
            };
            if existing {
                return Err(ApiError::new(
                    ErrorCode::OperationNotPermitted,
                    "Cannot import since found existing subjects (set force=true to import anyway)",
                ));
            }
        }
        self.log.write_mode(subject, mode).await
    }

    /// Sets the compatibility level of a subject, or the global one.
    pub async fn set_compatibility(
        &self,
        subject: Option<&str>,
        level: Compatibility,
    ) -> Result<(), ApiError> {
        self.log.write_config(subject, Some(level)).await
    }

    /// Removes the global level; the default (BACKWARD) applies again.
    pub async fn clear_global_compatibility(&self) -> Result<(), ApiError> {
        self.log.write_config(None, None).await
    }

    /// Removes a subject's own compatibility level.
    pub async fn clear_compatibility(&self, subject: &str) -> Result<(), ApiError> {
        self.log.write_config(Some(subject), None).await
    }
}

/// The id and version a registration may give (IMPORT mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Given {
    pub id: Option<u32>,
    pub version: Option<u32>,
}

pub fn subject_not_found(subject: &str) -> ApiError {
    ApiError::new(
        ErrorCode::SubjectNotFound,
        format!("Subject '{subject}' not found."),
    )
}

pub fn version_not_found(spec: VersionSpec) -> ApiError {
    let shown = match spec {
        VersionSpec::Latest => "latest".to_string(),
        VersionSpec::Number(n) => n.to_string(),
    };
    ApiError::new(
        ErrorCode::VersionNotFound,
        format!("Version {shown} not found."),
    )
}

fn read_only(subject: &str) -> ApiError {
    ApiError::new(
        ErrorCode::OperationNotPermitted,
        format!("Subject {subject} is in read-only mode"),
    )
}

/// The registry produce requests use: the embedded one, or an external one
/// (`schema_registry.url`).
#[derive(Clone, Copy)]
pub enum Schemas<'a> {
    Embedded(&'a Registry),
    Remote(&'a remote::RemoteRegistry),
}

impl Schemas<'_> {
    /// The codec for schema `id`, if it encodes `format` (any for `None`).
    pub async fn codec(&self, id: u32, format: Option<Format>) -> Result<Arc<dyn Codec>, ApiError> {
        match self {
            Schemas::Embedded(r) => r.codec(id, format).await,
            Schemas::Remote(r) => r.codec(id, format).await,
        }
    }

    /// Registers (or finds) a schema without references under `subject`:
    /// its id, and its version where known.
    pub async fn register(
        &self,
        subject: &str,
        text: &str,
        schema_type: SchemaType,
    ) -> Result<(u32, Option<u32>), ApiError> {
        match self {
            Schemas::Embedded(r) => {
                let registered = r
                    .register(subject, &Submitted::plain(schema_type, text))
                    .await?;
                Ok((registered.id, Some(registered.version)))
            }
            Schemas::Remote(r) => Ok((r.register(subject, text, schema_type).await?, None)),
        }
    }

    /// The id and version of `subject`'s `version` (the latest for `None`).
    pub async fn version(
        &self,
        subject: &str,
        version: Option<u32>,
    ) -> Result<(u32, u32), ApiError> {
        match self {
            Schemas::Embedded(r) => {
                let found = {
                    let state = r.state();
                    let versions = state.live_versions(subject);
                    match version {
                        None => versions.last().copied(),
                        Some(n) => versions.iter().find(|v| v.version == n).copied(),
                    }
                };
                match found {
                    Some(v) => Ok((v.id, v.version)),
                    None if r.state().live_versions(subject).is_empty() => Err(ApiError::new(
                        ErrorCode::SubjectNotFound,
                        format!("Subject '{subject}' not found."),
                    )),
                    None => Err(ApiError::new(
                        ErrorCode::VersionNotFound,
                        format!(
                            "Version {} of subject '{subject}' not found.",
                            version.unwrap_or(0)
                        ),
                    )),
                }
            }
            Schemas::Remote(r) => r.version(subject, version).await,
        }
    }
}

/// Compiles a schema, with its resolved references, into its codec.
pub(crate) fn build_codec(
    id: u32,
    schema_type: SchemaType,
    text: &str,
    references: &[Referenced],
) -> Result<Arc<dyn Codec>, ApiError> {
    use gateway_codecs::protobuf::ProtobufCodec;
    let invalid =
        |e: gateway_codecs::CodecError| ApiError::new(ErrorCode::InvalidSchema, e.to_string());
    Ok(match schema_type {
        SchemaType::Avro => {
            Arc::new(AvroCodec::with_references(text, references, id).map_err(invalid)?)
        }
        SchemaType::Json => {
            Arc::new(JsonSchemaCodec::with_references(text, references, id).map_err(invalid)?)
        }
        SchemaType::Protobuf => {
            Arc::new(ProtobufCodec::with_references(text, references, id).map_err(invalid)?)
        }
    })
}

pub(crate) fn check_format(
    id: u32,
    codec: Arc<dyn Codec>,
    format: Option<Format>,
) -> Result<Arc<dyn Codec>, ApiError> {
    let Some(format) = format else {
        return Ok(codec);
    };
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

    fn avro(text: &str) -> Submitted {
        Submitted::plain(SchemaType::Avro, text)
    }

    #[test]
    fn the_first_record_for_an_id_or_a_version_wins() {
        let mut state = State::default();
        state.apply_schema("s", 1, 1, avro(V1), false);
        state.apply_schema("s", 1, 2, avro(V2), false); // same version, other id
        state.apply_schema("t", 1, 1, avro(V2), false); // same id, other schema
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
    fn schemas_written_differently_are_the_same_schema() {
        let canonical = |s: Submitted| canonical(&s, &[]);
        let a = canonical(avro(r#"{"name":"user_id"  ,"type": "int"   }"#)).unwrap();
        let b = canonical(avro(r#""int""#)).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            canonical(avro("nope")).unwrap_err().code,
            ErrorCode::InvalidSchema
        );
        let json = |t: &str| Submitted::plain(SchemaType::Json, t);
        assert_eq!(
            canonical(json(r#"{"type": "object", "required": []}"#)).unwrap(),
            canonical(json(r#"{"required":[],"type":"object"}"#)).unwrap()
        );
        assert_ne!(canonical(json(r#"{"type": "integer"}"#)).ok(), Some(b));
    }

    const ADDRESS: &str = r#"{"type":"record","name":"Address","namespace":"shop","fields":[{"name":"city","type":"string"}]}"#;
    const CUSTOMER: &str = r#"{"type":"record","name":"Customer","namespace":"shop","fields":[{"name":"home","type":"Address"}]}"#;

    fn customer(version: u32) -> Submitted {
        Submitted {
            schema_type: SchemaType::Avro,
            text: CUSTOMER.into(),
            references: vec![Reference {
                name: "shop.Address".into(),
                subject: "address".into(),
                version,
            }],
        }
    }

    #[test]
    fn references_resolve_transitively_and_are_part_of_a_schemas_identity() {
        let mut state = State::default();
        state.apply_schema("address", 1, 1, avro(ADDRESS), false);
        let (with_ref, resolved) = state.canonical(&customer(1)).unwrap();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].name, "shop.Address");
        assert!(with_ref.contains("shop.Address"), "{with_ref}");
        state.apply_schema("customer", 1, 2, customer(1), false);
        assert_eq!(state.schemas[&2].references, customer(1).references);
        assert_eq!(state.by_canonical[&with_ref], 2);
        // A schema referencing the customer brings in the address too.
        let order = Submitted {
            schema_type: SchemaType::Avro,
            text: r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"by","type":"Customer"}]}"#.into(),
            references: vec![Reference {
                name: "shop.Customer".into(),
                subject: "customer".into(),
                version: 1,
            }],
        };
        let (_, resolved) = state.canonical(&order).unwrap();
        let names: Vec<&str> = resolved.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["shop.Address", "shop.Customer"]);
        // A reference to a version that does not exist is an invalid schema.
        let err = state.canonical(&customer(9)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidSchema);
        assert!(err.message.contains("version 9"), "{}", err.message);
        // Who references what.
        assert_eq!(state.referenced_by("address", 1, false), [2]);
        assert!(state.referenced_by("customer", 1, false).is_empty());
        state.apply_schema("customer", 1, 2, customer(1), true);
        assert!(state.referenced_by("address", 1, false).is_empty());
        assert_eq!(state.referenced_by("address", 1, true), [2]);
    }
}
