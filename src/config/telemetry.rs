//! `[log]` and `[tracing]`: what the gateway writes about itself.

use serde::{Deserialize, Serialize};

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// Spans exported over OTLP/HTTP, and `traceparent` put on produced
    /// records. Off: no span is made and no header added.
    pub enabled: bool,
    /// The collector's OTLP/HTTP base URL (`/v1/traces` is appended).
    /// Empty: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, else `http://localhost:4318`.
    pub endpoint: String,
    /// The share of new traces sampled (a caller's `traceparent` decides
    /// for its own). `OTEL_TRACES_SAMPLER`, when set, takes precedence.
    pub sample_ratio: f64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            enabled: false,
            endpoint: String::new(),
            sample_ratio: 1.0,
        }
    }
}
