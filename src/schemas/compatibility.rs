//! Compatibility checks on registration, by Confluent's levels: BACKWARD
//! (the new schema reads data written with the old), FORWARD (the old reads
//! the new), FULL (both), each against the latest version or, in the
//! TRANSITIVE forms, against every live version.
//!
//! - Avro: Avro's schema resolution rules (apache-avro's checker).
//! - Protobuf: wire compatibility of the message records use (the first in
//!   the file) and the messages it holds, by field number: kinds must stay
//!   in one wire-compatible group, named types keep their names, the
//!   reader requires no proto2 field the writer may leave out, and a field
//!   may not leave a oneof nor several join one.
//! - JSON Schema: every document the writer's schema accepts must be
//!   accepted by the reader's: types may only widen (integer to number),
//!   bounds only loosen, `required` and `enum` only shrink and grow, and a
//!   property may not be added to an open content model or removed from a
//!   closed one (Confluent's rules). Keywords the checker does not reason
//!   about must stay as they were.

use gateway_codecs::protobuf::prost_reflect;

use super::{Compatibility, State, SubjectVersion, Submitted};
use crate::schemas::SchemaType;

/// Which way data must flow between the old and the new schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The new schema reads what the old one wrote.
    Backward,
    /// The old schema reads what the new one writes.
    Forward,
    Both,
}

/// Checks `new` against the subject's live versions under `level`, or
/// against version `only` alone (the level's direction, not its
/// transitivity, then applies). The error names the version and the
/// problem.
pub fn check(
    state: &State,
    subject: &str,
    new: &Submitted,
    level: Compatibility,
    only: Option<SubjectVersion>,
) -> Result<(), String> {
    let direction = match level {
        Compatibility::None => return Ok(()),
        Compatibility::Backward | Compatibility::BackwardTransitive => Direction::Backward,
        Compatibility::Forward | Compatibility::ForwardTransitive => Direction::Forward,
        Compatibility::Full | Compatibility::FullTransitive => Direction::Both,
    };
    let versions = state.live_versions(subject);
    let against: Vec<SubjectVersion> = match (only, level) {
        (Some(v), _) => vec![v],
        (None, Compatibility::Backward | Compatibility::Forward | Compatibility::Full) => {
            versions.last().copied().into_iter().collect()
        }
        (None, _) => versions,
    };
    if against.is_empty() {
        return Ok(());
    }
    let new_resolved = state.resolve(&new.references).map_err(|e| e.message)?;
    for v in against {
        let old = &state.schemas[&v.id];
        if old.schema_type != new.schema_type {
            return Err(format!(
                "version {} is a {} schema, not {}",
                v.version,
                old.schema_type.name(),
                new.schema_type.name()
            ));
        }
        let old_resolved = state.resolve(&old.references).map_err(|e| e.message)?;
        let checker = match new.schema_type {
            SchemaType::Avro => avro,
            SchemaType::Protobuf => protobuf,
            SchemaType::Json => json,
        };
        let result = checker(
            Side {
                text: &old.text,
                references: &old_resolved,
            },
            Side {
                text: &new.text,
                references: &new_resolved,
            },
            direction,
        );
        result.map_err(|e| format!("incompatible with version {}: {e}", v.version))?;
    }
    Ok(())
}

/// A schema to compare: its text and its resolved references.
#[derive(Clone, Copy)]
struct Side<'a> {
    text: &'a str,
    references: &'a [gateway_codecs::Referenced],
}

fn avro(old: Side<'_>, new: Side<'_>, direction: Direction) -> Result<(), String> {
    use apache_avro::schema_compatibility::SchemaCompatibility as C;
    let parse = |side: Side<'_>| {
        gateway_codecs::avro::parse(side.text, side.references).map_err(|e| e.to_string())
    };
    let (old, new) = (parse(old)?, parse(new)?);
    let result = match direction {
        Direction::Backward => C::can_read(&old, &new),
        Direction::Forward => C::can_read(&new, &old),
        Direction::Both => C::mutual_read(&old, &new),
    };
    result.map_err(|e| e.to_string())
}

