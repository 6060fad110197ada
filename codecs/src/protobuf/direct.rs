//! The protobuf JSON mapping read from the simd-json tape and written
//! straight to the protobuf wire format, with no `DynamicMessage` and no
//! JSON text in between.
//!
//! A [`Plan`] is built once per schema from the descriptors: per message,
//! its fields by JSON name and by proto name, each with its number, kind,
//! shape (single, repeated, map) and presence. Messages that reach Google's
//! well-known types (whose JSON forms are special: timestamps as text,
//! `Struct` as any JSON, ...) or proto2 groups get no plan; the codec then
//! takes the general path through prost-reflect.

use std::collections::HashMap;

use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};
use simd_json::prelude::*;

use crate::{type_name, CodecError, Path, Value};

/// Field kinds, with message and enum types as indexes into the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum K {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Enum(usize),
    Message(usize),
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Single,
    List { packed: bool },
    Map { key: K, value: K },
}

#[derive(Debug)]
struct Field {
    name: String,
    number: u32,
    kind: K,
    shape: Shape,
    /// proto3 implicit presence: a default value is not written.
    implicit: bool,
    /// Index of the (real, not synthetic) oneof the field is in.
    oneof: Option<usize>,
}

#[derive(Debug)]
struct Message {
    name: String,
    fields: Vec<Field>,
    /// JSON name and proto name, to the index in `fields`.
    by_name: HashMap<String, usize>,
    oneofs: Vec<String>,
}

#[derive(Debug)]
struct Enum {
    name: String,
    by_name: HashMap<String, i32>,
}

/// How to write one message type (and those it holds) from JSON.
#[derive(Debug)]
pub(crate) struct Plan {
    messages: Vec<Message>,
    enums: Vec<Enum>,
}

impl Plan {
    /// The plan for `root`, or `None` if it reaches a well-known type or a
    /// group.
    pub(crate) fn new(root: &MessageDescriptor) -> Option<Plan> {
        let mut builder = Builder::default();
        builder.message(root)?;
        Some(Plan {
            messages: builder.messages,
            enums: builder.enums,
        })
    }

    /// Writes the record `value` as the root message.
    pub(crate) fn encode(
        &self,
        value: &Value<'_, '_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        self.message(0, value, &Path::Root, out)
    }

    fn message(
        &self,
        index: usize,
        value: &Value<'_, '_>,
        path: &Path<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let message = &self.messages[index];
        let object = value.as_object().ok_or_else(|| {
            invalid(
                path,
                format!(
                    "expected message {}, found {}",
                    message.name,
                    type_name(value)
                ),
            )
        })?;
        // Which field of each oneof is set; oneofs are few, a stack array
        // covers almost all messages.
        let mut set_oneofs = [usize::MAX; 8];
        let mut more_oneofs = Vec::new();
        for (key, item) in object.iter() {
            let field = message
                .by_name
                .get(key)
                .map(|&i| &message.fields[i])
                .ok_or_else(|| {
                    invalid(
                        path,
                        format!("message {} has no field {key:?}", message.name),
                    )
                })?;
            let path = Path::Field(path, &field.name);
            if item.is_null() {
                continue;
            }
            if let Some(oneof) = field.oneof {
                let slot = if oneof < set_oneofs.len() {
                    &mut set_oneofs[oneof]
                } else {
                    if more_oneofs.len() <= oneof {
                        more_oneofs.resize(oneof + 1, usize::MAX);
                    }
                    &mut more_oneofs[oneof]
                };
                if *slot != usize::MAX && *slot != field.number as usize {
                    return Err(invalid(
                        &path,
                        format!("another field of oneof {} is set", message.oneofs[oneof]),
                    ));
                }
                *slot = field.number as usize;
            }
            self.field(field, &item, &path, out)?;
        }
        Ok(())
    }

