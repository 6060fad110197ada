//! `jsonschema`: a JSON value validated against a JSON Schema, written as
//! JSON text in the Confluent wire format (magic byte 0, the schema id in 4
//! bytes big-endian, the JSON). The schema is compiled once per id, with
//! the documents its `$ref`s name (Schema Registry references).

use simd_json::prelude::*;

use crate::{Codec, CodecError, Format, Referenced, Value};

pub struct JsonSchemaCodec {
    id: u32,
    validator: jsonschema::Validator,
    /// The schema's `title`, its record name.
    title: Option<String>,
}

impl JsonSchemaCodec {
    /// Compiles `schema` (JSON Schema text) for the registry id `id`.
    pub fn new(schema: &str, id: u32) -> Result<JsonSchemaCodec, CodecError> {
        JsonSchemaCodec::with_references(schema, &[], id)
    }

    /// Compiles `schema`, whose `$ref`s to other documents resolve to
    /// `references`. Nothing is fetched from the network.
    pub fn with_references(
        schema: &str,
        references: &[Referenced],
        id: u32,
    ) -> Result<JsonSchemaCodec, CodecError> {
        let schema: serde_json::Value = serde_json::from_str(schema)
            .map_err(|e| CodecError::InvalidSchema(format!("not JSON: {e}")))?;
        let documents = references
            .iter()
            .map(|r| {
                serde_json::from_str(&r.schema)
                    .map(|document| (r.name.clone(), document))
                    .map_err(|e| {
                        CodecError::InvalidSchema(format!("reference {} is not JSON: {e}", r.name))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let validator = jsonschema::options()
            .with_retriever(References(documents))
            .build(&schema)
            .map_err(|e| CodecError::InvalidSchema(e.to_string()))?;
        let title = schema
            .get("title")
            .and_then(|t| t.as_str())
            .map(String::from);
        Ok(JsonSchemaCodec {
            id,
            validator,
            title,
        })
    }
}

/// Hands the validator a referenced document when it asks for a URI that
/// is the reference's name, or ends with it as a path (a relative `$ref`
/// resolved against the schema's base URI).
struct References(Vec<(String, serde_json::Value)>);

impl jsonschema::Retrieve for References {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        let uri = uri.split('#').next().unwrap_or(uri);
        self.0
            .iter()
            .find(|(name, _)| {
                let name = name.split('#').next().unwrap_or(name);
                uri == name
                    || uri
                        .strip_suffix(name.trim_start_matches("./"))
                        .is_some_and(|rest| rest.ends_with('/'))
            })
            .map(|(_, document)| document.clone())
            .ok_or_else(|| format!("{uri} is not among the schema's references").into())
    }
}

impl Codec for JsonSchemaCodec {
    fn format(&self) -> Format {
        Format::JsonSchema
    }

    fn record_name(&self) -> Option<String> {
        self.title.clone()
    }

    fn encode(&self, value: &Value<'_, '_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        // The validator works on serde_json values: built from the tape.
        // `is_valid` stops at the first failure and builds no error; the
        // error is built only for a record that fails.
        let instance = to_serde(value);
        if !self.validator.is_valid(&instance) {
            let message = match self.validator.validate(&instance) {
                Err(e) => {
                    let path = e.instance_path().to_string();
                    let at = if path.is_empty() { "/" } else { path.as_str() };
                    format!("at {at}: {e}")
                }
                Ok(()) => "the value does not fit the schema".to_string(),
            };
            return Err(CodecError::InvalidData(message));
        }
        let start = out.len();
        out.push(0);
        out.extend_from_slice(&self.id.to_be_bytes());
        if let Err(e) = value.write(out) {
            out.truncate(start);
            return Err(CodecError::InvalidData(e.to_string()));
        }
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
        let json = crate::unframe(bytes, self.id)?;
        serde_json::from_slice(json).map_err(|e| CodecError::InvalidData(format!("not JSON: {e}")))
    }

    /// The record is JSON text after its frame: checked, then copied, as
    /// the `json` codec does.
    fn decode_json(&self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        crate::json::JsonCodec.decode_json(crate::unframe(bytes, self.id)?, out)
    }
}

/// The tape value as a `serde_json::Value`, for the validator.
fn to_serde(value: &Value<'_, '_>) -> serde_json::Value {
    use serde_json::Value as J;
    if let Some(text) = value.as_str() {
        J::String(text.to_string())
    } else if let Some(object) = value.as_object() {
        J::Object(
            object
                .iter()
                .map(|(k, v)| (k.to_string(), to_serde(&v)))
                .collect(),
        )
    } else if let Some(array) = value.as_array() {
        J::Array(array.iter().map(|v| to_serde(&v)).collect())
    } else if let Some(b) = value.as_bool() {
        J::Bool(b)
    } else if let Some(i) = value.as_i64() {
        J::from(i)
    } else if let Some(u) = value.as_u64() {
        J::from(u)
    } else if let Some(f) = value.as_f64() {
        serde_json::Number::from_f64(f).map_or(J::Null, J::Number)
    } else {
        J::Null
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCT: &str = r#"{"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["id", "name"]}"#;

    fn encode(codec: &JsonSchemaCodec, json: &str) -> Result<Vec<u8>, CodecError> {
        crate::with_value(json, |v| {
            let mut out = Vec::new();
            codec.encode(v, &mut out).map(|()| out)
        })
    }

    #[test]
    fn valid_data_is_framed_json() {
        let codec = JsonSchemaCodec::new(PRODUCT, 9).unwrap();
        let out = encode(&codec, r#"{"id": 1, "name": "pen", "tags": ["a"]}"#).unwrap();
        assert_eq!(&out[..5], &[0, 0, 0, 0, 9]);
        let back: serde_json::Value = serde_json::from_slice(&out[5..]).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"id": 1, "name": "pen", "tags": ["a"]})
        );
    }

    #[test]
    fn decode_json_copies_what_decode_parses() {
        let codec = JsonSchemaCodec::new(PRODUCT, 9).unwrap();
        let out = encode(&codec, r#"{"id": 1, "name": "pen", "tags": ["a"]}"#).unwrap();
        let mut json = Vec::new();
        codec.decode_json(&out, &mut json).unwrap();
        let written: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(written, codec.decode(&out).unwrap());
        // Another schema's frame, or none: refused.
        assert!(JsonSchemaCodec::new(PRODUCT, 8)
            .unwrap()
            .decode_json(&out, &mut Vec::new())
            .is_err());
        assert!(codec.decode_json(&out[5..], &mut Vec::new()).is_err());
    }

    #[test]
    fn invalid_data_names_where_and_why() {
        let codec = JsonSchemaCodec::new(PRODUCT, 9).unwrap();
        let err = encode(&codec, r#"{"id": 1, "name": "pen", "tags": [3]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/tags/0"), "{err}");
        let err = encode(&codec, r#"{"id": 1}"#).unwrap_err().to_string();
        assert!(err.contains("name"), "{err}");
    }

    #[test]
    fn invalid_schemas_are_refused() {
        assert!(matches!(
            JsonSchemaCodec::new("{", 1),
            Err(CodecError::InvalidSchema(_))
        ));
        assert!(matches!(
            JsonSchemaCodec::new(r#"{"type": 12}"#, 1),
            Err(CodecError::InvalidSchema(_))
        ));
    }

    #[test]
    fn refs_resolve_to_references() {
        let address = Referenced {
            name: "address.json".into(),
            schema: r#"{"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]}"#
                .into(),
        };
        let customer = r#"{"type": "object", "properties": {
            "name": {"type": "string"}, "address": {"$ref": "address.json"}}}"#;
        let codec =
            JsonSchemaCodec::with_references(customer, std::slice::from_ref(&address), 2).unwrap();
        assert!(encode(&codec, r#"{"name": "a", "address": {"city": "Delft"}}"#).is_ok());
        let err = encode(&codec, r#"{"address": {"city": 3}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/address/city"), "{err}");
        // Against a schema with an absolute $id, too.
        let with_id = r#"{"$id": "https://example.com/schemas/customer.json", "type": "object",
            "properties": {"address": {"$ref": "address.json"}}}"#;
        let codec = JsonSchemaCodec::with_references(with_id, &[address], 2).unwrap();
        assert!(encode(&codec, r#"{"address": {}}"#).is_err());
        // Without the reference the schema does not compile.
        assert!(JsonSchemaCodec::new(customer, 2).is_err());
    }
}
