//! `avro`: the JSON form of a datum, read with Avro's JSON encoding rules
//! (unions as `{"type": value}`, bytes and fixed as strings of code points
//! 0-255, enums as their symbol, logical types on their base type), written
//! as Avro binary in the Confluent wire format: magic byte 0, the schema id
//! (4 bytes, big-endian), the datum.
//!
//! A codec is built once per schema id: the schema is parsed and its named
//! types resolved at construction, never per record.

use std::collections::{HashMap, HashSet};

use apache_avro::schema::{Name, Schema, UnionSchema};
use apache_avro::types::Value as Avro;
use simd_json::prelude::*;

use crate::{type_name, Codec, CodecError, Format, Path, Referenced, Value};

/// Parses `schema` into a self-contained schema: each named type taken from
/// `references` (named types, as a Schema Registry reference holds them) is
/// written out where it is first used, as if the schema had defined it
/// there. Compatibility checks, canonical forms and encoding then work on
/// the one schema.
pub fn parse(schema: &str, references: &[Referenced]) -> Result<Schema, CodecError> {
    // apache-avro 0.21 unwraps inside its parser on some invalid names
    // (an enum named `K}ind` panics in `Name::parse`): a schema that makes
    // it panic is an invalid schema, not a crash (found by tests/fuzz.rs).
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parse_unguarded(schema, references)
    }))
    .unwrap_or_else(|_| {
        Err(CodecError::InvalidSchema(
            "the schema is not valid Avro (a name or namespace is malformed)".into(),
        ))
    })
}

fn parse_unguarded(schema: &str, references: &[Referenced]) -> Result<Schema, CodecError> {
    let invalid = |e: apache_avro::Error| CodecError::InvalidSchema(e.to_string());
    if references.is_empty() {
        return Schema::parse_str(schema).map_err(invalid);
    }
    let (mut schema, referenced) =
        Schema::parse_str_with_list(schema, references.iter().map(|r| r.schema.as_str()))
            .map_err(invalid)?;
    let resolved =
        apache_avro::schema::ResolvedSchema::try_from(referenced.iter().collect::<Vec<_>>())
            .map_err(invalid)?;
    let names: HashMap<Name, Schema> = resolved
        .get_names()
        .iter()
        .map(|(name, schema)| (name.clone(), (*schema).clone()))
        .collect();
    inline(&mut schema, &names, &mut HashSet::new())?;
    Ok(schema)
}

/// Replaces the first use of each referenced named type by its definition.
fn inline(
    schema: &mut Schema,
    names: &HashMap<Name, Schema>,
    defined: &mut HashSet<Name>,
) -> Result<(), CodecError> {
    match schema {
        Schema::Ref { name } if !defined.contains(name) => {
            if let Some(definition) = names.get(name) {
                let mut definition = definition.clone();
                inline(&mut definition, names, defined)?;
                *schema = definition;
            }
        }
        Schema::Record(record) => {
            defined.insert(record.name.clone());
            for field in &mut record.fields {
                inline(&mut field.schema, names, defined)?;
            }
        }
        Schema::Enum(e) => {
            defined.insert(e.name.clone());
        }
        Schema::Fixed(f) => {
            defined.insert(f.name.clone());
        }
        Schema::Array(array) => inline(&mut array.items, names, defined)?,
        Schema::Map(map) => inline(&mut map.types, names, defined)?,
        Schema::Union(union) => {
            let mut variants = union.variants().to_vec();
            for variant in &mut variants {
                inline(variant, names, defined)?;
            }
            *union =
                UnionSchema::new(variants).map_err(|e| CodecError::InvalidSchema(e.to_string()))?;
        }
        Schema::Decimal(decimal) => inline(&mut decimal.inner, names, defined)?,
        _ => {}
    }
    Ok(())
}

pub struct AvroCodec {
    id: u32,
    schema: Schema,
    /// Named types, for `Ref`s inside the schema.
    names: HashMap<Name, Schema>,
    /// Each record field's default, encoded once, by (record, field index).
    defaults: HashMap<(Name, usize), Vec<u8>>,
}

impl AvroCodec {
    /// Parses `schema` (Avro JSON schema text) for the registry id `id`.
    pub fn new(schema: &str, id: u32) -> Result<AvroCodec, CodecError> {
        AvroCodec::with_references(schema, &[], id)
    }

