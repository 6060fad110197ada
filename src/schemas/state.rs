//! The registry's state, a fold of the `_schemas` log in log order, and
//! the canonical form that makes two spellings of one schema one schema.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use gateway_codecs::jsonschema::JsonSchemaCodec;
use gateway_codecs::Referenced;

use super::types::*;
use crate::error::{ApiError, ErrorCode};

/// The registry's state: a fold of the `_schemas` log.
#[derive(Debug, Default)]
pub struct State {
    pub schemas: HashMap<u32, Arc<StoredSchema>>,
    pub by_canonical: HashMap<String, u32>,
    pub subjects: BTreeMap<String, Vec<SubjectVersion>>,
    pub global: Option<Compatibility>,
    pub subject_config: HashMap<String, Compatibility>,
    pub global_mode: Option<Mode>,
    pub subject_mode: HashMap<String, Mode>,
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
        schema: Submitted,
        deleted: bool,
    ) {
        let canonical = self
            .canonical(&schema)
            .map(|(canonical, _)| canonical)
            .unwrap_or_else(|_| schema.text.clone());
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
                schema_type: schema.schema_type,
                text: schema.text,
                references: schema.references,
                canonical,
            })
        });
    }

    /// The schemas `references` bring in, transitively, dependencies
    /// first: what a codec needs to compile the referring schema.
    pub fn resolve(&self, references: &[Reference]) -> Result<Vec<Referenced>, ApiError> {
        let mut out = Vec::new();
        self.resolve_into(references, &mut out, 0)?;
        Ok(out)
    }

    fn resolve_into(
        &self,
        references: &[Reference],
        out: &mut Vec<Referenced>,
        depth: usize,
    ) -> Result<(), ApiError> {
        const MAX_DEPTH: usize = 32;
        if depth > MAX_DEPTH {
            return Err(ApiError::new(
                ErrorCode::InvalidSchema,
                format!("references nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        for reference in references {
            let schema = self.referenced(reference).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidSchema,
                    format!(
                        "reference {:?} names version {} of subject {:?}, which does not exist",
                        reference.name, reference.version, reference.subject
                    ),
                )
            })?;
            self.resolve_into(&schema.references, out, depth + 1)?;
            if !out.iter().any(|r| r.name == reference.name) {
                out.push(Referenced {
                    name: reference.name.clone(),
                    schema: schema.text.clone(),
                });
            }
        }
        Ok(())
    }

    /// The schema a reference names (soft-deleted versions included: the
    /// schemas that reference them still need them).
    fn referenced(&self, reference: &Reference) -> Option<&Arc<StoredSchema>> {
        let versions = self.subjects.get(&reference.subject)?;
        let v = versions.iter().find(|v| v.version == reference.version)?;
        self.schemas.get(&v.id)
    }

    /// Checks that `schema` compiles with its references, and returns its
    /// canonical form and the resolved references.
    pub fn canonical(&self, schema: &Submitted) -> Result<(String, Vec<Referenced>), ApiError> {
        let resolved = self.resolve(&schema.references)?;
        let canonical = canonical(schema, &resolved)?;
        Ok((canonical, resolved))
    }

    /// The ids of subject versions that reference `subject` `version`:
    /// the live ones, or with `include_deleted` the soft-deleted ones too.
    pub fn referenced_by(&self, subject: &str, version: u32, include_deleted: bool) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .subjects
            .values()
            .flatten()
            .filter(|v| include_deleted || !v.deleted)
            .filter(|v| {
                self.schemas[&v.id]
                    .references
                    .iter()
                    .any(|r| r.subject == subject && r.version == version)
            })
            .map(|v| v.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Applies a hard delete (tombstone) of a subject version. As in
    /// Confluent's registry, a schema no subject version uses any more is
    /// gone by id too (codecs already built for it keep decoding).
    pub fn remove_version(&mut self, subject: &str, version: u32) {
        let Some(versions) = self.subjects.get_mut(subject) else {
            return;
        };
        let Some(id) = versions.iter().find(|v| v.version == version).map(|v| v.id) else {
            return;
        };
        versions.retain(|v| v.version != version);
        if versions.is_empty() {
            self.subjects.remove(subject);
        }
        if !self.subjects.values().flatten().any(|v| v.id == id) {
            if let Some(schema) = self.schemas.remove(&id) {
                if self.by_canonical.get(&schema.canonical) == Some(&id) {
                    self.by_canonical.remove(&schema.canonical);
                }
            }
        }
    }

    pub fn live_versions(&self, subject: &str) -> Vec<SubjectVersion> {
        self.subjects
            .get(subject)
            .map(|v| v.iter().filter(|v| !v.deleted).copied().collect())
            .unwrap_or_default()
    }

    /// A subject's versions that `filter` admits, in order.
    pub fn versions(&self, subject: &str, filter: Deleted) -> Vec<SubjectVersion> {
        self.subjects
            .get(subject)
            .map(|v| v.iter().filter(|v| filter.admits(v)).copied().collect())
            .unwrap_or_default()
    }

    /// The mode that applies to `subject` (the global one for `None`).
    pub fn mode(&self, subject: Option<&str>) -> Mode {
        let global = self.global_mode.unwrap_or(Mode::Readwrite);
        if global == Mode::ReadonlyOverride {
            return global;
        }
        subject
            .and_then(|s| self.subject_mode.get(s).copied())
            .unwrap_or(global)
    }

    pub fn compatibility(&self, subject: &str) -> Compatibility {
        self.subject_config
            .get(subject)
            .copied()
            .or(self.global)
            .unwrap_or(Compatibility::Backward)
    }
}

/// A schema's canonical form, prefixed by its type and followed by its
/// references: Avro's parsing canonical form (referenced types written
/// out); for JSON Schema, the JSON with sorted keys and no whitespace; for
/// Protobuf, the text with whitespace runs collapsed. The schema is also
/// checked to compile, with `resolved` (its references' closure).
pub fn canonical(schema: &Submitted, resolved: &[Referenced]) -> Result<String, ApiError> {
    let invalid = |e: String| ApiError::new(ErrorCode::InvalidSchema, e);
    let text = &schema.text;
    let form = match schema.schema_type {
        SchemaType::Avro => gateway_codecs::avro::parse(text, resolved)
            .map(|s| s.canonical_form())
            .map_err(|e| invalid(format!("invalid Avro schema: {e}")))?,
        SchemaType::Json => {
            JsonSchemaCodec::with_references(text, resolved, 0)
                .map_err(|e| invalid(format!("invalid JSON schema: {e}")))?;
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
            value.to_string()
        }
        SchemaType::Protobuf => {
            gateway_codecs::protobuf::compile(text, resolved)
                .map_err(|e| invalid(format!("invalid Protobuf schema: {e}")))?;
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    };
    let mut out = format!("{}:{form}", schema.schema_type.name());
    if !schema.references.is_empty() {
        out.push_str(" references:");
        out.push_str(&serde_json::to_string(&schema.references).expect("serializes"));
    }
    Ok(out)
}