    fn field(
        &self,
        field: &Field,
        value: &Value<'_, '_>,
        path: &Path<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        match field.shape {
            Shape::Single => {
                if field.implicit && self.is_default(field.kind, value) {
                    return Ok(());
                }
                self.tagged(field.number, field.kind, value, path, out)
            }
            Shape::List { packed } => {
                let items = value.as_array().ok_or_else(|| {
                    invalid(path, format!("expected a list, found {}", type_name(value)))
                })?;
                if items.is_empty() {
                    return Ok(());
                }
                if packed {
                    tag(out, field.number, LEN);
                    return delimited(out, |out| {
                        for (i, item) in items.iter().enumerate() {
                            self.scalar(field.kind, &item, &Path::Index(path, i), out)?;
                        }
                        Ok(())
                    });
                }
                for (i, item) in items.iter().enumerate() {
                    self.tagged(field.number, field.kind, &item, &Path::Index(path, i), out)?;
                }
                Ok(())
            }
            Shape::Map { key, value: kind } => {
                let entries = value.as_object().ok_or_else(|| {
                    invalid(
                        path,
                        format!("expected a map (object), found {}", type_name(value)),
                    )
                })?;
                for (k, item) in entries.iter() {
                    let path = Path::Key(path, k);
                    tag(out, field.number, LEN);
                    // Entries are proto3 messages: defaults are left out.
                    delimited(out, |out| {
                        map_key(key, k, &path, out)?;
                        if !item.is_null() && !self.is_default(kind, &item) {
                            self.tagged(2, kind, &item, &path, out)?;
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            }
        }
    }

    /// Writes the tag and the value.
    fn tagged(
        &self,
        number: u32,
        kind: K,
        value: &Value<'_, '_>,
        path: &Path<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        tag(out, number, wire_type(kind));
        match kind {
            K::Message(index) => delimited(out, |out| self.message(index, value, path, out)),
            _ => self.scalar(kind, value, path, out),
        }
    }

    /// Writes a non-message value, without its tag.
    fn scalar(
        &self,
        kind: K,
        value: &Value<'_, '_>,
        path: &Path<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), CodecError> {
        let wrong = |expected: &str| {
            invalid(
                path,
                format!("expected {expected}, found {}", type_name(value)),
            )
        };
        match kind {
            K::Int32 => varint(
                out,
                int(value, path, i32::MIN.into(), i32::MAX.into())? as u64,
            ),
            K::Int64 => varint(
                out,
                int(value, path, i64::MIN.into(), i64::MAX.into())? as u64,
            ),
            K::Uint32 => varint(out, int(value, path, 0, u32::MAX.into())? as u64),
            K::Uint64 => varint(out, int(value, path, 0, u64::MAX.into())? as u64),
            K::Sint32 => {
                let v = int(value, path, i32::MIN.into(), i32::MAX.into())? as i32;
                varint(out, ((v << 1) ^ (v >> 31)) as u32 as u64)
            }
            K::Sint64 => {
                let v = int(value, path, i64::MIN.into(), i64::MAX.into())? as i64;
                varint(out, ((v << 1) ^ (v >> 63)) as u64)
            }
            K::Fixed32 => {
                let v = int(value, path, 0, u32::MAX.into())? as u32;
                out.extend_from_slice(&v.to_le_bytes())
            }
            K::Sfixed32 => {
                let v = int(value, path, i32::MIN.into(), i32::MAX.into())? as i32;
                out.extend_from_slice(&v.to_le_bytes())
            }
            K::Fixed64 => {
                let v = int(value, path, 0, u64::MAX.into())? as u64;
                out.extend_from_slice(&v.to_le_bytes())
            }
            K::Sfixed64 => {
                let v = int(value, path, i64::MIN.into(), i64::MAX.into())? as i64;
                out.extend_from_slice(&v.to_le_bytes())
            }
            K::Float => {
                let v = float(value).ok_or_else(|| wrong("a float"))? as f32;
                out.extend_from_slice(&v.to_le_bytes())
            }
            K::Double => {
                let v = float(value).ok_or_else(|| wrong("a double"))?;
                out.extend_from_slice(&v.to_le_bytes())
            }
            K::Bool => out.push(u8::from(value.as_bool().ok_or_else(|| wrong("a boolean"))?)),
            K::String => {
                let text = value.as_str().ok_or_else(|| wrong("a string"))?;
                varint(out, text.len() as u64);
                out.extend_from_slice(text.as_bytes());
            }
            K::Bytes => {
                let text = value.as_str().ok_or_else(|| wrong("base64 bytes"))?;
                let bytes = base64(text).ok_or_else(|| invalid(path, "not base64".into()))?;
                varint(out, bytes.len() as u64);
                out.extend_from_slice(&bytes);
            }
            K::Enum(index) => {
                let e = &self.enums[index];
                let number = match value.as_str() {
                    Some(name) => *e.by_name.get(name).ok_or_else(|| {
                        invalid(path, format!("{name:?} is not a value of enum {}", e.name))
                    })?,
                    None => int(value, path, i32::MIN.into(), i32::MAX.into())
                        .map_err(|_| wrong(&format!("a value of enum {}", e.name)))?
                        as i32,
                };
                varint(out, number as i64 as u64)
            }
            K::Message(_) => unreachable!("messages are written by `tagged`"),
        }
        Ok(())
    }

    /// Whether a value is its kind's default, which proto3 does not write
    /// for fields without presence.
    fn is_default(&self, kind: K, value: &Value<'_, '_>) -> bool {
        match kind {
            K::Message(_) => false,
            K::Bool => value.as_bool() == Some(false),
            K::String | K::Bytes => value.as_str() == Some(""),
            K::Enum(index) => {
                value.as_i64() == Some(0)
                    || value
                        .as_str()
                        .is_some_and(|n| self.enums[index].by_name.get(n) == Some(&0))
            }
            K::Float | K::Double => value.as_f64() == Some(0.0) && !value.is_str(),
            _ => value.as_i64() == Some(0) || value.as_u64() == Some(0),
        }
    }
}

#[derive(Default)]
struct Builder {
    messages: Vec<Message>,
    enums: Vec<Enum>,
    message_index: HashMap<String, usize>,
    enum_index: HashMap<String, usize>,
}

impl Builder {
    fn message(&mut self, descriptor: &MessageDescriptor) -> Option<usize> {
        if let Some(&index) = self.message_index.get(descriptor.full_name()) {
            return Some(index);
        }
        if descriptor.full_name().starts_with("google.protobuf.") {
            return None;
        }
        let index = self.messages.len();
        self.message_index
            .insert(descriptor.full_name().to_string(), index);
        self.messages.push(Message {
            name: descriptor.full_name().to_string(),
            fields: Vec::new(),
            by_name: HashMap::new(),
            oneofs: Vec::new(),
        });
        let real_oneofs: Vec<_> = descriptor.oneofs().filter(|o| !o.is_synthetic()).collect();
        let mut fields = Vec::new();
        let mut by_name = HashMap::new();
        for field in descriptor.fields() {
            if field.is_group() {
                return None;
            }
            let shape = if field.is_map() {
                let Kind::Message(entry) = field.kind() else {
                    return None;
                };
                Shape::Map {
                    key: self.kind(&entry.map_entry_key_field())?,
                    value: self.kind(&entry.map_entry_value_field())?,
                }
            } else if field.cardinality() == Cardinality::Repeated {
                Shape::List {
                    packed: field.is_packed(),
                }
            } else {
                Shape::Single
            };
            let oneof = field.containing_oneof().and_then(|o| {
                real_oneofs
                    .iter()
                    .position(|r| r.full_name() == o.full_name())
            });
            let i = fields.len();
            by_name.insert(field.json_name().to_string(), i);
            by_name.insert(field.name().to_string(), i);
            fields.push(Field {
                name: field.name().to_string(),
                number: field.number(),
                kind: match shape {
                    Shape::Map { value, .. } => value,
                    _ => self.kind(&field)?,
                },
                shape,
                implicit: !field.supports_presence() && matches!(shape, Shape::Single),
                oneof,
            });
        }
        let message = &mut self.messages[index];
        message.fields = fields;
        message.by_name = by_name;
        message.oneofs = real_oneofs.iter().map(|o| o.name().to_string()).collect();
        Some(index)
    }

    fn kind(&mut self, field: &FieldDescriptor) -> Option<K> {
        Some(match field.kind() {
            Kind::Double => K::Double,
            Kind::Float => K::Float,
            Kind::Int32 => K::Int32,
            Kind::Int64 => K::Int64,
            Kind::Uint32 => K::Uint32,
            Kind::Uint64 => K::Uint64,
            Kind::Sint32 => K::Sint32,
            Kind::Sint64 => K::Sint64,
            Kind::Fixed32 => K::Fixed32,
            Kind::Fixed64 => K::Fixed64,
            Kind::Sfixed32 => K::Sfixed32,
            Kind::Sfixed64 => K::Sfixed64,
            Kind::Bool => K::Bool,
            Kind::String => K::String,
            Kind::Bytes => K::Bytes,
            Kind::Message(m) if !field.is_map() => K::Message(self.message(&m)?),
            Kind::Message(_) => return None,
            Kind::Enum(e) => {
                if e.full_name().starts_with("google.protobuf.") {
                    return None;
                }
                let next = self.enums.len();
                let index = *self
                    .enum_index
                    .entry(e.full_name().to_string())
                    .or_insert(next);
                if index == next {
                    self.enums.push(Enum {
                        name: e.full_name().to_string(),
                        by_name: e
                            .values()
                            .map(|v| (v.name().to_string(), v.number()))
                            .collect(),
                    });
                }
                K::Enum(index)
            }
        })
    }
}

const VARINT: u8 = 0;
const I64: u8 = 1;
const LEN: u8 = 2;
const I32: u8 = 5;

fn wire_type(kind: K) -> u8 {
    match kind {
        K::Double | K::Fixed64 | K::Sfixed64 => I64,
        K::Float | K::Fixed32 | K::Sfixed32 => I32,
        K::String | K::Bytes | K::Message(_) => LEN,
        _ => VARINT,
    }
}

fn tag(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    varint(out, (u64::from(number) << 3) | u64::from(wire_type));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes what `f` writes, preceded by its length. One byte is set aside
/// for the length; a longer one moves the content up.
fn delimited(
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    let at = out.len();
    out.push(0);
    f(out)?;
    let len = out.len() - at - 1;
    if len < 0x80 {
        out[at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(10);
        varint(&mut prefix, len as u64);
        out[at] = prefix[0];
        out.splice(at + 1..at + 1, prefix[1..].iter().copied());
    }
    Ok(())
}

/// A map entry's key (field 1), from the JSON object key.
fn map_key(kind: K, key: &str, path: &Path<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let bad = || invalid(path, format!("{key:?} is not a valid map key"));
    let mark = out.len();
    tag(out, 1, wire_type(kind));
    let start = out.len();
    match kind {
        K::String => {
            varint(out, key.len() as u64);
            out.extend_from_slice(key.as_bytes());
        }
        K::Bool => out.push(match key {
            "true" => 1,
            "false" => 0,
            _ => return Err(bad()),
        }),
        K::Int32 | K::Int64 => varint(out, key.parse::<i64>().map_err(|_| bad())? as u64),
        K::Uint32 | K::Uint64 => varint(out, key.parse::<u64>().map_err(|_| bad())?),
        K::Sint32 | K::Sint64 => {
            let v = key.parse::<i64>().map_err(|_| bad())?;
            varint(out, ((v << 1) ^ (v >> 63)) as u64)
        }
        K::Fixed32 => out.extend_from_slice(&key.parse::<u32>().map_err(|_| bad())?.to_le_bytes()),
        K::Sfixed32 => out.extend_from_slice(&key.parse::<i32>().map_err(|_| bad())?.to_le_bytes()),
        K::Fixed64 => out.extend_from_slice(&key.parse::<u64>().map_err(|_| bad())?.to_le_bytes()),
        K::Sfixed64 => out.extend_from_slice(&key.parse::<i64>().map_err(|_| bad())?.to_le_bytes()),
        _ => return Err(bad()),
    }
    // A default key ("", 0, false: all its bytes zero) is left out.
    let value = &out[start..];
    let default = match kind {
        K::String => value == [0],
        _ => value.iter().all(|&b| b == 0),
    };
    if default {
        out.truncate(mark);
    }
    Ok(())
}

/// An integer in the JSON mapping: a number (integral) or a string of one,
/// within `min..=max`.
fn int(value: &Value<'_, '_>, path: &Path<'_>, min: i128, max: i128) -> Result<i128, CodecError> {
    let parsed: Option<i128> = if let Some(v) = value.as_i64() {
        Some(v.into())
    } else if let Some(v) = value.as_u64() {
        Some(v.into())
    } else if let Some(v) = value.as_f64() {
        integral(v)
    } else if let Some(text) = value.as_str() {
        text.parse::<i128>()
            .ok()
            .or_else(|| text.parse::<f64>().ok().and_then(integral))
    } else {
        None
    };
    let v = parsed.ok_or_else(|| {
        invalid(
            path,
            format!("expected an integer, found {}", type_name(value)),
        )
    })?;
    if v < min || v > max {
        return Err(invalid(path, format!("{v} is out of range")));
    }
    Ok(v)
}

fn integral(v: f64) -> Option<i128> {
    (v.fract() == 0.0 && v.abs() < 1.8e19).then_some(v as i128)
}

/// A float in the JSON mapping: a number, or a string of one, or "NaN",
/// "Infinity", "-Infinity".
fn float(value: &Value<'_, '_>) -> Option<f64> {
    if let Some(v) = value.cast_f64() {
        return Some(v);
    }
    match value.as_str()? {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        text => text.parse().ok(),
    }
}

/// Bytes in the JSON mapping: standard or URL-safe base64, padded or not.
fn base64(text: &str) -> Option<Vec<u8>> {
    use base64_simd::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode_to_vec(text).ok())
}

fn invalid(path: &Path<'_>, problem: String) -> CodecError {
    CodecError::InvalidData(format!("{}{problem}", path.at()))
}