    /// Parses `schema`, whose named types may come from `references`.
    pub fn with_references(
        schema: &str,
        references: &[Referenced],
        id: u32,
    ) -> Result<AvroCodec, CodecError> {
        let schema = parse(schema, references)?;
        let resolved = apache_avro::schema::ResolvedSchema::try_from(&schema)
            .map_err(|e| CodecError::InvalidSchema(e.to_string()))?;
        let names: HashMap<Name, Schema> = resolved
            .get_names()
            .iter()
            .map(|(name, schema)| (name.clone(), (*schema).clone()))
            .collect();
        // Defaults are JSON in the schema; apache-avro resolves and encodes
        // them here, once, so a record that leaves a field out costs a copy.
        let mut defaults = HashMap::new();
        for named in names.values() {
            let Schema::Record(record) = named else {
                continue;
            };
            for (index, field) in record.fields.iter().enumerate() {
                let Some(default) = &field.default else {
                    continue;
                };
                let bad = |e: apache_avro::Error| {
                    CodecError::InvalidSchema(format!(
                        "field {}.{}: bad default: {e}",
                        record.name, field.name
                    ))
                };
                let datum = Avro::from(default.clone())
                    .resolve_schemata(&field.schema, vec![&schema])
                    .map_err(bad)?;
                let bytes =
                    apache_avro::to_avro_datum_schemata(&field.schema, vec![&schema], datum)
                        .map_err(bad)?;
                defaults.insert((record.name.clone(), index), bytes);
            }
        }
        Ok(AvroCodec {
            id,
            schema,
            names,
            defaults,
        })
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Writes `value` as Avro binary under `schema`; `path` says where it
    /// is, for errors only.
    fn write(
        &self,
        value: &Value<'_, '_>,
        schema: &Schema,
        path: &Path<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let wrong = |expected: &str| {
            CodecError::InvalidData(format!(
                "{}expected {expected}, found {}",
                path.at(),
                type_name(value)
            ))
        };
        match schema {
            Schema::Null if value.is_null() => {}
            Schema::Null => return Err(wrong("null")),
            Schema::Boolean => out.push(u8::from(value.as_bool().ok_or_else(|| wrong("boolean"))?)),
            Schema::Int => long(out, int(value).ok_or_else(|| wrong("int"))?.into()),
            Schema::Long => long(out, value.as_i64().ok_or_else(|| wrong("long"))?),
            Schema::Float => {
                let v = value.cast_f64().ok_or_else(|| wrong("float"))? as f32;
                out.extend_from_slice(&v.to_le_bytes());
            }
            Schema::Double => {
                let v = value.cast_f64().ok_or_else(|| wrong("double"))?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            Schema::Bytes | Schema::BigDecimal => {
                let text = value.as_str().ok_or_else(|| bytes_expected(value, path))?;
                long(out, code_points(text) as i64);
                write_code_points(text, path, out)?;
            }
            Schema::String => {
                let text = value.as_str().ok_or_else(|| wrong("string"))?;
                string(out, text);
            }
            Schema::Array(array) => {
                let items = value.as_array().ok_or_else(|| wrong("array"))?;
                if !items.is_empty() {
                    long(out, items.len() as i64);
                    for (i, item) in items.iter().enumerate() {
                        self.write(&item, &array.items, &Path::Index(path, i), out)?;
                    }
                }
                out.push(0);
            }
            Schema::Map(map) => {
                let entries = value.as_object().ok_or_else(|| wrong("map (object)"))?;
                if !entries.is_empty() {
                    long(out, entries.len() as i64);
                    for (key, item) in entries.iter() {
                        string(out, key);
                        self.write(&item, &map.types, &Path::Key(path, key), out)?;
                    }
                }
                out.push(0);
            }
            Schema::Union(union) => self.union(value, union, path, out)?,
            Schema::Record(record) => {
                let object = value
                    .as_object()
                    .ok_or_else(|| wrong(&format!("record {}", record.name)))?;
                // Fields sent in the schema's order cost one compare each;
                // from the first field out of order on, a lookup by name.
                let mut in_order = Some(object.iter());
                for (index, field) in record.fields.iter().enumerate() {
                    let field_path = Path::Field(path, &field.name);
                    let next = in_order.as_mut().and_then(|fields| fields.next());
                    let found = match next {
                        Some((name, v)) if name == field.name => Some(v),
                        _ => {
                            in_order = None;
                            object.get(field.name.as_str())
                        }
                    };
                    match found {
                        Some(v) => self.write(&v, &field.schema, &field_path, out)?,
                        None => match self.defaults.get(&(record.name.clone(), index)) {
                            Some(default) => out.extend_from_slice(default),
                            None => {
                                return Err(CodecError::InvalidData(format!(
                                    "{}missing, and the field has no default",
                                    field_path.at()
                                )))
                            }
                        },
                    }
                }
            }
            Schema::Enum(e) => {
                let symbol = value
                    .as_str()
                    .ok_or_else(|| wrong("enum symbol (string)"))?;
                let index = e.symbols.iter().position(|s| s == symbol).ok_or_else(|| {
                    CodecError::InvalidData(format!(
                        "{}{symbol:?} is not one of the symbols {:?}",
                        path.at(),
                        e.symbols
                    ))
                })?;
                long(out, index as i64);
            }
            Schema::Fixed(fixed) => {
                let text = value.as_str().ok_or_else(|| bytes_expected(value, path))?;
                let len = code_points(text);
                if len != fixed.size {
                    return Err(CodecError::InvalidData(format!(
                        "{}fixed {} needs {} bytes, found {len}",
                        path.at(),
                        fixed.name,
                        fixed.size,
                    )));
                }
                write_code_points(text, path, out)?;
            }
            Schema::Decimal(decimal) => {
                let text = value.as_str().ok_or_else(|| bytes_expected(value, path))?;
                let len = code_points(text);
                match decimal.inner.as_ref() {
                    Schema::Fixed(fixed) => {
                        if len > fixed.size {
                            return Err(CodecError::InvalidData(format!(
                                "{}decimal needs at most {} bytes, found {len}",
                                path.at(),
                                fixed.size
                            )));
                        }
                        // Big-endian two's complement: sign-extend to the size.
                        let negative = text.chars().next().is_some_and(|c| c as u32 >= 0x80);
                        out.extend(std::iter::repeat_n(
                            if negative { 0xff } else { 0 },
                            fixed.size - len,
                        ));
                    }
                    _ => long(out, len as i64),
                }
                write_code_points(text, path, out)?;
            }
            Schema::Uuid => {
                let text = value.as_str().ok_or_else(|| wrong("uuid string"))?;
                uuid::Uuid::parse_str(text).map_err(|e| {
                    CodecError::InvalidData(format!("{}not a uuid: {e}", path.at()))
                })?;
                string(out, text);
            }
            Schema::Date => long(
                out,
                int(value).ok_or_else(|| wrong("date (int days)"))?.into(),
            ),
            Schema::TimeMillis => long(
                out,
                int(value).ok_or_else(|| wrong("time-millis (int)"))?.into(),
            ),
            Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => {
                let v = value
                    .as_i64()
                    .ok_or_else(|| wrong(&format!("{} (long)", logical_name(schema))))?;
                long(out, v);
            }
            Schema::Ref { name } => {
                let target = self.names.get(name).ok_or_else(|| {
                    CodecError::InvalidSchema(format!("unknown named type {name}"))
                })?;
                self.write(value, target, path, out)?;
            }
            other => {
                return Err(CodecError::InvalidSchema(format!(
                    "{}the gateway cannot encode {other:?} yet",
                    path.at()
                )))
            }
        }
        Ok(())
    }

    /// apache-avro's decoded value in Avro's JSON encoding, the form
    /// [`Codec::encode`] reads (unions as `{"<branch>": value}`, bytes and
    /// fixed as strings of code points 0-255, enums as their symbol), as
    /// JSON text into `out`, fields in the schema's order and map keys
    /// sorted. For the types [`AvroCodec::read_json`] leaves to apache-avro,
    /// and the reference its tests hold it to.
    fn write_json(
        &self,
        value: &Avro,
        schema: &Schema,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let schema = match schema {
            Schema::Ref { name } => self
                .names
                .get(name)
                .ok_or_else(|| CodecError::InvalidSchema(format!("unknown named type {name}")))?,
            other => other,
        };
        match (value, schema) {
            (Avro::Null, _) => out.extend_from_slice(b"null"),
            (Avro::Boolean(b), _) => put(out, b),
            (Avro::Int(i) | Avro::Date(i) | Avro::TimeMillis(i), _) => put(out, i),
            (
                Avro::Long(i)
                | Avro::TimeMicros(i)
                | Avro::TimestampMillis(i)
                | Avro::TimestampMicros(i)
                | Avro::TimestampNanos(i)
                | Avro::LocalTimestampMillis(i)
                | Avro::LocalTimestampMicros(i)
                | Avro::LocalTimestampNanos(i),
                _,
            ) => put(out, i),
            // As serde_json's Value does: a non-finite number is null.
            (Avro::Float(f), _) => put(out, &serde_json::Value::from(f64::from(*f))),
            (Avro::Double(f), _) => put(out, &serde_json::Value::from(*f)),
            (Avro::Bytes(b) | Avro::Fixed(_, b), _) => put_code_points(out, b),
            (Avro::Decimal(d), _) => put_code_points(
                out,
                &Vec::<u8>::try_from(d).map_err(|e| CodecError::InvalidData(e.to_string()))?,
            ),
            (Avro::String(text), _) => put(out, text.as_str()),
            (Avro::Uuid(u), _) => put(out, &u.to_string()),
            (Avro::Enum(_, symbol), _) => put(out, symbol.as_str()),
            (Avro::Array(items), Schema::Array(array)) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write_json(item, &array.items, out)?;
                }
                out.push(b']');
            }
            (Avro::Map(entries), Schema::Map(map)) => {
                // In key order, as the tree (a sorted map) writes them.
                let mut entries: Vec<_> = entries.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                out.push(b'{');
                for (i, (key, v)) in entries.into_iter().enumerate() {
                    member(out, i, key);
                    self.write_json(v, &map.types, out)?;
                }
                out.push(b'}');
            }
            (Avro::Union(index, inner), Schema::Union(union)) => {
                let branch = &union.variants()[*index as usize];
                match **inner {
                    Avro::Null => out.extend_from_slice(b"null"),
                    ref inner => {
                        out.push(b'{');
                        put(out, branch_name(branch).as_str());
                        out.push(b':');
                        self.write_json(inner, branch, out)?;
                        out.push(b'}');
                    }
                }
            }
            (Avro::Record(fields), Schema::Record(record)) => {
                out.push(b'{');
                for (i, ((name, v), field)) in fields.iter().zip(&record.fields).enumerate() {
                    member(out, i, name);
                    self.write_json(v, &field.schema, out)?;
                }
                out.push(b'}');
            }
            (other, _) => {
                return Err(CodecError::InvalidData(format!(
                    "cannot write {other:?} as JSON"
                )))
            }
        }
        Ok(())
    }

