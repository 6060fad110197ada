//! Everything that talks to Kafka through librdkafka: the producers and
//! their delivery callbacks ([`producer`]), the cached topic metadata
//! ([`metadata`]), topic administration ([`admin`]) and the embedded
//! in-memory broker ([`embedded`]).

pub mod admin;
pub mod embedded;
pub mod metadata;
pub mod producer;
