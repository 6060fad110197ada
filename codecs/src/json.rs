//! `json`: any JSON value, written to Kafka as compact JSON text.

use simd_json::prelude::*;

use crate::{Codec, CodecError, Format, Value};

pub struct JsonCodec;

impl Codec for JsonCodec {
    fn format(&self) -> Format {
        Format::Json
    }

    fn encode(&self, value: &Value<'_, '_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        // Writing to a Vec cannot fail.
        value
            .write(out)
            .map_err(|e| CodecError::InvalidData(e.to_string()))
    }

    fn writes_json_text(&self) -> bool {
        true
    }

    fn decode(&self, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| CodecError::InvalidData(format!("not JSON: {e}")))
    }

    /// The record is JSON text already: checked to be one valid JSON value
    /// (with no tree built), then copied as it is.
    fn decode_json(&self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map_err(|e| CodecError::InvalidData(format!("not JSON: {e}")))?;
        out.extend_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> String {
        crate::with_value(json, |value| {
            let mut out = Vec::new();
            JsonCodec.encode(value, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        })
    }

    #[test]
    fn writes_compact_json_that_parses_back_to_the_same_value() {
        for input in [
            r#"{"foo": "bar", "n": [1, 2.5, -3, true, null], "nested": {"a": "\u00e9\n\"q\""}}"#,
            r#""just a string""#,
            "12345678901234567890",
            "[]",
        ] {
            let encoded = encode(input);
            let a: serde_json::Value = serde_json::from_str(input).unwrap();
            let b: serde_json::Value = serde_json::from_str(&encoded).unwrap();
            assert_eq!(a, b, "{input} -> {encoded}");
            assert!(!encoded.contains(": "), "not compact: {encoded}");
        }
    }
}