    /// Reads one datum of `schema` from `input` and writes its JSON form, as
    /// [`AvroCodec::write_json`] would write apache-avro's decoding of it,
    /// to `out`. Returns whether the datum was null: apache-avro reads a
    /// boolean, a string or a union index cut off by the end of the input
    /// as null, and a union holding null is written `null`, so this does
    /// the same. Rare types (uuid, duration, big-decimal) go through
    /// apache-avro.
    fn read_json(
        &self,
        schema: &Schema,
        input: &mut &[u8],
        out: &mut Vec<u8>,
    ) -> Result<bool, CodecError> {
        let short = || CodecError::InvalidData("the Avro datum ends early".into());
        fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            if input.len() < n {
                return None;
            }
            let (head, rest) = input.split_at(n);
            *input = rest;
            Some(head)
        }
        let len = |input: &mut &[u8]| -> Result<usize, CodecError> {
            let n = read_long(input)?;
            usize::try_from(n)
                .ok()
                .filter(|n| *n <= MAX_AVRO_LENGTH)
                .ok_or_else(|| CodecError::InvalidData(format!("an Avro length of {n}")))
        };
        let schema = match schema {
            Schema::Ref { name } => self
                .names
                .get(name)
                .ok_or_else(|| CodecError::InvalidSchema(format!("unknown named type {name}")))?,
            other => other,
        };
        match schema {
            Schema::Null => {
                out.extend_from_slice(b"null");
                return Ok(true);
            }
            Schema::Boolean => match input.first() {
                None => {
                    out.extend_from_slice(b"null");
                    return Ok(true);
                }
                Some(b @ (0 | 1)) => {
                    put(out, &(*b == 1));
                    *input = &input[1..];
                }
                Some(b) => {
                    return Err(CodecError::InvalidData(format!(
                        "{b} is not an Avro boolean"
                    )))
                }
            },
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                let n = read_long(input)?;
                let n = i32::try_from(n)
                    .map_err(|_| CodecError::InvalidData(format!("{n} is not an Avro int")))?;
                put(out, &n);
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => put(out, &read_long(input)?),
            Schema::Float => {
                let b = take(input, 4).ok_or_else(short)?;
                let f = f32::from_le_bytes(b.try_into().expect("four bytes"));
                // As serde_json's Value does: a non-finite number is null.
                put(out, &serde_json::Value::from(f64::from(f)));
            }
            Schema::Double => {
                let b = take(input, 8).ok_or_else(short)?;
                put(
                    out,
                    &serde_json::Value::from(f64::from_le_bytes(
                        b.try_into().expect("eight bytes"),
                    )),
                );
            }
            Schema::Bytes => {
                let n = len(input)?;
                put_code_points(out, take(input, n).ok_or_else(short)?);
            }
            Schema::String => {
                let n = len(input)?;
                let Some(b) = take(input, n) else {
                    *input = &[];
                    out.extend_from_slice(b"null");
                    return Ok(true);
                };
                let text = std::str::from_utf8(b)
                    .map_err(|e| CodecError::InvalidData(format!("an Avro string: {e}")))?;
                put(out, text);
            }
            Schema::Fixed(fixed) => {
                put_code_points(out, take(input, fixed.size).ok_or_else(short)?)
            }
            Schema::Decimal(decimal) => match &*decimal.inner {
                Schema::Fixed(fixed) => {
                    put_code_points(out, take(input, fixed.size).ok_or_else(short)?)
                }
                Schema::Bytes => {
                    let n = len(input)?;
                    put_code_points(out, take(input, n).ok_or_else(short)?);
                }
                other => return Err(CodecError::InvalidSchema(format!("a decimal of {other:?}"))),
            },
            Schema::Enum(e) => {
                let index = read_long(input)?;
                let symbol = usize::try_from(index)
                    .ok()
                    .and_then(|i| e.symbols.get(i))
                    .ok_or_else(|| {
                        CodecError::InvalidData(format!("{index} is not a symbol of {}", e.name))
                    })?;
                put(out, symbol.as_str());
            }
            Schema::Array(array) => {
                out.push(b'[');
                let mut first = true;
                loop {
                    let n = block_len(input)?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        self.read_json(&array.items, input, out)?;
                    }
                }
                out.push(b']');
            }
            Schema::Map(map) => {
                // In key order, the last of a repeated key winning, as the
                // tree (apache-avro's map, then a sorted JSON map) has it.
                let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
                loop {
                    let n = block_len(input)?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        let k = len(input)?;
                        let key = take(input, k).ok_or_else(short)?;
                        let key = std::str::from_utf8(key)
                            .map_err(|e| CodecError::InvalidData(format!("an Avro map key: {e}")))?
                            .to_string();
                        let mut value = Vec::new();
                        self.read_json(&map.types, input, &mut value)?;
                        entries.push((key, value));
                    }
                }
                entries.reverse();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                entries.dedup_by(|later, earlier| later.0 == earlier.0);
                out.push(b'{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    member(out, i, key);
                    out.extend_from_slice(value);
                }
                out.push(b'}');
            }
            Schema::Union(union) => {
                // An index cut off by the end of the input (none, or only
                // continuation bytes) is apache-avro's null.
                if input.len() < 10 && input.iter().all(|b| b & 0x80 != 0) {
                    *input = &[];
                    out.extend_from_slice(b"null");
                    return Ok(true);
                }
                let index = read_long(input)?;
                let branch = usize::try_from(index)
                    .ok()
                    .and_then(|i| union.variants().get(i))
                    .ok_or_else(|| {
                        CodecError::InvalidData(format!("{index} is not a branch of the union"))
                    })?;
                let start = out.len();
                out.push(b'{');
                put(out, branch_name(branch).as_str());
                out.push(b':');
                if self.read_json(branch, input, out)? {
                    out.truncate(start);
                    out.extend_from_slice(b"null");
                } else {
                    out.push(b'}');
                }
            }
            Schema::Record(record) => {
                out.push(b'{');
                for (i, field) in record.fields.iter().enumerate() {
                    member(out, i, &field.name);
                    self.read_json(&field.schema, input, out)?;
                }
                out.push(b'}');
            }
            rare => {
                let value = apache_avro::from_avro_datum(rare, input, None)
                    .map_err(|e| CodecError::InvalidData(e.to_string()))?;
                self.write_json(&value, rare, out)?;
                return Ok(matches!(value, Avro::Null));
            }
        }
        Ok(false)
    }

    /// A union is `null` or `{"<branch type name>": value}`, as Avro's JSON
    /// encoding writes it.
    fn union(
        &self,
        value: &Value<'_, '_>,
        union: &UnionSchema,
        path: &Path<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let variants = union.variants();
        if value.is_null() {
            let index = variants
                .iter()
                .position(|v| matches!(v, Schema::Null))
                .ok_or_else(|| {
                    CodecError::InvalidData(format!("{}null is not in the union", path.at()))
                })?;
            long(out, index as i64);
            return Ok(());
        }
        let object = value.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
            CodecError::InvalidData(format!(
                "{}a union value is written {{\"<type>\": value}}, found {}",
                path.at(),
                type_name(value)
            ))
        })?;
        let (branch, inner) = object.iter().next().expect("one entry");
        let index = variants
            .iter()
            .position(|v| is_branch(v, branch))
            .ok_or_else(|| {
                CodecError::InvalidData(format!(
                    "{}{branch:?} is not a branch of the union {:?}",
                    path.at(),
                    variants.iter().map(branch_name).collect::<Vec<_>>()
                ))
            })?;
        long(out, index as i64);
        self.write(&inner, &variants[index], path, out)
    }
}

