//! The registry's vocabulary: compatibility levels, modes, versions, schema
//! types, references, and a schema as submitted and as stored.

use gateway_codecs::Format;
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

impl Compatibility {
    /// Parses a level as Confluent does: its name, in any case.
    pub fn parse(name: &str) -> Option<Compatibility> {
        serde_json::from_value(serde_json::Value::String(name.to_ascii_uppercase())).ok()
    }
}

/// Registry modes, as Confluent names them: READONLY (and
/// READONLY_OVERRIDE, which a subject's own mode cannot lift) refuses
/// writes; IMPORT lets registrations keep the ids and versions they give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    Readwrite,
    Readonly,
    ReadonlyOverride,
    Import,
}

impl Mode {
    pub fn parse(name: &str) -> Option<Mode> {
        serde_json::from_value(serde_json::Value::String(name.to_ascii_uppercase())).ok()
    }

    pub fn is_read_only(self) -> bool {
        matches!(self, Mode::Readonly | Mode::ReadonlyOverride)
    }
}

/// Which versions a lookup sees: Confluent's `deleted` and `deletedOnly`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Exclude,
    Include,
    Only,
}

impl Deleted {
    pub fn admits(self, v: &SubjectVersion) -> bool {
        match self {
            Deleted::Exclude => !v.deleted,
            Deleted::Include => true,
            Deleted::Only => v.deleted,
        }
    }
}

/// A version as a path names it: a positive integer, or `latest` (`-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    Latest,
    Number(u32),
}

impl VersionSpec {
    /// Parses a path's version; anything else is 42202, as Confluent.
    pub fn parse(raw: &str) -> Result<VersionSpec, ApiError> {
        match raw {
            "latest" | "-1" => Ok(VersionSpec::Latest),
            n => match n.parse::<i32>() {
                Ok(n) if n > 0 && !raw.starts_with('+') => Ok(VersionSpec::Number(n as u32)),
                _ => Err(ApiError::new(
                    ErrorCode::InvalidVersion,
                    format!(
                        "The specified version '{raw}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
                    ),
                )),
            },
        }
    }
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

    /// The schema type of a schema record format (Avro for the others).
    pub fn of(format: Format) -> SchemaType {
        match format {
            Format::JsonSchema => SchemaType::Json,
            Format::Protobuf => SchemaType::Protobuf,
            _ => SchemaType::Avro,
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

/// A reference from one schema to another registered one, as Confluent
/// writes it: `name` is how the referring schema names it (an Avro full
/// type name, a Protobuf import path, a JSON Schema `$ref`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

/// A schema as a client submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub schema_type: SchemaType,
    pub text: String,
    pub references: Vec<Reference>,
}

impl Submitted {
    /// A schema with no references.
    pub fn plain(schema_type: SchemaType, text: impl Into<String>) -> Submitted {
        Submitted {
            schema_type,
            text: text.into(),
            references: Vec::new(),
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
    pub references: Vec<Reference>,
    /// Canonical form (with its type and references), to find the same
    /// schema written differently.
    pub canonical: String,
}

impl StoredSchema {
    pub fn submitted(&self) -> Submitted {
        Submitted {
            schema_type: self.schema_type,
            text: self.text.clone(),
            references: self.references.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubjectVersion {
    pub version: u32,
    pub id: u32,
    pub deleted: bool,
}
