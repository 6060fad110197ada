//! The one error table: every error the gateway answers has an
//! [`ErrorCode`], and [`ErrorCode::http_status`], [`ErrorCode::code`] and
//! [`ErrorCode::label`] map it to its HTTP status, its Confluent
//! `error_code` and its metric label. Nothing else decides those.

use actix_web::http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use serde::Serialize;
use std::sync::OnceLock;

/// Content type of v2 responses and errors.
pub const V2_CONTENT_TYPE: &str = "application/vnd.kafka.v2+json";

/// The challenge sent with every 401.
pub const AUTH_CHALLENGE: &str = "Basic realm=\"kafka-gateway\"";

/// Every error the gateway can answer, request-wide or per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Malformed JSON, bad base64, a bad query parameter.
    BadRequest,
    /// No such route.
    NotFound,
    /// The route exists, the method does not.
    MethodNotAllowed,
    /// Topic does not exist.
    TopicNotFound,
    /// Partition does not exist in the topic.
    PartitionNotFound,
    /// Body over `http.max_request_bytes`.
    PayloadTooLarge,
    /// Content type not supported for this route.
    UnsupportedMediaType,
    /// Well-formed JSON of the wrong shape (e.g. empty `records`).
    Unprocessable,
    /// The in-flight byte budget or the queue is full; retry later.
    Throttled,
    /// Authentication failed at the broker.
    KafkaAuthentication,
    /// Authorization failed at the broker.
    KafkaAuthorization,
    /// Kafka refused an admin request as invalid (the topic exists, bad
    /// partitions or replication factor, an invalid config).
    KafkaBadRequest,
    /// A Kafka error that retrying will not fix (e.g. record too large).
    Kafka,
    /// A Kafka error that may pass on retry (timeout, leader change).
    KafkaRetriable,
    /// The gateway cannot reach any broker.
    BrokerNotAvailable,
    /// A bug or an unexpected state.
    Internal,
    /// Schema Registry: no such subject (40401 there).
    SubjectNotFound,
    /// Schema Registry: no such version (40402 there).
    VersionNotFound,
    /// Schema Registry: no such schema id (40403 there).
    SchemaNotFound,
    /// Schema Registry: a permanent delete of a subject that was not
    /// soft-deleted first (40405).
    NotSoftDeleted,
    /// Schema Registry: the subject is soft-deleted (40404).
    SubjectSoftDeleted,
    /// Schema Registry: the version is soft-deleted (40406).
    VersionSoftDeleted,
    /// Schema Registry: a permanent delete of a version that was not
    /// soft-deleted first (40407).
    VersionNotSoftDeleted,
    /// Schema Registry: the subject has no compatibility level of its own
    /// (40408).
    NoSubjectCompatibility,
    /// Schema Registry: the subject has no mode of its own (40409).
    NoSubjectMode,
    /// Schema Registry: a version that is not a positive integer,
    /// `latest` or `-1` (42202).
    InvalidVersion,
    /// Schema Registry: an unknown compatibility level (42203).
    InvalidCompatibilityLevel,
    /// Schema Registry: an unknown mode (42204).
    InvalidMode,
    /// Schema Registry: the mode does not allow it (a write in READONLY,
    /// an id outside IMPORT) (42205).
    OperationNotPermitted,
    /// Schema Registry: the schema breaks the subject's compatibility level.
    IncompatibleSchema,
    /// Schema Registry: the schema does not parse (42201 there).
    InvalidSchema,
    /// Schema Registry: a delete of a version other schemas reference
    /// (42206 there).
    ReferenceExists,
    /// The schema registry (its `_schemas` topic) cannot be reached.
    SchemaRegistryUnavailable,
    /// Produce: a key is set in a schema format with no key schema.
    KeySchemaMissing,
    /// Produce: a value is set in a schema format with no value schema.
    ValueSchemaMissing,
    /// Produce: the key or value schema does not parse.
    InvalidProduceSchema,
    /// Produce: the data does not fit the schema.
    InvalidPayload,
    /// Produce: the schema could not be registered or looked up.
    SchemaRegistryLookup,
    /// v2 consumers: no such consumer instance (40403).
    ConsumerNotFound,
    /// v2 consumers: the instance name is taken in its group (40902).
    ConsumerAlreadyExists,
    /// v2 consumers: e.g. reading with neither subscription nor assignment
    /// (40903).
    ConsumerIllegalState,
    /// v2 consumers: the Accept format is not the instance's (40601).
    ConsumerFormatMismatch,
    /// v2 consumers: an invalid consumer configuration (42204).
    InvalidConsumerConfig,
    /// v3 `records:batch`: the batch itself is invalid (no entries, an
    /// entry without an id, an id used twice).
    BatchInvalid,
    /// The client sent no credentials, or wrong ones (with
    /// `WWW-Authenticate`).
    Unauthenticated,
    /// The principal's ACLs do not allow the request.
    Forbidden,
    /// The principal's produce quota is used up for now (with
    /// `Retry-After`).
    QuotaExceeded,
    /// No representation of the route satisfies the request's `Accept`.
    NotAcceptable,
    /// The request body did not arrive within `http.body_timeout_ms`.
    RequestTimeout,
    /// The Kafka cluster (or librdkafka) cannot do what the request asks:
    /// the broker does not support the admin API it needs, answered at
    /// once instead of after an admin timeout.
    UnsupportedByBroker,
}