impl Codec for AvroCodec {
    fn format(&self) -> Format {
        Format::Avro
    }

    fn record_name(&self) -> Option<String> {
        match &self.schema {
            Schema::Record(apache_avro::schema::RecordSchema { name, .. })
            | Schema::Enum(apache_avro::schema::EnumSchema { name, .. })
            | Schema::Fixed(apache_avro::schema::FixedSchema { name, .. }) => {
                Some(name.fullname(None))
            }
            _ => None,
        }
    }

    fn encode(&self, value: &Value<'_, '_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        let result = self.write(value, &self.schema, &Path::Root, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn decode(&self, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
        let mut text = Vec::with_capacity(bytes.len() * 2);
        self.decode_json(bytes, &mut text)?;
        serde_json::from_slice(&text).map_err(|e| CodecError::InvalidData(e.to_string()))
    }

    /// Straight from the Avro bytes to JSON text, with neither apache-avro's
    /// value nor a JSON tree between (what [`Codec::decode`] gives, fields
    /// in the schema's order).
    fn decode_json(&self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let mut datum = crate::unframe(bytes, self.id)?;
        self.read_json(&self.schema, &mut datum, out).map(|_| ())
    }
}

/// Writes a value as JSON; writing to a Vec cannot fail.
fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    serde_json::to_writer(out, v).expect("writing to a Vec");
}

/// Bytes as Avro's JSON encoding writes them: a string of code points
/// 0-255.
fn put_code_points(out: &mut Vec<u8>, bytes: &[u8]) {
    let text: String = bytes.iter().map(|&b| b as char).collect();
    put(out, text.as_str());
}

/// The start of the `index`th member of a JSON object: `"key":`, after a
/// comma unless it is the first.
fn member(out: &mut Vec<u8>, index: usize, key: &str) {
    if index > 0 {
        out.push(b',');
    }
    put(out, key);
    out.push(b':');
}

/// Reads a zig-zag varint long.
fn read_long(input: &mut &[u8]) -> Result<i64, CodecError> {
    let mut raw: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(CodecError::InvalidData(
        "an Avro int or long ends early or is too long".into(),
    ))
}

/// apache-avro's bound on one length (its default allocation limit).
const MAX_AVRO_LENGTH: usize = 512 * 1024 * 1024;

/// Items a block may claim beyond one per remaining byte: items can take no
/// bytes (nulls), but a record of a few bytes claiming billions of them
/// must not become gigabytes of JSON.
const MAX_EMPTY_ITEMS: usize = 65_536;

/// An array or map block's item count; a negative count is followed by
/// the block's size in bytes, which is skipped.
fn block_len(input: &mut &[u8]) -> Result<usize, CodecError> {
    let n = read_long(input)?;
    let n = if n < 0 {
        read_long(input)?;
        n.checked_neg()
            .ok_or_else(|| CodecError::InvalidData("an Avro block count overflows".into()))?
    } else {
        n
    };
    usize::try_from(n)
        .ok()
        .filter(|n| *n <= input.len() + MAX_EMPTY_ITEMS)
        .ok_or_else(|| {
            CodecError::InvalidData(format!(
                "an Avro block of {n} items in a record of {} more bytes",
                input.len()
            ))
        })
}

/// Avro's variable-length zig-zag encoding of an int or a long.
fn long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn string(out: &mut Vec<u8>, text: &str) {
    long(out, text.len() as i64);
    out.extend_from_slice(text.as_bytes());
}

fn int(value: &Value<'_, '_>) -> Option<i32> {
    value.as_i64().and_then(|v| i32::try_from(v).ok())
}

fn bytes_expected(value: &Value<'_, '_>, path: &Path<'_>) -> CodecError {
    CodecError::InvalidData(format!(
        "{}expected bytes (a string of code points 0-255), found {}",
        path.at(),
        type_name(value)
    ))
}

/// How many bytes Avro's JSON form of bytes (a string whose code points
/// 0-255 are the bytes) holds.
fn code_points(text: &str) -> usize {
    if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    }
}

