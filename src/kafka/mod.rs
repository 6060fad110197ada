//! Everything that talks to Kafka through librdkafka: the producers and
//! their delivery callbacks ([`producer`]), the cached topic metadata
//! ([`metadata`]), administration ([`admin`], over [`admin_ffi`] where
//! rdkafka has no wrapper, guarded by [`capabilities`]), consumer groups
//! and lag ([`groups`]) and the embedded in-memory broker ([`embedded`]).

pub mod admin;
pub mod admin_ffi;
pub mod capabilities;
pub mod embedded;
pub mod groups;
pub mod metadata;
pub mod producer;