impl ErrorCode {
    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest | ErrorCode::KafkaBadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound | ErrorCode::TopicNotFound | ErrorCode::PartitionNotFound => {
                StatusCode::NOT_FOUND
            }
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Throttled => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::KafkaAuthentication => StatusCode::UNAUTHORIZED,
            ErrorCode::KafkaAuthorization => StatusCode::FORBIDDEN,
            ErrorCode::Kafka | ErrorCode::KafkaRetriable | ErrorCode::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ErrorCode::BrokerNotAvailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::SubjectNotFound
            | ErrorCode::VersionNotFound
            | ErrorCode::SchemaNotFound
            | ErrorCode::NotSoftDeleted
            | ErrorCode::SubjectSoftDeleted
            | ErrorCode::VersionSoftDeleted
            | ErrorCode::VersionNotSoftDeleted
            | ErrorCode::NoSubjectCompatibility
            | ErrorCode::NoSubjectMode => StatusCode::NOT_FOUND,
            ErrorCode::IncompatibleSchema => StatusCode::CONFLICT,
            ErrorCode::InvalidSchema
            | ErrorCode::ReferenceExists
            | ErrorCode::InvalidVersion
            | ErrorCode::InvalidCompatibilityLevel
            | ErrorCode::InvalidMode
            | ErrorCode::OperationNotPermitted => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::SchemaRegistryUnavailable => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::KeySchemaMissing
            | ErrorCode::ValueSchemaMissing
            | ErrorCode::InvalidProduceSchema
            | ErrorCode::InvalidPayload
            | ErrorCode::SchemaRegistryLookup
            | ErrorCode::BatchInvalid
            | ErrorCode::InvalidConsumerConfig => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ConsumerNotFound => StatusCode::NOT_FOUND,
            ErrorCode::ConsumerAlreadyExists | ErrorCode::ConsumerIllegalState => {
                StatusCode::CONFLICT
            }
            ErrorCode::ConsumerFormatMismatch => StatusCode::NOT_ACCEPTABLE,
            ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::UnsupportedByBroker => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// The Confluent `error_code`.
    pub fn code(self) -> u32 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::KafkaBadRequest => 40002,
            ErrorCode::NotFound => 404,
            ErrorCode::TopicNotFound => 40401,
            ErrorCode::PartitionNotFound => 40402,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::Unprocessable => 422,
            ErrorCode::Throttled => 42901,
            ErrorCode::KafkaAuthentication => 40101,
            ErrorCode::KafkaAuthorization => 40301,
            ErrorCode::Kafka => 50002,
            ErrorCode::KafkaRetriable => 50003,
            ErrorCode::BrokerNotAvailable => 50302,
            ErrorCode::Internal => 500,
            ErrorCode::SubjectNotFound => 40401,
            ErrorCode::VersionNotFound => 40402,
            ErrorCode::SchemaNotFound => 40403,
            ErrorCode::NotSoftDeleted => 40405,
            ErrorCode::SubjectSoftDeleted => 40404,
            ErrorCode::VersionSoftDeleted => 40406,
            ErrorCode::VersionNotSoftDeleted => 40407,
            ErrorCode::NoSubjectCompatibility => 40408,
            ErrorCode::NoSubjectMode => 40409,
            ErrorCode::InvalidVersion => 42202,
            ErrorCode::InvalidCompatibilityLevel => 42203,
            ErrorCode::InvalidMode => 42204,
            ErrorCode::OperationNotPermitted => 42205,
            // Confluent answers the bare HTTP status here.
            ErrorCode::IncompatibleSchema => 409,
            ErrorCode::InvalidSchema => 42201,
            ErrorCode::ReferenceExists => 42206,
            ErrorCode::SchemaRegistryUnavailable => 50001,
            ErrorCode::KeySchemaMissing => 42201,
            ErrorCode::ValueSchemaMissing => 42202,
            ErrorCode::InvalidProduceSchema => 42205,
            ErrorCode::InvalidPayload => 42206,
            ErrorCode::SchemaRegistryLookup => 42207,
            ErrorCode::BatchInvalid => 42208,
            ErrorCode::ConsumerNotFound => 40403,
            ErrorCode::ConsumerAlreadyExists => 40902,
            ErrorCode::ConsumerIllegalState => 40903,
            ErrorCode::ConsumerFormatMismatch => 40601,
            ErrorCode::InvalidConsumerConfig => 42204,
            ErrorCode::Unauthenticated => 40101,
            ErrorCode::Forbidden => 40301,
            ErrorCode::QuotaExceeded => 42902,
            ErrorCode::NotAcceptable => 406,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::UnsupportedByBroker => 50101,
        }
    }

    /// The bounded label used in `gateway_errors_total{code=...}`.
    pub fn label(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "400",
            ErrorCode::KafkaBadRequest => "40002",
            ErrorCode::NotFound => "404",
            ErrorCode::TopicNotFound => "40401",
            ErrorCode::PartitionNotFound => "40402",
            ErrorCode::MethodNotAllowed => "405",
            ErrorCode::PayloadTooLarge => "413",
            ErrorCode::UnsupportedMediaType => "415",
            ErrorCode::Unprocessable => "422",
            ErrorCode::Throttled => "42901",
            ErrorCode::KafkaAuthentication => "40101",
            ErrorCode::KafkaAuthorization => "40301",
            ErrorCode::Kafka => "50002",
            ErrorCode::KafkaRetriable => "50003",
            ErrorCode::BrokerNotAvailable => "50302",
            ErrorCode::Internal => "500",
            ErrorCode::SubjectNotFound => "40401",
            ErrorCode::VersionNotFound => "40402",
            ErrorCode::SchemaNotFound => "40403",
            ErrorCode::NotSoftDeleted => "40405",
            ErrorCode::SubjectSoftDeleted => "40404",
            ErrorCode::VersionSoftDeleted => "40406",
            ErrorCode::VersionNotSoftDeleted => "40407",
            ErrorCode::NoSubjectCompatibility => "40408",
            ErrorCode::NoSubjectMode => "40409",
            ErrorCode::InvalidVersion => "42202",
            ErrorCode::InvalidCompatibilityLevel => "42203",
            ErrorCode::InvalidMode => "42204",
            ErrorCode::OperationNotPermitted => "42205",
            ErrorCode::IncompatibleSchema => "409",
            ErrorCode::InvalidSchema => "42201",
            ErrorCode::ReferenceExists => "42206",
            ErrorCode::SchemaRegistryUnavailable => "50001",
            ErrorCode::KeySchemaMissing => "42201",
            ErrorCode::ValueSchemaMissing => "42202",
            ErrorCode::InvalidProduceSchema => "42205",
            ErrorCode::InvalidPayload => "42206",
            ErrorCode::SchemaRegistryLookup => "42207",
            ErrorCode::BatchInvalid => "42208",
            ErrorCode::ConsumerNotFound => "40403",
            ErrorCode::ConsumerAlreadyExists => "40902",
            ErrorCode::ConsumerIllegalState => "40903",
            ErrorCode::ConsumerFormatMismatch => "40601",
            ErrorCode::InvalidConsumerConfig => "42204",
            ErrorCode::Unauthenticated => "40101",
            ErrorCode::Forbidden => "40301",
            ErrorCode::QuotaExceeded => "42902",
            ErrorCode::NotAcceptable => "406",
            ErrorCode::RequestTimeout => "408",
            ErrorCode::UnsupportedByBroker => "50101",
        }
    }

    /// Counts one answer with this code in `gateway_errors_total`; nothing
    /// before the metrics are installed (benches, unit tests).
    pub fn count(self) {
        if let Some(counters) = error_counters() {
            let index = ErrorCode::ALL
                .iter()
                .position(|c| *c == self)
                .expect("ALL lists every code");
            counters.increment(index);
        }
    }

    /// Every code, for pre-registering metric handles.
    pub const ALL: [ErrorCode; 50] = [
        ErrorCode::BadRequest,
        ErrorCode::KafkaBadRequest,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::TopicNotFound,
        ErrorCode::PartitionNotFound,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Unprocessable,
        ErrorCode::Throttled,
        ErrorCode::KafkaAuthentication,
        ErrorCode::KafkaAuthorization,
        ErrorCode::Kafka,
        ErrorCode::KafkaRetriable,
        ErrorCode::BrokerNotAvailable,
        ErrorCode::Internal,
        ErrorCode::SubjectNotFound,
        ErrorCode::VersionNotFound,
        ErrorCode::SchemaNotFound,
        ErrorCode::NotSoftDeleted,
        ErrorCode::SubjectSoftDeleted,
        ErrorCode::VersionSoftDeleted,
        ErrorCode::VersionNotSoftDeleted,
        ErrorCode::NoSubjectCompatibility,
        ErrorCode::NoSubjectMode,
        ErrorCode::InvalidVersion,
        ErrorCode::InvalidCompatibilityLevel,
        ErrorCode::InvalidMode,
        ErrorCode::OperationNotPermitted,
        ErrorCode::IncompatibleSchema,
        ErrorCode::InvalidSchema,
        ErrorCode::ReferenceExists,
        ErrorCode::SchemaRegistryUnavailable,
        ErrorCode::KeySchemaMissing,
        ErrorCode::ValueSchemaMissing,
        ErrorCode::InvalidProduceSchema,
        ErrorCode::InvalidPayload,
        ErrorCode::SchemaRegistryLookup,
        ErrorCode::BatchInvalid,
        ErrorCode::ConsumerNotFound,
        ErrorCode::ConsumerAlreadyExists,
        ErrorCode::ConsumerIllegalState,
        ErrorCode::ConsumerFormatMismatch,
        ErrorCode::InvalidConsumerConfig,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::QuotaExceeded,
        ErrorCode::NotAcceptable,
        ErrorCode::RequestTimeout,
        ErrorCode::UnsupportedByBroker,
    ];

    /// The per-record code for a librdkafka error, as Confluent answers it:
    /// only 40101, 40301, 50003 (what Java's client deems retriable) and
    /// 50002. Unknown topic or partition is retriable there too (metadata
    /// may lag); request-wide 40401/40402 come from the metadata check.
    pub fn from_kafka(code: RDKafkaErrorCode) -> ErrorCode {
        use RDKafkaErrorCode as K;
        match code {
            K::SaslAuthenticationFailed | K::Authentication => ErrorCode::KafkaAuthentication,
            K::TopicAuthorizationFailed
            | K::ClusterAuthorizationFailed
            | K::TransactionalIdAuthorizationFailed => ErrorCode::KafkaAuthorization,
            K::UnknownTopicOrPartition
            | K::UnknownTopic
            | K::UnknownPartition
            | K::OperationTimedOut
            | K::InvalidMessage
            | K::NotController
            | K::FencedLeaderEpoch
            | K::UnknownLeaderEpoch
            | K::OffsetNotAvailable
            | K::MessageTimedOut
            | K::RequestTimedOut
            | K::NotLeaderForPartition
            | K::LeaderNotAvailable
            | K::NotEnoughReplicas
            | K::NotEnoughReplicasAfterAppend
            | K::NetworkException
            | K::AllBrokersDown
            | K::BrokerTransportFailure
            | K::QueueFull
            | K::OutOfOrderSequenceNumber
            | K::KafkaStorageError
            | K::NotCoordinator
            | K::CoordinatorNotAvailable
            | K::PurgeQueue
            | K::PurgeInflight => ErrorCode::KafkaRetriable,
            _ => ErrorCode::Kafka,
        }
    }

    pub fn from_kafka_error(err: &KafkaError) -> ErrorCode {
        err.rdkafka_error_code()
            .map(ErrorCode::from_kafka)
            .unwrap_or(ErrorCode::Kafka)
    }
}

