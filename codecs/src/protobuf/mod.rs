//! `protobuf`: the JSON form of a message (protobuf's JSON mapping) encoded
//! as protobuf binary in the Confluent wire format: magic byte 0, the schema
//! id (4 bytes, big-endian), the message-index path (here always the first
//! message of the file: the single byte 0), the message.
//!
//! The `.proto` text is compiled (protox) once per schema id, with the files
//! it imports (Schema Registry references, by import path); the records are
//! the file's first message type, as Confluent's REST Proxy uses it.

use std::collections::HashMap;
use std::path::Path;

use prost::Message;
/// Re-exported for the schema registry's compatibility checks, which walk
/// the compiled descriptors.
pub use prost_reflect;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use simd_json::prelude::*;

use crate::{Codec, CodecError, Format, Referenced, Value};

/// The in-memory name the schema text is compiled under (one no import
/// is likely to use).
const FILE: &str = "__kafka_gateway__/schema.proto";

mod direct;

pub struct ProtobufCodec {
    id: u32,
    message: MessageDescriptor,
    /// The direct path from the JSON tape to the wire format, unless the
    /// message reaches Google's well-known types.
    plan: Option<direct::Plan>,
}

impl ProtobufCodec {
    /// Compiles `schema` (`.proto` text) for the registry id `id`.
    pub fn new(schema: &str, id: u32) -> Result<ProtobufCodec, CodecError> {
        ProtobufCodec::with_references(schema, &[], id)
    }

    /// Compiles `schema`, whose imports are `references` (by import path)
    /// or Google's well-known types.
    pub fn with_references(
        schema: &str,
        references: &[Referenced],
        id: u32,
    ) -> Result<ProtobufCodec, CodecError> {
        let message = compile(schema, references)?;
        let plan = direct::Plan::new(&message);
        Ok(ProtobufCodec { id, message, plan })
    }

    /// The message type records are encoded as.
    pub fn message(&self) -> &MessageDescriptor {
        &self.message
    }
}