/// Writes the bytes a string of code points 0-255 stands for.
fn write_code_points(text: &str, path: &Path<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if text.is_ascii() {
        out.extend_from_slice(text.as_bytes());
        return Ok(());
    }
    for c in text.chars() {
        let byte = u8::try_from(c as u32).map_err(|_| {
            CodecError::InvalidData(format!(
                "{}bytes are written as code points 0-255",
                path.at()
            ))
        })?;
        out.push(byte);
    }
    Ok(())
}

fn logical_name(schema: &Schema) -> &'static str {
    match schema {
        Schema::TimeMicros => "time-micros",
        Schema::TimestampMillis => "timestamp-millis",
        Schema::TimestampMicros => "timestamp-micros",
        Schema::TimestampNanos => "timestamp-nanos",
        Schema::LocalTimestampMillis => "local-timestamp-millis",
        Schema::LocalTimestampMicros => "local-timestamp-micros",
        Schema::LocalTimestampNanos => "local-timestamp-nanos",
        _ => "long",
    }
}

/// Whether `branch` (a union branch key in Avro's JSON encoding) names
/// `schema`, without building the name.
fn is_branch(schema: &Schema, branch: &str) -> bool {
    let named = |name: &Name| match &name.namespace {
        Some(ns) if !ns.is_empty() => {
            branch.len() == ns.len() + 1 + name.name.len()
                && branch.starts_with(ns.as_str())
                && branch.as_bytes()[ns.len()] == b'.'
                && branch.ends_with(name.name.as_str())
        }
        _ => branch == name.name,
    };
    match schema {
        Schema::Record(r) => named(&r.name),
        Schema::Enum(e) => named(&e.name),
        Schema::Fixed(f) => named(&f.name),
        Schema::Ref { name } => named(name),
        other => branch_name(other) == branch,
    }
}