/// A request-wide error: its code, a message for the client, and for 429 the
/// `Retry-After` seconds.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            retry_after_seconds: None,
        }
    }

    pub fn throttled(message: impl Into<String>, retry_after_seconds: u64) -> ApiError {
        ApiError {
            code: ErrorCode::Throttled,
            message: message.into(),
            retry_after_seconds: Some(retry_after_seconds),
        }
    }

    /// A produce quota refusal: 429 with the seconds until it would fit.
    pub fn quota_exceeded(message: impl Into<String>, retry_after_seconds: u64) -> ApiError {
        ApiError {
            code: ErrorCode::QuotaExceeded,
            message: message.into(),
            retry_after_seconds: Some(retry_after_seconds),
        }
    }

    pub fn topic_not_found(topic: &str) -> ApiError {
        ApiError::new(ErrorCode::TopicNotFound, format!("topic {topic} not found"))
    }
}

/// The `gateway_errors_total` counters, one per code, registered on first
/// use after the metrics are installed.
fn error_counters() -> Option<&'static crate::metrics::CounterFamily> {
    static COUNTERS: OnceLock<crate::metrics::CounterFamily> = OnceLock::new();
    if let Some(counters) = COUNTERS.get() {
        return Some(counters);
    }
    if !crate::metrics::installed() {
        return None;
    }
    Some(COUNTERS.get_or_init(|| {
        let labels: Vec<&'static str> = ErrorCode::ALL.iter().map(|c| c.label()).collect();
        crate::metrics::CounterFamily::register(crate::metrics::ERRORS, "code", &labels)
    }))
}

