//! `string`: a JSON string, written to Kafka as its UTF-8 bytes (v3 `STRING`).

use simd_json::prelude::*;

use crate::{type_name, Codec, CodecError, Format, Value};

pub struct StringCodec;

impl Codec for StringCodec {
    fn format(&self) -> Format {
        Format::String
    }

    fn encode(&self, value: &Value<'_, '_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let text = value.as_str().ok_or(CodecError::WrongType {
            expected: "a string",
            found: type_name(value),
        })?;
        out.extend_from_slice(text.as_bytes());
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
        String::from_utf8(bytes.to_vec())
            .map(serde_json::Value::String)
            .map_err(|e| CodecError::InvalidData(format!("not UTF-8: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_unescaped_utf8_text() {
        let mut out = Vec::new();
        crate::with_value(r#""k\u00e9y\n""#, |v| StringCodec.encode(v, &mut out)).unwrap();
        assert_eq!(out, "kéy\n".as_bytes());
        assert!(crate::with_value("{}", |v| StringCodec.encode(v, &mut out)).is_err());
    }
}