/// Runs `reads(writer, reader)` in the directions asked for.
fn directed<T>(
    old: &T,
    new: &T,
    direction: Direction,
    reads: impl Fn(&T, &T) -> Result<(), String>,
) -> Result<(), String> {
    if matches!(direction, Direction::Backward | Direction::Both) {
        reads(old, new).map_err(|e| format!("the new schema cannot read old data: {e}"))?;
    }
    if matches!(direction, Direction::Forward | Direction::Both) {
        reads(new, old).map_err(|e| format!("the old schema cannot read new data: {e}"))?;
    }
    Ok(())
}

fn protobuf(old: Side<'_>, new: Side<'_>, direction: Direction) -> Result<(), String> {
    let compile = |side: Side<'_>| {
        gateway_codecs::protobuf::compile(side.text, side.references).map_err(|e| e.to_string())
    };
    let (old, new) = (compile(old)?, compile(new)?);
    directed(&old, &new, direction, |writer, reader| {
        proto_message(writer, reader, &mut Vec::new())
    })
}

/// Whether `reader` reads messages written as `writer`.
fn proto_message(
    writer: &prost_reflect::MessageDescriptor,
    reader: &prost_reflect::MessageDescriptor,
    seen: &mut Vec<(String, String)>,
) -> Result<(), String> {
    use prost_reflect::Kind;
    let pair = (
        writer.full_name().to_string(),
        reader.full_name().to_string(),
    );
    if seen.contains(&pair) {
        return Ok(());
    }
    seen.push(pair);
    if writer.full_name() != reader.full_name() {
        return Err(format!(
            "message {} became {}",
            writer.full_name(),
            reader.full_name()
        ));
    }
    let name = reader.full_name();
    for field in reader.fields() {
        let number = field.number();
        match writer.get_field(number) {
            None if field.is_required() => {
                return Err(format!(
                    "{name}: required field {} ({number}) is new",
                    field.name()
                ))
            }
            None => {}
            Some(old) => {
                let at = format!("{name}: field {} ({number})", field.name());
                let repeated = |f: &prost_reflect::FieldDescriptor| f.is_list() || f.is_map();
                if repeated(&old) != repeated(&field) {
                    let length_delimited =
                        |k: &Kind| matches!(k, Kind::String | Kind::Bytes | Kind::Message(_));
                    if old.is_map()
                        || field.is_map()
                        || !length_delimited(&old.kind())
                        || !length_delimited(&field.kind())
                    {
                        return Err(format!("{at} changed between repeated and single"));
                    }
                }
                if old.is_required() != field.is_required() && field.is_required() {
                    return Err(format!("{at} became required"));
                }
                match (old.kind(), field.kind()) {
                    (Kind::Message(w), Kind::Message(r)) => proto_message(&w, &r, seen)?,
                    (Kind::Enum(w), Kind::Enum(r)) if w.full_name() != r.full_name() => {
                        return Err(format!(
                            "{at} changed type from {} to {}",
                            w.full_name(),
                            r.full_name()
                        ))
                    }
                    (w, r) if wire_group(&w) != wire_group(&r) => {
                        return Err(format!(
                            "{at} changed type from {} to {}",
                            kind_name(&w),
                            kind_name(&r)
                        ))
                    }
                    _ => {}
                }
            }
        }
    }
    for old in writer.fields() {
        // A field the reader does not know is skipped, required or not.
        match reader.get_field(old.number()) {
            None => {}
            Some(new) => {
                let oneof = |f: &prost_reflect::FieldDescriptor| {
                    f.containing_oneof().filter(|o| !o.is_synthetic())
                };
                if oneof(&old).is_some() && oneof(&new).is_none() {
                    return Err(format!(
                        "{name}: field {} ({}) left its oneof",
                        new.name(),
                        new.number()
                    ));
                }
            }
        }
    }
    // Several plain fields moved into one oneof: data may set them all.
    for oneof in reader.oneofs().filter(|o| !o.is_synthetic()) {
        let moved = oneof
            .fields()
            .filter(|f| {
                writer
                    .get_field(f.number())
                    .is_some_and(|w| w.containing_oneof().is_none_or(|o| o.is_synthetic()))
            })
            .count();
        if moved > 1 {
            return Err(format!(
                "{name}: {moved} existing fields moved into oneof {}",
                oneof.name()
            ));
        }
    }
    Ok(())
}