/// Registers every code's counter, so each is exported (at 0) from start-up.
pub fn register_metrics() {
    error_counters();
}

/// The error envelope shared by v2 and v3.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error_code: u32,
    message: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.http_status()
    }

    fn error_response(&self) -> HttpResponse {
        self.code.count();
        let body = serde_json::to_vec(&ErrorBody {
            error_code: self.code.code(),
            message: &self.message,
        })
        .expect("error body serializes");
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((CONTENT_TYPE, HeaderValue::from_static(V2_CONTENT_TYPE)));
        if let Some(seconds) = self.retry_after_seconds {
            response.insert_header((RETRY_AFTER, seconds.to_string()));
        }
        if self.code == ErrorCode::Unauthenticated {
            response.insert_header((WWW_AUTHENTICATE, AUTH_CHALLENGE));
        }
        response.body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_digit_codes_start_with_their_http_status() {
        for code in ErrorCode::ALL {
            let status = code.http_status().as_u16().to_string();
            assert!(
                code.code().to_string().starts_with(&status),
                "{code:?}: {} vs {status}",
                code.code()
            );
            assert_eq!(code.label(), code.code().to_string());
        }
    }

    #[test]
    fn kafka_errors_map_as_confluent_does() {
        use RDKafkaErrorCode as K;
        assert_eq!(ErrorCode::from_kafka(K::MessageSizeTooLarge).code(), 50002);
        assert_eq!(ErrorCode::from_kafka(K::MessageTimedOut).code(), 50003);
        assert_eq!(
            ErrorCode::from_kafka(K::TopicAuthorizationFailed).code(),
            40301
        );
        // Retriable in Java's client, so 50003 per record, as Confluent.
        assert_eq!(
            ErrorCode::from_kafka(K::UnknownTopicOrPartition).code(),
            50003
        );
        assert_eq!(ErrorCode::from_kafka(K::InvalidRecord).code(), 50002);
    }

    #[test]
    fn unsupported_by_broker_is_501() {
        assert_eq!(ErrorCode::UnsupportedByBroker.http_status().as_u16(), 501);
        assert_eq!(ErrorCode::UnsupportedByBroker.code(), 50101);
        assert!(ErrorCode::ALL.contains(&ErrorCode::UnsupportedByBroker));
    }
}