/// Compiles the schema and returns its first message type. The schema and
/// its references are `.proto` text or, as Confluent's serializers register
/// them, base64 `FileDescriptorProto`s. Imports resolve to `references` by
/// their names, then to Google's well-known types.
pub fn compile(schema: &str, references: &[Referenced]) -> Result<MessageDescriptor, CodecError> {
    let invalid = |e: protox::Error| CodecError::InvalidSchema(e.to_string());
    let mut files: HashMap<String, String> = references
        .iter()
        .map(|r| (r.name.clone(), r.schema.clone()))
        .collect();
    files.insert(FILE.to_string(), schema.to_string());
    let mut resolver = protox::file::ChainFileResolver::new();
    resolver.add(Sources(files));
    resolver.add(protox::file::GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.open_file(Path::new(FILE)).map_err(invalid)?;
    let pool = compiler.descriptor_pool();
    let file = pool
        .get_file_by_name(FILE)
        .ok_or_else(|| CodecError::InvalidSchema("the schema did not compile".into()))?;
    let first = file.messages().next();
    first.ok_or_else(|| CodecError::InvalidSchema("the schema defines no message".into()))
}

/// Serves the schema and its references as files, by name.
struct Sources(HashMap<String, String>);

impl protox::file::FileResolver for Sources {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        let name = path.to_str()?;
        self.0.contains_key(name).then(|| name.to_string())
    }

    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        match self.0.get(name) {
            Some(text) => match descriptor(text) {
                Some(mut file) => {
                    file.name = Some(name.to_string());
                    Ok(protox::file::File::from_file_descriptor_proto(file))
                }
                None => protox::file::File::from_source(name, text),
            },
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// A schema in the other form Confluent's registry accepts, and Confluent's
/// own serializers register: a serialized `FileDescriptorProto` in base64.
/// `.proto` text never passes for one (it has spaces or `;`).
fn descriptor(text: &str) -> Option<prost_reflect::prost_types::FileDescriptorProto> {
    let text = text.trim();
    if text.is_empty() || text.contains(|c: char| c.is_ascii_whitespace() || c == ';') {
        return None;
    }
    let bytes = base64_simd::STANDARD.decode_to_vec(text).ok()?;
    prost_reflect::prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()
}

impl Codec for ProtobufCodec {
    fn format(&self) -> Format {
        Format::Protobuf
    }

    fn record_name(&self) -> Option<String> {
        Some(self.message.full_name().to_string())
    }

    fn encode(&self, value: &Value<'_, '_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let start = out.len();
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        // Message-index path [0]: the file's first message.
        out.push(0);
        let result = match &self.plan {
            Some(plan) => plan.encode(value, out),
            None => self.encode_general(value, out),
        };
        result.map_err(|e| {
            out.truncate(start);
            CodecError::InvalidData(format!("{}: {e}", self.message.full_name()))
        })
    }

    fn decode(&self, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
        let decoded = self.decode_message(bytes)?;
        serde_json::to_value(&decoded).map_err(|e| CodecError::InvalidData(e.to_string()))
    }

    /// The message serialized straight into `out`, with no JSON tree.
    fn decode_json(&self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        let decoded = self.decode_message(bytes)?;
        serde_json::to_writer(out, &decoded).map_err(|e| CodecError::InvalidData(e.to_string()))
    }
}

impl ProtobufCodec {
    /// A framed record's message: the message-index path picks the type.
    fn decode_message(&self, bytes: &[u8]) -> Result<DynamicMessage, CodecError> {
        let mut rest = crate::unframe(bytes, self.id)?;
        let invalid = |m: &str| CodecError::InvalidData(m.to_string());
        // The message-index path: a count, then indexes (zig-zag varints);
        // [] means [0].
        let varint = |rest: &mut &[u8]| -> Result<i64, CodecError> {
            let raw = prost::encoding::decode_varint(rest)
                .map_err(|_| invalid("a bad message-index path"))?;
            Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
        };
        let count = varint(&mut rest)?;
        let mut path = Vec::new();
        for _ in 0..count.max(0) {
            path.push(varint(&mut rest)?);
        }
        if path.is_empty() {
            path.push(0);
        }
        let file = self.message.parent_file();
        let mut message = usize::try_from(path[0])
            .ok()
            .and_then(|i| file.messages().nth(i))
            .ok_or_else(|| invalid("the message index names no message of the schema"))?;
        for &i in &path[1..] {
            message = usize::try_from(i)
                .ok()
                .and_then(|i| message.child_messages().nth(i))
                .ok_or_else(|| invalid("the message index names no message of the schema"))?;
        }
        DynamicMessage::decode(message, rest).map_err(|e| CodecError::InvalidData(e.to_string()))
    }

    /// Through prost-reflect, which reads the JSON mapping (well-known
    /// types included) with serde: the value is written back as JSON text
    /// for it.
    fn encode_general(&self, value: &Value<'_, '_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let mut json = Vec::with_capacity(256);
        value
            .write(&mut json)
            .map_err(|e| CodecError::InvalidData(e.to_string()))?;
        let mut deserializer = serde_json::Deserializer::from_slice(&json);
        let message = DynamicMessage::deserialize(self.message.clone(), &mut deserializer)
            .map_err(|e| CodecError::InvalidData(e.to_string()))?;
        message
            .encode(out)
            .map_err(|e| CodecError::InvalidData(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = r#"
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        message Order {
            int32 product_id = 1;
            string product_name = 2;
            repeated string tags = 3;
            Status status = 4;
            google.protobuf.Timestamp at = 5;
        }
        enum Status { NEW = 0; PAID = 1; }
        message Other { string x = 1; }
    "#;

    fn encode(codec: &ProtobufCodec, json: &str) -> Result<Vec<u8>, CodecError> {
        crate::with_value(json, |v| {
            let mut out = Vec::new();
            codec.encode(v, &mut out).map(|()| out)
        })
    }

    const ORDER_JSON: &str = r#"{"productId": 7, "product_name": "pen", "tags": ["a"], "status": "PAID", "at": "2026-11-22T02:00:00Z"}"#;

    #[test]
    fn encodes_the_first_message_in_the_confluent_wire_format() {
        let codec = ProtobufCodec::new(ORDER, 3).unwrap();
        let out = encode(&codec, ORDER_JSON).unwrap();
        assert_eq!(&out[..6], &[0, 0, 0, 0, 3, 0]);
        let decoded = DynamicMessage::decode(codec.message.clone(), &out[6..]).unwrap();
        assert_eq!(codec.message.full_name(), "shop.Order");
        assert_eq!(
            decoded.get_field_by_name("product_id").unwrap().as_i32(),
            Some(7)
        );
        assert_eq!(
            decoded.get_field_by_name("product_name").unwrap().as_str(),
            Some("pen")
        );
        assert_eq!(
            decoded
                .get_field_by_name("status")
                .unwrap()
                .as_enum_number(),
            Some(1)
        );
    }

    #[test]
    fn decode_json_writes_what_decode_gives() {
        let codec = ProtobufCodec::new(ORDER, 3).unwrap();
        let out = encode(&codec, ORDER_JSON).unwrap();
        let mut json = Vec::new();
        codec.decode_json(&out, &mut json).unwrap();
        let written: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(written, codec.decode(&out).unwrap());
        assert_eq!(written["productName"], "pen");
        assert!(codec.decode_json(&out[1..], &mut Vec::new()).is_err());
    }

    #[test]
    fn data_that_does_not_fit_is_refused() {
        let codec = ProtobufCodec::new(ORDER, 3).unwrap();
        let err = encode(&codec, r#"{"product_id": "seven"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("shop.Order"), "{err}");
        assert!(encode(&codec, r#"{"nope": 1}"#).is_err());
    }

    #[test]
    fn invalid_schemas_are_refused() {
        assert!(matches!(
            ProtobufCodec::new("message {", 1),
            Err(CodecError::InvalidSchema(_))
        ));
        assert!(matches!(
            ProtobufCodec::new("syntax = \"proto3\";", 1),
            Err(CodecError::InvalidSchema(_))
        ));
        assert!(matches!(
            ProtobufCodec::new(
                "syntax = \"proto3\"; import \"other.proto\"; message A { int32 a = 1; }",
                1
            ),
            Err(CodecError::InvalidSchema(_))
        ));
    }

    #[test]
    fn imports_resolve_to_references() {
        let common = Referenced {
            name: "shop/common.proto".into(),
            schema: r#"syntax = "proto3"; package shop.common;
                import "google/protobuf/timestamp.proto";
                message Money { string currency = 1; int64 cents = 2; }"#
                .into(),
        };
        let order = r#"syntax = "proto3"; package shop;
            import "shop/common.proto";
            message Order { int32 id = 1; shop.common.Money total = 2; }"#;
        let codec = ProtobufCodec::with_references(order, &[common], 4).unwrap();
        let out = encode(
            &codec,
            r#"{"id": 1, "total": {"currency": "EUR", "cents": 250}}"#,
        )
        .unwrap();
        let decoded = DynamicMessage::decode(codec.message.clone(), &out[6..]).unwrap();
        let total = decoded.get_field_by_name("total").unwrap();
        let total = total.as_message().unwrap();
        assert_eq!(
            total.get_field_by_name("cents").unwrap().as_i64(),
            Some(250)
        );
        let missing = ProtobufCodec::new(order, 4).err().unwrap().to_string();
        assert!(missing.contains("shop/common.proto"), "{missing}");
    }

    #[test]
    fn base64_file_descriptors_compile_like_proto_text() {
        use prost_reflect::prost_types::{
            field_descriptor_proto::{Label, Type},
            DescriptorProto, FieldDescriptorProto, FileDescriptorProto,
        };
        let field =
            |name: &str, number, kind: Type, type_name: Option<&str>| FieldDescriptorProto {
                name: Some(name.into()),
                number: Some(number),
                label: Some(Label::Optional as i32),
                r#type: Some(kind as i32),
                type_name: type_name.map(String::from),
                json_name: Some(name.into()),
                ..Default::default()
            };
        let common = FileDescriptorProto {
            name: Some("common.proto".into()),
            package: Some("shop".into()),
            syntax: Some("proto3".into()),
            message_type: vec![DescriptorProto {
                name: Some("Money".into()),
                field: vec![field("cents", 1, Type::Int64, None)],
                ..Default::default()
            }],
            ..Default::default()
        };
        let order = FileDescriptorProto {
            name: Some("order.proto".into()),
            package: Some("shop".into()),
            syntax: Some("proto3".into()),
            dependency: vec!["common.proto".into()],
            message_type: vec![DescriptorProto {
                name: Some("Order".into()),
                field: vec![field("total", 1, Type::Message, Some(".shop.Money"))],
                ..Default::default()
            }],
            ..Default::default()
        };
        let b64 = |file: &FileDescriptorProto| {
            base64_simd::STANDARD.encode_to_string(file.encode_to_vec())
        };
        let references = [Referenced {
            name: "common.proto".into(),
            schema: b64(&common),
        }];
        let codec = ProtobufCodec::with_references(&b64(&order), &references, 1).unwrap();
        assert_eq!(codec.message().full_name(), "shop.Order");
        let out = encode(&codec, r#"{"total": {"cents": "5"}}"#).unwrap();
        assert_eq!(out[6..], [0x0a, 0x02, 0x08, 0x05]);
    }

    const EVERYTHING: &str = r#"syntax = "proto3"; package all;
        message Everything {
            double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5;
            uint64 u64 = 6; sint32 s32 = 7; sint64 s64 = 8; fixed32 fx32 = 9;
            fixed64 fx64 = 10; sfixed32 sf32 = 11; sfixed64 sf64 = 12; bool b = 13;
            string s = 14; bytes raw = 15; Color color = 16; Inner inner = 17;
            repeated int32 packed = 18; repeated string names = 19;
            repeated Inner inners = 20; map<string, int32> counts = 21;
            map<int64, Inner> by_id = 22; map<bool, string> flags = 23;
            oneof choice { string text = 24; Inner other = 25; }
            optional int32 maybe = 26; int32 zero = 27; repeated Color colors = 28;
            Everything next = 29;
        }
        message Inner { string name = 1; repeated sint64 values = 2; }
        enum Color { RED = 0; GREEN = 1; BLUE = 2; }"#;

    #[test]
    fn the_direct_path_writes_what_prost_reflect_writes() {
        let codec = ProtobufCodec::new(EVERYTHING, 1).unwrap();
        assert!(codec.plan.is_some(), "no well-known types: the direct path");
        let cases = [
            r#"{"d": 1.5, "f": -2.25, "i32": -7, "i64": "-9000000000", "u32": 4000000000,
                "u64": "18446744073709551615", "s32": -3, "s64": -4000000000, "fx32": 7,
                "fx64": "8", "sf32": -9, "sf64": -10, "b": true, "s": "héllo",
                "raw": "AAH/", "color": "BLUE", "inner": {"name": "x", "values": [-1, 2]},
                "packed": [1, -2, 300], "names": ["a", "b"], "inners": [{"name": "y"}, {}],
                "counts": {"a": 1, "b": 0}, "byId": {"-5": {"name": "z"}}, "flags": {"true": "t"},
                "text": "chosen", "maybe": 0, "zero": 0, "colors": ["GREEN", 2, "RED"],
                "next": {"i32": 1, "next": {"s": "deep"}}}"#,
            r#"{"other": {"name": "o"}, "d": "Infinity", "f": 1e10, "i32": 5.0, "color": 1,
                "by_id": {}, "inner": null, "packed": [], "b": false, "s": ""}"#,
            r#"{}"#,
        ];
        for json in cases {
            let direct = encode(&codec, json).unwrap();
            let general = crate::with_value(json, |v| {
                let mut out = Vec::new();
                codec.encode_general(v, &mut out).map(|()| out)
            })
            .unwrap();
            let decode =
                |bytes: &[u8]| DynamicMessage::decode(codec.message.clone(), bytes).unwrap();
            assert_eq!(decode(&direct[6..]), decode(&general), "{json}");
            assert_eq!(direct.len() - 6, general.len(), "same size: {json}");
        }
    }

    #[test]
    fn the_direct_path_refuses_what_does_not_fit() {
        let codec = ProtobufCodec::new(EVERYTHING, 1).unwrap();
        for (json, expected) in [
            (r#"{"nope": 1}"#, "no field \"nope\""),
            (r#"{"i32": 3000000000}"#, "i32: 3000000000 is out of range"),
            (r#"{"u32": -1}"#, "out of range"),
            (r#"{"i32": 1.5}"#, "i32: expected an integer"),
            (r#"{"color": "PINK"}"#, "not a value of enum all.Color"),
            (r#"{"text": "a", "other": {}}"#, "oneof choice"),
            (r#"{"raw": "***"}"#, "raw: not base64"),
            (r#"{"inners": [{"values": ["x"]}]}"#, "inners[0].values[0]"),
            (r#"{"byId": {"one": {}}}"#, "not a valid map key"),
            (
                r#"{"next": {"next": {"b": "yes"}}}"#,
                "next.next.b: expected a boolean",
            ),
        ] {
            let mut out = vec![7];
            let err = crate::with_value(json, |v| codec.encode(v, &mut out))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{json}: {err}");
            assert!(err.starts_with("all.Everything: "), "{err}");
            assert_eq!(out, [7], "nothing left behind");
        }
    }

    #[test]
    fn decoding_gives_the_protobuf_json_mapping() {
        let codec = ProtobufCodec::new(EVERYTHING, 1).unwrap();
        let bytes = encode(
            &codec,
            r#"{"i64": 5, "s": "x", "color": "BLUE", "inner": {"name": "n"}, "counts": {"a": 1}}"#,
        )
        .unwrap();
        let back = codec.decode(&bytes).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"i64": "5", "s": "x", "color": "BLUE", "inner": {"name": "n"}, "counts": {"a": 1}})
        );
        // An explicit message-index path [1] names the second message.
        let inner = [&[0, 0, 0, 0, 1, 2, 2][..], &[0x0a, 1, b'z']].concat();
        assert_eq!(
            codec.decode(&inner).unwrap(),
            serde_json::json!({"name": "z"})
        );
    }
}
