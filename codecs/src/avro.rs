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

use crate::{type_name, Codec, CodecError, Format, Referenced, Value};

/// Parses `schema` into a self-contained schema: each named type taken from
/// `references` (named types, as a Schema Registry reference holds them) is
/// written out where it is first used, as if the schema had defined it
/// there. Compatibility checks, canonical forms and encoding then work on
/// the one schema.
pub fn parse(schema: &str, references: &[Referenced]) -> Result<Schema, CodecError> {
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
        let names = resolved
            .get_names()
            .iter()
            .map(|(name, schema)| (name.clone(), (*schema).clone()))
            .collect();
        Ok(AvroCodec { id, schema, names })
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The datum for `value` under `schema`, `path` naming where it is.
    fn datum(
        &self,
        value: &Value<'_, '_>,
        schema: &Schema,
        path: &str,
    ) -> Result<Avro, CodecError> {
        let wrong = |expected: &str| {
            CodecError::InvalidData(format!(
                "{}expected {expected}, found {}",
                at(path),
                type_name(value)
            ))
        };
        Ok(match schema {
            Schema::Null if value.is_null() => Avro::Null,
            Schema::Null => return Err(wrong("null")),
            Schema::Boolean => Avro::Boolean(value.as_bool().ok_or_else(|| wrong("boolean"))?),
            Schema::Int => Avro::Int(int(value).ok_or_else(|| wrong("int"))?),
            Schema::Long => Avro::Long(value.as_i64().ok_or_else(|| wrong("long"))?),
            Schema::Float => Avro::Float(value.cast_f64().ok_or_else(|| wrong("float"))? as f32),
            Schema::Double => Avro::Double(value.cast_f64().ok_or_else(|| wrong("double"))?),
            Schema::Bytes => Avro::Bytes(bytes(value, path)?),
            Schema::String => {
                Avro::String(value.as_str().ok_or_else(|| wrong("string"))?.to_string())
            }
            Schema::Array(array) => {
                let items = value.as_array().ok_or_else(|| wrong("array"))?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.datum(&item, &array.items, &format!("{path}[{i}]"))?);
                }
                Avro::Array(out)
            }
            Schema::Map(map) => {
                let entries = value.as_object().ok_or_else(|| wrong("map (object)"))?;
                let mut out = HashMap::with_capacity(entries.len());
                for (key, item) in entries.iter() {
                    out.insert(
                        key.to_string(),
                        self.datum(&item, &map.types, &format!("{path}.{key}"))?,
                    );
                }
                Avro::Map(out)
            }
            Schema::Union(union) => self.union(value, union, path)?,
            Schema::Record(record) => {
                let object = value
                    .as_object()
                    .ok_or_else(|| wrong(&format!("record {}", record.name)))?;
                let mut fields = Vec::with_capacity(record.fields.len());
                for field in &record.fields {
                    let field_path = if path.is_empty() {
                        field.name.clone()
                    } else {
                        format!("{path}.{}", field.name)
                    };
                    let datum = match object.get(field.name.as_str()) {
                        Some(v) => self.datum(&v, &field.schema, &field_path)?,
                        None => match &field.default {
                            Some(default) => Avro::from(default.clone())
                                .resolve_schemata(&field.schema, vec![&self.schema])
                                .map_err(|e| {
                                    CodecError::InvalidData(format!(
                                        "{}bad default: {e}",
                                        at(&field_path)
                                    ))
                                })?,
                            None => {
                                return Err(CodecError::InvalidData(format!(
                                    "{}missing, and the field has no default",
                                    at(&field_path)
                                )))
                            }
                        },
                    };
                    fields.push((field.name.clone(), datum));
                }
                Avro::Record(fields)
            }
            Schema::Enum(e) => {
                let symbol = value
                    .as_str()
                    .ok_or_else(|| wrong("enum symbol (string)"))?;
                let index = e.symbols.iter().position(|s| s == symbol).ok_or_else(|| {
                    CodecError::InvalidData(format!(
                        "{}{symbol:?} is not one of the symbols {:?}",
                        at(path),
                        e.symbols
                    ))
                })?;
                Avro::Enum(index as u32, symbol.to_string())
            }
            Schema::Fixed(fixed) => {
                let b = bytes(value, path)?;
                if b.len() != fixed.size {
                    return Err(CodecError::InvalidData(format!(
                        "{}fixed {} needs {} bytes, found {}",
                        at(path),
                        fixed.name,
                        fixed.size,
                        b.len()
                    )));
                }
                Avro::Fixed(fixed.size, b)
            }
            Schema::Decimal(_) => Avro::Decimal(apache_avro::Decimal::from(bytes(value, path)?)),
            Schema::Uuid => {
                let text = value.as_str().ok_or_else(|| wrong("uuid string"))?;
                Avro::Uuid(
                    text.parse().map_err(|e| {
                        CodecError::InvalidData(format!("{}not a uuid: {e}", at(path)))
                    })?,
                )
            }
            Schema::Date => Avro::Date(int(value).ok_or_else(|| wrong("date (int days)"))?),
            Schema::TimeMillis => {
                Avro::TimeMillis(int(value).ok_or_else(|| wrong("time-millis (int)"))?)
            }
            Schema::TimeMicros => {
                Avro::TimeMicros(value.as_i64().ok_or_else(|| wrong("time-micros (long)"))?)
            }
            Schema::TimestampMillis => Avro::TimestampMillis(
                value
                    .as_i64()
                    .ok_or_else(|| wrong("timestamp-millis (long)"))?,
            ),
            Schema::TimestampMicros => Avro::TimestampMicros(
                value
                    .as_i64()
                    .ok_or_else(|| wrong("timestamp-micros (long)"))?,
            ),
            Schema::TimestampNanos => Avro::TimestampNanos(
                value
                    .as_i64()
                    .ok_or_else(|| wrong("timestamp-nanos (long)"))?,
            ),
            Schema::LocalTimestampMillis => Avro::LocalTimestampMillis(
                value
                    .as_i64()
                    .ok_or_else(|| wrong("local-timestamp-millis (long)"))?,
            ),
            Schema::LocalTimestampMicros => Avro::LocalTimestampMicros(
                value
                    .as_i64()
                    .ok_or_else(|| wrong("local-timestamp-micros (long)"))?,
            ),
            Schema::LocalTimestampNanos => Avro::LocalTimestampNanos(
                value
                    .as_i64()
                    .ok_or_else(|| wrong("local-timestamp-nanos (long)"))?,
            ),
            Schema::Ref { name } => {
                let target = self.names.get(name).ok_or_else(|| {
                    CodecError::InvalidSchema(format!("unknown named type {name}"))
                })?;
                self.datum(value, target, path)?
            }
            other => {
                return Err(CodecError::InvalidSchema(format!(
                    "{}the gateway cannot encode {other:?} yet",
                    at(path)
                )))
            }
        })
    }

    /// A union is `null` or `{"<branch type name>": value}`, as Avro's JSON
    /// encoding writes it.
    fn union(
        &self,
        value: &Value<'_, '_>,
        union: &UnionSchema,
        path: &str,
    ) -> Result<Avro, CodecError> {
        let variants = union.variants();
        if value.is_null() {
            let index = variants
                .iter()
                .position(|v| matches!(v, Schema::Null))
                .ok_or_else(|| {
                    CodecError::InvalidData(format!("{}null is not in the union", at(path)))
                })?;
            return Ok(Avro::Union(index as u32, Box::new(Avro::Null)));
        }
        let object = value.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
            CodecError::InvalidData(format!(
                "{}a union value is written {{\"<type>\": value}}, found {}",
                at(path),
                type_name(value)
            ))
        })?;
        let (branch, inner) = object.iter().next().expect("one entry");
        let index = variants
            .iter()
            .position(|v| branch_name(v) == branch)
            .ok_or_else(|| {
                CodecError::InvalidData(format!(
                    "{}{branch:?} is not a branch of the union {:?}",
                    at(path),
                    variants.iter().map(branch_name).collect::<Vec<_>>()
                ))
            })?;
        let datum = self.datum(&inner, &variants[index], path)?;
        Ok(Avro::Union(index as u32, Box::new(datum)))
    }
}

impl Codec for AvroCodec {
    fn format(&self) -> Format {
        Format::Avro
    }

    fn encode(&self, value: &Value<'_, '_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let datum = self.datum(value, &self.schema, "")?;
        let bytes = apache_avro::to_avro_datum(&self.schema, datum)
            .map_err(|e| CodecError::InvalidData(e.to_string()))?;
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        out.extend_from_slice(&bytes);
        Ok(())
    }
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn int(value: &Value<'_, '_>) -> Option<i32> {
    value.as_i64().and_then(|v| i32::try_from(v).ok())
}

/// Avro's JSON form of bytes: a string whose code points 0-255 are the
/// bytes.
fn bytes(value: &Value<'_, '_>, path: &str) -> Result<Vec<u8>, CodecError> {
    let text = value.as_str().ok_or_else(|| {
        CodecError::InvalidData(format!(
            "{}expected bytes (a string of code points 0-255), found {}",
            at(path),
            type_name(value)
        ))
    })?;
    text.chars()
        .map(|c| u8::try_from(c as u32))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| {
            CodecError::InvalidData(format!(
                "{}bytes are written as code points 0-255",
                at(path)
            ))
        })
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
}
