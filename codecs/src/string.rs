//! `string`: a JSON string, written to Kafka as its UTF-8 bytes (v3 `STRING`).

use simd_json::prelude::*;

use crate::{type_name, Codec, CodecError, Format, Value};

pub struct StringCodec;

impl Codec for StringCodec {
    fn format(&self) -> Format {
        Format::String
    }

    fn encode(&self, value: &Value<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
        let text = value.as_str().ok_or(CodecError::WrongType {
            expected: "a string",
            found: type_name(value),
        })?;
        out.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_unescaped_utf8_text() {
        let mut buf = br#""k\u00e9y\n""#.to_vec();
        let value = simd_json::to_borrowed_value(&mut buf).unwrap();
        let mut out = Vec::new();
        StringCodec.encode(&value, &mut out).unwrap();
        assert_eq!(out, "kéy\n".as_bytes());

        let mut buf = b"{}".to_vec();
        let value = simd_json::to_borrowed_value(&mut buf).unwrap();
        assert!(StringCodec.encode(&value, &mut out).is_err());
    }
}