/// The name a union branch goes by in Avro's JSON encoding.
fn branch_name(schema: &Schema) -> String {
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int | Schema::Date | Schema::TimeMillis => "int".into(),
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes | Schema::Decimal(_) | Schema::BigDecimal => "bytes".into(),
        Schema::String | Schema::Uuid => "string".into(),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Record(r) => r.name.fullname(None),
        Schema::Enum(e) => e.name.fullname(None),
        Schema::Fixed(f) => f.name.fullname(None),
        Schema::Ref { name } => name.fullname(None),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::from_avro_datum;

    const ORDER: &str = r#"{
        "type": "record", "namespace": "io.confluent.developer", "name": "Order",
        "fields": [
            {"name": "product_id", "type": "int"},
            {"name": "customer_id", "type": "int"},
            {"name": "product", "type": ["null", "string"], "default": null},
            {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
            {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
            {"name": "raw", "type": "bytes"},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "next", "type": ["null", "Order"], "default": null}
        ]}"#;

    fn encode(codec: &AvroCodec, json: &str) -> Result<Vec<u8>, CodecError> {
        crate::with_value(json, |v| {
            let mut out = Vec::new();
            codec.encode(v, &mut out).map(|()| out)
        })
    }

    #[test]
    fn encodes_in_the_confluent_wire_format_and_decodes_back() {
        let codec = AvroCodec::new(ORDER, 0x0102_0304).unwrap();
        let out = encode(
            &codec,
            r#"{"product_id": 1, "customer_id": 2, "product": {"string": "pen"},
                "status": "PAID", "raw": "\u0000\u00ff", "at": 1700000000000,
                "next": {"io.confluent.developer.Order": {"product_id": 3, "customer_id": 4,
                         "status": "NEW", "raw": "", "at": 0}}}"#,
        )
        .unwrap();
        assert_eq!(&out[..5], &[0, 1, 2, 3, 4], "magic byte and big-endian id");
        let datum = from_avro_datum(codec.schema(), &mut &out[5..], None).unwrap();
        let Avro::Record(fields) = datum else {
            panic!("{datum:?}")
        };
        assert_eq!(fields[0], ("product_id".into(), Avro::Int(1)));
        assert_eq!(
            fields[2],
            (
                "product".into(),
                Avro::Union(1, Box::new(Avro::String("pen".into())))
            )
        );
        assert_eq!(
            fields[3],
            ("tags".into(), Avro::Array(vec![])),
            "default used"
        );
        assert_eq!(fields[4], ("status".into(), Avro::Enum(1, "PAID".into())));
        assert_eq!(fields[5], ("raw".into(), Avro::Bytes(vec![0, 255])));
        assert_eq!(
            fields[6],
            ("at".into(), Avro::TimestampMillis(1_700_000_000_000))
        );
        assert!(
            matches!(&fields[7].1, Avro::Union(1, inner) if matches!(**inner, Avro::Record(_)))
        );
    }

    #[test]
    fn data_that_does_not_fit_names_the_field_and_the_problem() {
        let codec = AvroCodec::new(ORDER, 1).unwrap();
        let base = r#""customer_id": 2, "status": "NEW", "raw": "", "at": 0"#;
        let cases = [
            (
                format!(r#"{{"product_id": "one", {base}}}"#),
                "product_id: expected int, found string",
            ),
            (
                format!(r#"{{{base}}}"#),
                "product_id: missing, and the field has no default",
            ),
            (
                r#"{"product_id": 1, "customer_id": 2, "status": "LOST", "raw": "", "at": 0}"#
                    .to_string(),
                "status: \"LOST\" is not one of the symbols",
            ),
            (
                format!(r#"{{"product_id": 1, "product": "pen", {base}}}"#),
                "product: a union value is written",
            ),
            (
                format!(r#"{{"product_id": 1, "product": {{"int": 3}}, {base}}}"#),
                "product: \"int\" is not a branch",
            ),
            (
                format!(r#"{{"product_id": 3000000000, {base}}}"#),
                "product_id: expected int",
            ),
        ];
        for (json, expected) in cases {
            let err = encode(&codec, &json).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn the_seed_key_schema_and_primitive_schemas_work() {
        let key = AvroCodec::new(r#"{"name":"user_id"  ,"type": "int"   }"#, 7).unwrap();
        assert_eq!(encode(&key, "1").unwrap(), [0, 0, 0, 0, 7, 2]);
        let s = AvroCodec::new(r#""string""#, 1).unwrap();
        assert_eq!(
            encode(&s, r#""hi""#).unwrap(),
            [0, 0, 0, 0, 1, 4, b'h', b'i']
        );
    }

    #[test]
    fn invalid_schemas_are_refused() {
        assert!(matches!(
            AvroCodec::new(
                r#"{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}"#,
                1
            ),
            Err(CodecError::InvalidSchema(_))
        ));
        assert!(matches!(
            AvroCodec::new("not json", 1),
            Err(CodecError::InvalidSchema(_))
        ));
    }

    #[test]
    fn named_types_come_from_references() {
        let address = Referenced {
            name: "shop.Address".into(),
            schema: r#"{"type": "record", "name": "Address", "namespace": "shop",
                "fields": [{"name": "city", "type": "string"},
                           {"name": "country", "type": "shop.Country"}]}"#
                .into(),
        };
        let country = Referenced {
            name: "shop.Country".into(),
            schema: r#"{"type": "enum", "name": "Country", "namespace": "shop",
                "symbols": ["NL", "FR"]}"#
                .into(),
        };
        let order = r#"{"type": "record", "name": "Order", "namespace": "shop", "fields": [
            {"name": "billing", "type": "Address"},
            {"name": "shipping", "type": ["null", "shop.Address"], "default": null}]}"#;
        let references = [country, address];
        let codec = AvroCodec::with_references(order, &references, 5).unwrap();
        let out = encode(
            &codec,
            r#"{"billing": {"city": "Delft", "country": "NL"},
                "shipping": {"shop.Address": {"city": "Lyon", "country": "FR"}}}"#,
        )
        .unwrap();
        assert_eq!(&out[..5], &[0, 0, 0, 0, 5]);
        let datum = from_avro_datum(codec.schema(), &mut &out[5..], None).unwrap();
        let Avro::Record(fields) = datum else {
            panic!("{datum:?}")
        };
        assert_eq!(
            fields[1].1,
            Avro::Union(
                1,
                Box::new(Avro::Record(vec![
                    ("city".into(), Avro::String("Lyon".into())),
                    ("country".into(), Avro::Enum(1, "FR".into())),
                ]))
            )
        );
        // Self-contained: each referenced type is defined once, where first used.
        let canonical = codec.schema().canonical_form();
        assert_eq!(canonical.matches(r#""name":"shop.Address""#).count(), 1);
        assert_eq!(canonical.matches(r#""symbols""#).count(), 1);
        // Without the references the schema does not parse.
        assert!(matches!(
            AvroCodec::new(order, 5),
            Err(CodecError::InvalidSchema(_))
        ));
    }

    #[test]
    fn every_type_matches_apache_avro_byte_for_byte() {
        let schema = r#"{"type": "record", "name": "All", "fields": [
            {"name": "b", "type": "boolean"},
            {"name": "i", "type": "int"},
            {"name": "l", "type": "long"},
            {"name": "f", "type": "float"},
            {"name": "d", "type": "double"},
            {"name": "s", "type": "string"},
            {"name": "m", "type": {"type": "map", "values": "long"}},
            {"name": "e", "type": {"type": "map", "values": "int"}},
            {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
            {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
            {"name": "decf", "type": {"type": "fixed", "name": "Dec", "size": 3, "logicalType": "decimal", "precision": 6, "scale": 2}},
            {"name": "u", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "day", "type": {"type": "int", "logicalType": "date"}},
            {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
            {"name": "arr", "type": {"type": "array", "items": ["null", "double", "Four"]}},
            {"name": "inner", "type": {"type": "record", "name": "In", "fields": [{"name": "x", "type": "long"}]},
             "default": {"x": -3}},
            {"name": "n", "type": "int", "default": -64},
            {"name": "t", "type": "string", "default": "dflt"},
            {"name": "o", "type": ["null", "In"], "default": null}
        ]}"#;
        let codec = AvroCodec::new(schema, 1).unwrap();
        let out = encode(
            &codec,
            r#"{"b": true, "i": -2147483648, "l": 9223372036854775807, "f": 1.5, "d": -0.25,
                "s": "héllo", "m": {"a": -1}, "e": {}, "fx": "\u0001\u0002\u00ff\u0000",
                "dec": "\u0004\u00d2", "decf": "\u00ff\u0038", "u": "123e4567-e89b-12d3-a456-426614174000",
                "day": 20000, "tm": 1000, "arr": [null, {"double": 2.5}, {"Four": "abcd"}]}"#,
        )
        .unwrap();
        let datum = from_avro_datum(codec.schema(), &mut &out[5..], None).unwrap();
        // (One map entry: apache-avro writes maps in hash order.)
        let again = apache_avro::to_avro_datum(codec.schema(), datum.clone()).unwrap();
        assert_eq!(out[5..], again[..], "{datum:?}");
        let Avro::Record(fields) = datum else {
            panic!()
        };
        let field = |name: &str| &fields.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(field("fx"), &Avro::Fixed(4, vec![1, 2, 255, 0]));
        assert_eq!(field("f"), &Avro::Float(1.5));
        // A short fixed decimal is sign-extended: -200 in three bytes.
        assert_eq!(
            field("decf"),
            &Avro::Decimal(apache_avro::Decimal::from(vec![0xff, 0xff, 0x38]))
        );
        assert_eq!(
            field("inner"),
            &Avro::Record(vec![("x".into(), Avro::Long(-3))])
        );
        assert_eq!(field("n"), &Avro::Int(-64));
        assert_eq!(field("t"), &Avro::String("dflt".into()));
        // Read straight from the bytes: what the tree gives, and for every
        // cut of the datum, the same value or an error on both paths.
        assert_agrees_with_apache_avro(&codec, &out);
        // A failed record leaves nothing behind in the output.
        let mut out = vec![9];
        let failed = crate::with_value(r#"{"b": 1}"#, |v| codec.encode(v, &mut out));
        assert!(failed.is_err());
        assert_eq!(out, [9]);
    }

    /// apache-avro's decoding of a framed datum, written by `write_json`:
    /// what the direct reader must agree with.
    fn reference(codec: &AvroCodec, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
        let mut datum = crate::unframe(bytes, codec.id)?;
        let value = from_avro_datum(codec.schema(), &mut datum, None)
            .map_err(|e| CodecError::InvalidData(e.to_string()))?;
        let mut out = Vec::new();
        codec.write_json(&value, codec.schema(), &mut out)?;
        Ok(serde_json::from_slice(&out).unwrap())
    }

    /// The datum, and every cut of it, read straight gives what apache-avro
    /// gives, or both refuse it.
    fn assert_agrees_with_apache_avro(codec: &AvroCodec, bytes: &[u8]) {
        for cut in (5..=bytes.len()).rev() {
            let mut written = Vec::new();
            match (
                reference(codec, &bytes[..cut]),
                codec.decode_json(&bytes[..cut], &mut written),
            ) {
                (Ok(tree), Ok(())) => assert_eq!(
                    serde_json::from_slice::<serde_json::Value>(&written).unwrap(),
                    tree,
                    "cut at {cut}"
                ),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("cut at {cut}: {a:?} against {b:?}"),
            }
        }
        assert_eq!(
            codec.decode(bytes).unwrap(),
            reference(codec, bytes).unwrap()
        );
    }

    #[test]
    fn decoding_gives_back_the_json_form() {
        let codec = AvroCodec::new(ORDER, 9).unwrap();
        let json = r#"{"product_id": 1, "customer_id": 2, "product": {"string": "pen"},
            "tags": ["a"], "status": "PAID", "raw": "\u0000\u00ff", "at": 1700000000000,
            "next": {"io.confluent.developer.Order": {"product_id": 3, "customer_id": 4,
                     "product": null, "tags": [], "status": "NEW", "raw": "", "at": 0, "next": null}}}"#;
        let bytes = encode(&codec, json).unwrap();
        let back = codec.decode(&bytes).unwrap();
        let expected: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back, expected);
        // Written straight, with no tree: the same value, fields in the
        // schema's order.
        let mut out = Vec::new();
        codec.decode_json(&bytes, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            expected
        );
        assert!(
            text.starts_with(r#"{"product_id":1,"customer_id":2,"product":{"string":"pen"}"#),
            "{text}"
        );
        assert!(codec.decode_json(&bytes[5..], &mut Vec::new()).is_err());
        assert_agrees_with_apache_avro(&codec, &bytes);
        // A block claiming more items than the record could hold.
        let array = AvroCodec::new(r#"{"type": "array", "items": "null"}"#, 2).unwrap();
        let mut huge = vec![0, 0, 0, 0, 2];
        long(&mut huge, 1 << 40);
        assert!(array.decode_json(&huge, &mut Vec::new()).is_err());
        let mut few = vec![0, 0, 0, 0, 2];
        long(&mut few, 3);
        long(&mut few, 0);
        let mut written = Vec::new();
        array.decode_json(&few, &mut written).unwrap();
        assert_eq!(written, b"[null,null,null]");
        // Framed for another schema, or not framed: refused.
        assert!(AvroCodec::new(ORDER, 8).unwrap().decode(&bytes).is_err());
        assert!(codec.decode(&bytes[5..]).is_err());
    }
}
