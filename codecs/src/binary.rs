//! `binary`: the value is base64 text in the request and raw bytes in Kafka.

use simd_json::prelude::*;

use crate::{type_name, Codec, CodecError, Format, Value};

pub struct BinaryCodec;

impl Codec for BinaryCodec {
    fn format(&self) -> Format {
        Format::Binary
    }

    fn encode(&self, value: &Value<'_, '_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let text = value.as_str().ok_or(CodecError::WrongType {
            expected: "a base64 string",
            found: type_name(value),
        })?;
        decode_base64(text.as_bytes(), out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
        Ok(serde_json::Value::String(
            base64_simd::STANDARD.encode_to_string(bytes),
        ))
    }

    /// A JSON string of the base64, written straight into `out` (base64
    /// needs no escaping).
    fn decode_json(&self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.push(b'"');
        base64_simd::STANDARD.encode_append(bytes, out);
        out.push(b'"');
        Ok(())
    }
}

/// Decodes standard base64 (with or without padding, as Confluent's Java
/// decoder accepts) and appends the bytes to `out`.
pub fn decode_base64(text: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let engine = if text.len().is_multiple_of(4) {
        base64_simd::STANDARD
    } else {
        base64_simd::STANDARD_NO_PAD
    };
    let start = out.len();
    let decoded_len = engine
        .decoded_length(text)
        .map_err(|e| CodecError::InvalidBase64(e.to_string()))?;
    out.resize(start + decoded_len, 0);
    match engine.decode(text, base64_simd::Out::from_slice(&mut out[start..])) {
        Ok(written) => {
            let written = written.len();
            out.truncate(start + written);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(CodecError::InvalidBase64(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> Result<Vec<u8>, CodecError> {
        crate::with_value(json, |value| {
            let mut out = b"prefix".to_vec();
            BinaryCodec.encode(value, &mut out)?;
            Ok(out[6..].to_vec())
        })
    }

    #[test]
    fn decodes_padded_and_unpadded_base64() {
        assert_eq!(encode(r#""S2Fma2E=""#).unwrap(), b"Kafka");
        assert_eq!(encode(r#""S2Fma2E""#).unwrap(), b"Kafka");
        assert_eq!(encode(r#""""#).unwrap(), b"");
    }

    #[test]
    fn rejects_bad_base64_and_non_strings() {
        assert!(matches!(
            encode(r#""not base64!""#),
            Err(CodecError::InvalidBase64(_))
        ));
        assert_eq!(
            encode("42"),
            Err(CodecError::WrongType {
                expected: "a base64 string",
                found: "integer"
            })
        );
    }

    #[test]
    fn round_trips_every_byte_value() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let text = base64_simd::STANDARD.encode_to_string(&bytes);
        assert_eq!(encode(&format!("\"{text}\"")).unwrap(), bytes);
    }
}
