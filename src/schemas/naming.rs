//! Subject name strategies, as Confluent's serializers name them: which
//! subject a topic's key or value schema is registered and looked up under.

use std::sync::Arc;

use gateway_codecs::Codec;

use crate::error::{ApiError, ErrorCode};

pub use crate::config::SubjectNameStrategy;

impl SubjectNameStrategy {
    /// Parses the v3 `subject_name_strategy` names, and the Java class
    /// names Confluent's serializer configs use.
    pub fn parse(name: &str) -> Option<SubjectNameStrategy> {
        let short = name.rsplit('.').next().unwrap_or(name);
        match short {
            "TOPIC_NAME" | "TopicNameStrategy" => Some(SubjectNameStrategy::TopicName),
            "RECORD_NAME" | "RecordNameStrategy" => Some(SubjectNameStrategy::RecordName),
            "TOPIC_RECORD_NAME" | "TopicRecordNameStrategy" => {
                Some(SubjectNameStrategy::TopicRecordName)
            }
            _ => None,
        }
    }

    /// Whether the subject depends on the schema (so a schema must be at
    /// hand: given as text or by id).
    pub fn needs_schema(self) -> bool {
        self != SubjectNameStrategy::TopicName
    }

    /// The subject for `part` ("key" or "value") of `topic`, with the
    /// schema's codec where the strategy needs its record name.
    pub fn subject(
        self,
        topic: &str,
        part: &str,
        schema: Option<&Arc<dyn Codec>>,
    ) -> Result<String, ApiError> {
        if self == SubjectNameStrategy::TopicName {
            return Ok(format!("{topic}-{part}"));
        }
        let name = schema.and_then(|codec| codec.record_name()).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unprocessable,
                format!(
                    "{part}: the {self:?} subject name strategy needs a schema with a record name (an Avro named type, a Protobuf message, a JSON Schema with a title)"
                ),
            )
        })?;
        Ok(match self {
            SubjectNameStrategy::RecordName => name,
            _ => format!("{topic}-{name}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gateway_codecs::avro::AvroCodec;
    use gateway_codecs::jsonschema::JsonSchemaCodec;
    use gateway_codecs::protobuf::ProtobufCodec;

    #[test]
    fn each_strategy_names_its_subject() {
        let avro: Arc<dyn Codec> = Arc::new(
            AvroCodec::new(
                r#"{"type":"record","name":"Order","namespace":"shop","fields":[]}"#,
                1,
            )
            .unwrap(),
        );
        let proto: Arc<dyn Codec> = Arc::new(
            ProtobufCodec::new(
                "syntax = \"proto3\"; package shop; message Item { int32 id = 1; }",
                2,
            )
            .unwrap(),
        );
        let json: Arc<dyn Codec> =
            Arc::new(JsonSchemaCodec::new(r#"{"title":"Note","type":"object"}"#, 3).unwrap());
        let untitled: Arc<dyn Codec> =
            Arc::new(JsonSchemaCodec::new(r#"{"type":"object"}"#, 4).unwrap());
        use SubjectNameStrategy as S;
        assert_eq!(S::TopicName.subject("t", "value", None).unwrap(), "t-value");
        assert_eq!(
            S::RecordName.subject("t", "value", Some(&avro)).unwrap(),
            "shop.Order"
        );
        assert_eq!(
            S::TopicRecordName.subject("t", "key", Some(&avro)).unwrap(),
            "t-shop.Order"
        );
        assert_eq!(
            S::RecordName.subject("t", "value", Some(&proto)).unwrap(),
            "shop.Item"
        );
        assert_eq!(
            S::RecordName.subject("t", "value", Some(&json)).unwrap(),
            "Note"
        );
        let e = S::RecordName
            .subject("t", "value", Some(&untitled))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::Unprocessable);
        assert!(S::RecordName.subject("t", "value", None).is_err());
        assert_eq!(
            S::parse("io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"),
            Some(S::TopicRecordName)
        );
        assert_eq!(S::parse("RECORD_NAME"), Some(S::RecordName));
        assert_eq!(S::parse("NOPE"), None);
    }
}