/// Protobuf kinds that read each other's wire encoding.
fn wire_group(kind: &prost_reflect::Kind) -> u8 {
    use prost_reflect::Kind;
    match kind {
        Kind::Int32 | Kind::Int64 | Kind::Uint32 | Kind::Uint64 | Kind::Bool | Kind::Enum(_) => 0,
        Kind::Sint32 | Kind::Sint64 => 1,
        Kind::Fixed32 | Kind::Sfixed32 => 2,
        Kind::Fixed64 | Kind::Sfixed64 => 3,
        Kind::String | Kind::Bytes => 4,
        Kind::Float => 5,
        Kind::Double => 6,
        Kind::Message(_) => 7,
    }
}

fn kind_name(kind: &prost_reflect::Kind) -> String {
    match kind {
        prost_reflect::Kind::Message(m) => m.full_name().to_string(),
        prost_reflect::Kind::Enum(e) => e.full_name().to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn json(old: Side<'_>, new: Side<'_>, direction: Direction) -> Result<(), String> {
    let parse =
        |text: &str| serde_json::from_str::<serde_json::Value>(text).map_err(|e| e.to_string());
    let documents = |side: Side<'_>| {
        let mut docs = vec![(String::new(), parse(side.text)?)];
        for r in side.references {
            docs.push((r.name.clone(), parse(&r.schema)?));
        }
        Ok::<_, String>(docs)
    };
    let (old, new) = (documents(old)?, documents(new)?);
    directed(&old, &new, direction, |writer, reader| {
        let mut check = JsonCheck {
            writer,
            reader,
            depth: 0,
        };
        check.subset(0, &writer[0].1, 0, &reader[0].1, "#")
    })
}

/// The JSON Schema checker: a schema and its referenced documents on each
/// side (index 0 is the schema itself).
struct JsonCheck<'a> {
    writer: &'a [(String, serde_json::Value)],
    reader: &'a [(String, serde_json::Value)],
    depth: usize,
}

/// Keywords that do not constrain documents.
const JSON_ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "readOnly",
    "writeOnly",
    "deprecated",
    "definitions",
    "$defs",
];

/// Keywords the checker reasons about (`format` is an annotation unless a
/// validator is told otherwise).
const JSON_CHECKED: &[&str] = &[
    "format",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "$ref",
];

