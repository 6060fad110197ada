//! Everything that talks to Kafka through librdkafka: the producers and
//! their delivery callbacks ([`producer`]), the cached topic metadata
//! ([`metadata`]) and the embedded in-memory broker ([`embedded`]).

pub mod embedded;
pub mod metadata;
pub mod producer;