impl JsonCheck<'_> {
    /// Resolves a `$ref` in document `doc` to (document, schema).
    fn resolve<'b>(
        docs: &'b [(String, serde_json::Value)],
        doc: usize,
        reference: &str,
    ) -> Option<(usize, &'b serde_json::Value)> {
        let (target, pointer) = reference.split_once('#').unwrap_or((reference, ""));
        let doc = if target.is_empty() {
            doc
        } else {
            docs.iter().position(|(name, _)| {
                !name.is_empty() && (name == target || target.ends_with(&format!("/{name}")))
            })?
        };
        docs[doc].1.pointer(pointer).map(|schema| (doc, schema))
    }

    /// Whether every document `writer` accepts, `reader` accepts.
    fn subset(
        &mut self,
        wdoc: usize,
        writer: &serde_json::Value,
        rdoc: usize,
        reader: &serde_json::Value,
        path: &str,
    ) -> Result<(), String> {
        const MAX_DEPTH: usize = 64;
        // The same schema accepts the same documents, unless it refers
        // elsewhere (where the two sides may differ).
        if writer == reader && !writer.to_string().contains("$ref") {
            return Ok(());
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            // Recursive schemas: what was checked so far holds.
            self.depth -= 1;
            return Ok(());
        }
        let result = self.subset_inner(wdoc, writer, rdoc, reader, path);
        self.depth -= 1;
        result
    }

    fn subset_inner(
        &mut self,
        wdoc: usize,
        writer: &serde_json::Value,
        rdoc: usize,
        reader: &serde_json::Value,
        path: &str,
    ) -> Result<(), String> {
        use serde_json::Value;
        if let Some(r) = writer.get("$ref").and_then(Value::as_str) {
            let (doc, target) = Self::resolve(self.writer, wdoc, r)
                .ok_or_else(|| format!("{path}: cannot resolve $ref {r}"))?;
            return self.subset(doc, target, rdoc, reader, path);
        }
        if let Some(r) = reader.get("$ref").and_then(Value::as_str) {
            let (doc, target) = Self::resolve(self.reader, rdoc, r)
                .ok_or_else(|| format!("{path}: cannot resolve $ref {r}"))?;
            return self.subset(wdoc, writer, doc, target, path);
        }
        match (writer, reader) {
            (_, Value::Bool(true)) | (Value::Bool(false), _) => return Ok(()),
            (_, Value::Bool(false)) => return Err(format!("{path}: the reader accepts nothing")),
            (Value::Bool(true), r) if r.as_object().is_some_and(constrains) => {
                return Err(format!(
                    "{path}: the writer accepts anything, the reader does not"
                ))
            }
            (Value::Bool(true), _) => return Ok(()),
            _ => {}
        }
        let (Some(w), Some(r)) = (writer.as_object(), reader.as_object()) else {
            return Err(format!("{path}: not a schema"));
        };
        // Alternatives: each of the writer's must fit one of the reader's.
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = r.get(key).and_then(Value::as_array) {
                let writer_branches: Vec<&Value> = match w.get(key).and_then(Value::as_array) {
                    Some(b) => b.iter().collect(),
                    None => vec![writer],
                };
                let mut stripped_reader = r.clone();
                stripped_reader.remove(key);
                for (i, wb) in writer_branches.iter().enumerate() {
                    let fits = branches.iter().any(|rb| {
                        let mut probe = JsonCheck {
                            writer: self.writer,
                            reader: self.reader,
                            depth: self.depth,
                        };
                        probe.subset(wdoc, wb, rdoc, rb, path).is_ok()
                    });
                    if !fits {
                        return Err(format!(
                            "{path}: {key} alternative {i} of the writer fits none of the reader's"
                        ));
                    }
                }
                if w.get(key).is_some() {
                    let mut stripped_writer = w.clone();
                    stripped_writer.remove(key);
                    return self.subset(
                        wdoc,
                        &Value::Object(stripped_writer),
                        rdoc,
                        &Value::Object(stripped_reader),
                        path,
                    );
                }
                return self.subset(wdoc, writer, rdoc, &Value::Object(stripped_reader), path);
            }
        }
        // Types.
        let types = |o: &serde_json::Map<String, Value>| -> Option<Vec<String>> {
            match o.get("type")? {
                Value::String(t) => Some(vec![t.clone()]),
                Value::Array(ts) => Some(
                    ts.iter()
                        .filter_map(|t| t.as_str().map(String::from))
                        .collect(),
                ),
                _ => None,
            }
        };
        if let Some(reader_types) = types(r) {
            let writer_types = types(w).ok_or_else(|| {
                format!("{path}: the reader requires type {reader_types:?}, the writer allows any")
            })?;
            for t in &writer_types {
                let widened = t == "integer" && reader_types.iter().any(|r| r == "number");
                if !reader_types.contains(t) && !widened {
                    return Err(format!(
                        "{path}: type {writer_types:?} changed to {reader_types:?}"
                    ));
                }
            }
        }
        // Enumerations.
        let values = |o: &serde_json::Map<String, Value>| -> Option<Vec<Value>> {
            if let Some(c) = o.get("const") {
                return Some(vec![c.clone()]);
            }
            o.get("enum").and_then(Value::as_array).cloned()
        };
        if let Some(allowed) = values(r) {
            let written =
                values(w).ok_or_else(|| format!("{path}: the reader allows only {allowed:?}"))?;
            if let Some(v) = written.iter().find(|v| !allowed.contains(v)) {
                return Err(format!("{path}: value {v} is no longer allowed"));
            }
        }
        // Bounds: the reader's may only be looser.
        for (key, lower) in [
            ("minimum", true),
            ("exclusiveMinimum", true),
            ("minLength", true),
            ("minItems", true),
            ("minProperties", true),
            ("maximum", false),
            ("exclusiveMaximum", false),
            ("maxLength", false),
            ("maxItems", false),
            ("maxProperties", false),
        ] {
            let Some(rb) = r.get(key).and_then(Value::as_f64) else {
                continue;
            };
            let wb = w.get(key).and_then(Value::as_f64);
            let looser = wb.is_some_and(|wb| if lower { rb <= wb } else { rb >= wb });
            if !looser {
                return Err(format!("{path}: {key} tightened to {rb}"));
            }
        }
        let may_be = |t: &str| types(w).is_none_or(|ts| ts.iter().any(|x| x == t));
        if may_be("object") {
            self.object(wdoc, w, rdoc, r, path)?;
        }
        if may_be("array") {
            match (w.get("items"), r.get("items")) {
                (_, None) => {}
                (Some(wi), Some(ri)) if wi == ri && wdoc == rdoc => {}
                (Some(wi), Some(ri)) if is_schema(wi) && is_schema(ri) => {
                    self.subset(wdoc, wi, rdoc, ri, &format!("{path}/items"))?
                }
                (None, Some(ri)) if !constrains_value(ri) => {}
                _ => return Err(format!("{path}/items changed")),
            }
        }
        // Everything else must stay as it was.
        for (key, value) in r {
            if JSON_ANNOTATIONS.contains(&key.as_str()) || JSON_CHECKED.contains(&key.as_str()) {
                continue;
            }
            if w.get(key) != Some(value) {
                return Err(format!("{path}: {key} added or changed"));
            }
        }
        Ok(())
    }
}

impl JsonCheck<'_> {
    /// The object keywords: `required`, `properties` and the content model
    /// (`additionalProperties`).
    fn object(
        &mut self,
        wdoc: usize,
        w: &serde_json::Map<String, serde_json::Value>,
        rdoc: usize,
        r: &serde_json::Map<String, serde_json::Value>,
        path: &str,
    ) -> Result<(), String> {
        use serde_json::Value;
        let props = |o: &serde_json::Map<String, Value>| {
            o.get("properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let (wprops, rprops) = (props(w), props(r));
        let required = |o: &serde_json::Map<String, Value>| -> Vec<String> {
            o.get("required")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let wreq = required(w);
        if let Some(added) = required(r).into_iter().find(|p| !wreq.contains(p)) {
            return Err(format!("{path}: property {added} became required"));
        }
        let open = Value::Bool(true);
        let closed = Value::Bool(false);
        let wadd = w.get("additionalProperties").unwrap_or(&open);
        let radd = r.get("additionalProperties").unwrap_or(&open);
        for (name, rs) in &rprops {
            let at = format!("{path}/properties/{name}");
            match wprops.get(name) {
                Some(ws) => self.subset(wdoc, ws, rdoc, rs, &at)?,
                None if *wadd == closed || !constrains_value(rs) => {}
                None if *wadd == open => {
                    return Err(format!(
                        "{at}: property added to an open content model (old data may hold anything there)"
                    ))
                }
                None => self.subset(wdoc, wadd, rdoc, rs, &at)?,
            }
        }
        for (name, ws) in &wprops {
            if !rprops.contains_key(name) {
                let at = format!("{path}/properties/{name}");
                if *radd == closed {
                    return Err(format!(
                        "{at}: property removed from a closed content model"
                    ));
                }
                self.subset(wdoc, ws, rdoc, radd, &at)?;
            }
        }
        if *radd != open {
            self.subset(
                wdoc,
                wadd,
                rdoc,
                radd,
                &format!("{path}/additionalProperties"),
            )
            .map_err(|_| format!("{path}: the content model was closed or narrowed"))?;
        }
        Ok(())
    }
}

fn is_schema(v: &serde_json::Value) -> bool {
    v.is_object() || v.is_boolean()
}

/// Whether a schema object rejects anything.
fn constrains(o: &serde_json::Map<String, serde_json::Value>) -> bool {
    o.keys().any(|k| !JSON_ANNOTATIONS.contains(&k.as_str()))
}

fn constrains_value(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Bool(b) => !b,
        serde_json::Value::Object(o) => constrains(o),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str =
        r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    const V2: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int","default":0}]}"#;
    const V3: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"email","type":"string"}]}"#;

    fn avro(text: &str) -> Submitted {
        Submitted::plain(SchemaType::Avro, text)
    }

    #[test]
    fn avro_backward_compatibility_is_checked_against_the_latest_version() {
        let mut state = State::default();
        state.apply_schema("s", 1, 1, avro(V1), false);
        let check = |new, level| check(&state, "s", &avro(new), level, None);
        assert!(check(V2, Compatibility::Backward).is_ok());
        let err = check(V3, Compatibility::Backward).unwrap_err();
        assert!(err.contains("version 1"), "{err}");
        assert!(check(V3, Compatibility::None).is_ok());
        assert!(check(V3, Compatibility::Forward).is_ok());
        assert!(check(V3, Compatibility::Full).is_err());
    }

    #[test]
    fn transitive_levels_check_every_live_version() {
        let mut state = State::default();
        state.apply_schema("s", 1, 1, avro(V1), false);
        state.apply_schema("s", 2, 2, avro(V3), false);
        // V3 -> V2 drops "email": backward compatible with V3 (the latest)
        // and with V1.
        let new = avro(V2);
        assert!(check(&state, "s", &new, Compatibility::BackwardTransitive, None).is_ok());
        // Forward: V3 cannot read V2's data (no email, no default), V1 can.
        assert!(check(&state, "s", &new, Compatibility::Forward, None).is_err());
        let only_v1 = state.live_versions("s")[0];
        assert!(check(&state, "s", &new, Compatibility::Forward, Some(only_v1)).is_ok());
    }

    #[test]
    fn a_schema_of_another_type_is_incompatible() {
        let mut state = State::default();
        state.apply_schema("s", 1, 1, avro(V1), false);
        let json = Submitted::plain(SchemaType::Json, "{}");
        let err = check(&state, "s", &json, Compatibility::Backward, None).unwrap_err();
        assert!(err.contains("AVRO"), "{err}");
        assert!(check(&state, "s", &json, Compatibility::None, None).is_ok());
    }

    fn compatible(
        schema_type: SchemaType,
        old: &str,
        new: &str,
        level: Compatibility,
    ) -> Result<(), String> {
        let mut state = State::default();
        state.apply_schema("s", 1, 1, Submitted::plain(schema_type, old), false);
        assert_eq!(state.live_versions("s").len(), 1, "the old schema compiles");
        check(
            &state,
            "s",
            &Submitted::plain(schema_type, new),
            level,
            None,
        )
    }

    const ORDER: &str = r#"syntax = "proto3"; package shop;
        message Order { int32 id = 1; string name = 2; Item item = 3; }
        message Item { string sku = 1; }"#;

    #[test]
    fn protobuf_changes_are_checked_by_wire_compatibility() {
        let proto = |new: &str, level| compatible(SchemaType::Protobuf, ORDER, new, level);
        use Compatibility::{Backward, Forward, Full};
        // Adding a field, dropping one, renaming one, widening int32 to
        // int64, and string to bytes are all wire compatible.
        let evolved = r#"syntax = "proto3"; package shop;
            message Order { int64 id = 1; bytes title = 2; Item item = 3; repeated string tags = 4; }
            message Item { string sku = 1; int32 count = 2; }"#;
        assert!(proto(evolved, Full).is_ok(), "{:?}", proto(evolved, Full));
        let dropped = r#"syntax = "proto3"; package shop; message Order { int32 id = 1; }"#;
        assert!(proto(dropped, Full).is_ok());
        // A field number's kind changing wire type is not.
        let retyped = r#"syntax = "proto3"; package shop;
            message Order { string id = 1; string name = 2; }"#;
        let err = proto(retyped, Backward).unwrap_err();
        assert!(err.contains("field id (1)"), "{err}");
        assert!(proto(retyped, Forward).is_err());
        // Nor a nested message's field.
        let nested = r#"syntax = "proto3"; package shop;
            message Order { int32 id = 1; Item item = 3; }
            message Item { double sku = 1; }"#;
        let err = proto(nested, Backward).unwrap_err();
        assert!(err.contains("shop.Item: field sku (1)"), "{err}");
        // A renamed package renames every message.
        let moved = ORDER.replace("package shop;", "package store;");
        assert!(proto(&moved, Backward)
            .unwrap_err()
            .contains("became store.Order"));
        // proto2: a new required field breaks backward, a dropped one
        // breaks forward.
        let v2 = r#"syntax = "proto2"; message M { optional int32 a = 1; }"#;
        let v2_required =
            r#"syntax = "proto2"; message M { optional int32 a = 1; required int32 b = 2; }"#;
        let p2 = |old, new, level| compatible(SchemaType::Protobuf, old, new, level);
        assert!(p2(v2, v2_required, Backward).is_err());
        assert!(p2(v2, v2_required, Forward).is_ok());
        assert!(p2(v2_required, v2, Forward).is_err());
        // Two existing fields joining one oneof.
        let oneof = r#"syntax = "proto3"; package shop;
            message Order { oneof which { int32 id = 1; string name = 2; } Item item = 3; }
            message Item { string sku = 1; }"#;
        assert!(proto(oneof, Backward).unwrap_err().contains("oneof which"));
    }

    #[test]
    fn json_schema_changes_follow_confluents_rules() {
        use Compatibility::{Backward, Forward, Full, None as Off};
        let old = r#"{"type": "object", "properties": {
            "id": {"type": "integer", "minimum": 0},
            "name": {"type": "string", "maxLength": 10},
            "kind": {"enum": ["a", "b"]}},
            "required": ["id"]}"#;
        let json = |new: &str, level| compatible(SchemaType::Json, old, new, level);
        // Loosening: integer to number, a bigger maxLength, more enum
        // values, one required property fewer.
        let looser = r#"{"type": "object", "properties": {
            "id": {"type": "number"},
            "name": {"type": "string", "maxLength": 20},
            "kind": {"enum": ["a", "b", "c"]}}}"#;
        assert!(
            json(looser, Backward).is_ok(),
            "{:?}",
            json(looser, Backward)
        );
        let err = json(looser, Forward).unwrap_err();
        assert!(err.contains("old schema cannot read"), "{err}");
        assert!(json(looser, Full).is_err());
        // A new required property, a narrowed type, a removed enum value.
        let required = old.replace(r#""required": ["id"]"#, r#""required": ["id", "name"]"#);
        assert!(json(&required, Backward)
            .unwrap_err()
            .contains("name became required"));
        let narrowed = old.replace(r#""type": "integer""#, r#""type": "string""#);
        assert!(json(&narrowed, Backward)
            .unwrap_err()
            .contains("/properties/id"));
        let fewer = old.replace(r#"["a", "b"]"#, r#"["a"]"#);
        assert!(json(&fewer, Backward).unwrap_err().contains("\"b\""));
        // Open content model: a new typed property may clash with old data.
        let added = old.replace(
            r#""properties": {"#,
            r#""properties": {"extra": {"type": "string"},"#,
        );
        assert!(json(&added, Backward)
            .unwrap_err()
            .contains("open content model"));
        // Closed: adding is fine, removing is not.
        let closed = |props: &str| {
            format!(
                r#"{{"type": "object", "properties": {{{props}}}, "additionalProperties": false}}"#
            )
        };
        let a = closed(r#""a": {"type": "string"}"#);
        let ab = closed(r#""a": {"type": "string"}, "b": {"type": "string"}"#);
        let closed_json = |old: &str, new: &str| compatible(SchemaType::Json, old, new, Backward);
        assert!(closed_json(&a, &ab).is_ok());
        assert!(closed_json(&ab, &a)
            .unwrap_err()
            .contains("closed content model"));
        // A constraint the checker does not reason about must stay put.
        let pattern = old.replace(r#""maxLength": 10"#, r#""maxLength": 10, "pattern": "^x""#);
        assert!(json(&pattern, Backward).unwrap_err().contains("pattern"));
        assert!(compatible(SchemaType::Json, &pattern, old, Backward).is_ok());
        assert!(json(&narrowed, Off).is_ok());
    }

    #[test]
    fn json_schema_refs_are_followed() {
        let old = r##"{"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}},
            "$defs": {"A": {"type": "integer"}}}"##;
        let new = r##"{"type": "object", "properties": {"a": {"$ref": "#/definitions/B"}},
            "definitions": {"B": {"type": "number"}}}"##;
        assert!(compatible(SchemaType::Json, old, new, Compatibility::Backward).is_ok());
        let err = compatible(SchemaType::Json, old, new, Compatibility::Forward).unwrap_err();
        assert!(err.contains("/properties/a"), "{err}");
    }
}
