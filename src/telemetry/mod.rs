//! Traces: W3C trace context in, OpenTelemetry spans out over OTLP/HTTP,
//! and the request's context on every record it produces.
//!
//! Off (`tracing.enabled = false`, the default) nothing here runs on a
//! request: [`enabled`] is one relaxed load. On:
//!
//! - each request gets a SERVER span `{method} {route}`, the child of the
//!   caller's `traceparent` (a new trace without one), with the semantic
//!   conventions' HTTP attributes;
//! - each record it produces carries `traceparent` naming that span,
//!   unless the record brings its own;
//! - each hand-off of queued requests to a producer is a PRODUCER span
//!   `send {topic}` linked to the requests whose records it carries, with
//!   `messaging.batch.message_count`;
//! - each consumer read is a CLIENT span `receive {topic}` linked to the
//!   contexts its records carry.
//!
//! Spans go to the SDK's batch processor: a bounded queue drained by its
//! own thread, which drops what does not fit and never blocks a worker. A
//! collector that cannot be reached costs a failed export on that thread,
//! counted in `gateway_tracing_export_failures_total`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::SystemTime;

use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

use crate::config::TracingConfig;

/// The header that carries a trace context (W3C Trace Context).
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// Links a consumer read's span takes from its records, at most.
pub const MAX_LINKS: usize = 128;

static ENABLED: AtomicBool = AtomicBool::new(false);
static TRACER: OnceLock<(SdkTracerProvider, SdkTracer)> = OnceLock::new();

/// Whether spans are made (one relaxed load: the off path's whole cost).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Starts the OTLP exporter for `config`, once per process; a provider
/// [`install`]ed before (tests, an embedding program) is kept.
pub fn init(config: &TracingConfig) -> Result<(), String> {
    if !config.enabled {
        return Ok(());
    }
    if TRACER.get().is_none() {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_http();
        if !config.endpoint.is_empty() {
            use opentelemetry_otlp::WithExportConfig;
            exporter = exporter.with_endpoint(format!(
                "{}/v1/traces",
                config.endpoint.trim_end_matches('/')
            ));
        }
        let exporter = exporter.build().map_err(|e| e.to_string())?;
        let mut builder = SdkTracerProvider::builder()
            .with_batch_exporter(Counted(exporter))
            .with_resource(
                Resource::builder()
                    .with_service_name(
                        std::env::var("OTEL_SERVICE_NAME")
                            .unwrap_or_else(|_| "kafka-gateway".into()),
                    )
                    .build(),
            );
        if std::env::var_os("OTEL_TRACES_SAMPLER").is_none() {
            builder =
                builder.with_sampler(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                    opentelemetry_sdk::trace::Sampler::TraceIdRatioBased(config.sample_ratio),
                )));
        }
        install(builder.build());
    }
    ENABLED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Uses `provider` for every span of this process (once; later calls keep
/// the first). Tracing is on from here.
pub fn install(provider: SdkTracerProvider) {
    let tracer = provider.tracer("kafka-gateway");
    let _ = TRACER.set((provider, tracer));
    ENABLED.store(true, Ordering::Relaxed);
}

/// Exports what is queued (at shutdown).
pub fn flush() {
    if let Some((provider, _)) = TRACER.get() {
        let _ = provider.force_flush();
    }
}

fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get().map(|(_, t)| t)
}

/// A span context as it travels: in `traceparent`, in records, in links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub sampled: bool,
}

impl TraceParent {
    /// Parses a `traceparent` value (`00-<32 hex>-<16 hex>-<2 hex>`);
    /// `None` for anything else, an all-zero id included.
    pub fn parse(value: &[u8]) -> Option<TraceParent> {
        let text = std::str::from_utf8(value).ok()?.trim();
        let mut parts = text.split('-');
        let version = parts.next()?;
        let (trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version == "ff" || trace.len() != 32 || span.len() != 16 {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        hex_into(trace, &mut trace_id)?;
        hex_into(span, &mut span_id)?;
        let mut flag = [0u8; 1];
        hex_into(flags, &mut flag)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(TraceParent {
            trace_id,
            span_id,
            sampled: flag[0] & 1 == 1,
        })
    }

    /// The `traceparent` value naming this context.
    pub fn header_value(&self) -> [u8; 55] {
        let mut out = [0u8; 55];
        out[..3].copy_from_slice(b"00-");
        hex_out(&self.trace_id, &mut out[3..35]);
        out[35] = b'-';
        hex_out(&self.span_id, &mut out[36..52]);
        out[52] = b'-';
        out[53] = b'0';
        out[54] = if self.sampled { b'1' } else { b'0' };
        out
    }

    /// The trace id as 32 lowercase hex digits (for log lines).
    pub fn trace_id_hex(&self) -> String {
        let mut out = [0u8; 32];
        hex_out(&self.trace_id, &mut out);
        String::from_utf8(out.to_vec()).expect("hex is ASCII")
    }

    fn span_context(&self, remote: bool, state: TraceState) -> SpanContext {
        SpanContext::new(
            TraceId::from_bytes(self.trace_id),
            SpanId::from_bytes(self.span_id),
            if self.sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            remote,
            state,
        )
    }

    fn of(context: &SpanContext) -> TraceParent {
        TraceParent {
            trace_id: context.trace_id().to_bytes(),
            span_id: context.span_id().to_bytes(),
            sampled: context.is_sampled(),
        }
    }
}

fn hex_into(text: &str, out: &mut [u8]) -> Option<()> {
    let bytes = text.as_bytes();
    if bytes.len() != out.len() * 2 {
        return None;
    }
    let digit = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    for (i, o) in out.iter_mut().enumerate() {
        *o = digit(bytes[2 * i])? << 4 | digit(bytes[2 * i + 1])?;
    }
    Some(())
}

fn hex_out(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
}

/// A request's SERVER span, from its arrival to its answer.
pub struct ServerSpan {
    span: opentelemetry_sdk::trace::Span,
    parent: TraceParent,
}

impl ServerSpan {
    /// Starts the span of a request, the child of `traceparent` (and its
    /// `tracestate`) when the caller sent a valid one. `None` when tracing
    /// is off.
    pub fn start(
        method: &str,
        path: &str,
        scheme: &'static str,
        traceparent: Option<&[u8]>,
        tracestate: Option<&str>,
    ) -> Option<ServerSpan> {
        let tracer = tracer()?;
        let caller = traceparent.and_then(TraceParent::parse);
        let parent = match caller {
            Some(tp) => {
                let state = tracestate
                    .and_then(|s| s.parse::<TraceState>().ok())
                    .unwrap_or_default();
                Context::new().with_remote_span_context(tp.span_context(true, state))
            }
            None => Context::new(),
        };
        // An unsampled request gets a context (its records carry it) but
        // no attributes, names or strings: nothing records them.
        let method = static_method(method);
        let mut span = tracer
            .span_builder(method)
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, &parent);
        if span.is_recording() {
            span.set_attribute(KeyValue::new("http.request.method", method));
            span.set_attribute(KeyValue::new("url.path", path.to_string()));
            span.set_attribute(KeyValue::new("url.scheme", scheme));
        }
        let parent = TraceParent::of(span.span_context());
        Some(ServerSpan { span, parent })
    }

    /// What the request's records carry and its log lines name.
    pub fn context(&self) -> TraceParent {
        self.parent
    }

    /// Ends the span with what the answer was: its name becomes
    /// `{method} {route}`; a 5xx is an error.
    pub fn end(mut self, method: &str, route: &str, status: u16) {
        if !self.span.is_recording() {
            return;
        }
        self.span.update_name(format!("{method} {route}"));
        self.span
            .set_attribute(KeyValue::new("http.route", route.to_string()));
        self.span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            self.span
                .set_attribute(KeyValue::new("error.type", status.to_string()));
            self.span
                .set_status(opentelemetry::trace::Status::error(status.to_string()));
        }
        self.span.end();
    }
}

/// The method as a static name (span names and attributes take them
/// without allocating); `_OTHER` for one HTTP does not define, as the
/// semantic conventions say.
fn static_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "_OTHER",
    }
}

/// Emits a span already over, linked to `links`; `name` per the messaging
/// conventions (`send {topic}`, `receive {topic}`).
fn emit(
    name: String,
    kind: SpanKind,
    start: SystemTime,
    links: Vec<Link>,
    attributes: Vec<KeyValue>,
) {
    let Some(tracer) = tracer() else {
        return;
    };
    let mut span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_start_time(start)
        .with_links(links)
        .with_attributes(attributes)
        .start_with_context(tracer, &Context::new());
    span.end();
}

fn links(contexts: impl IntoIterator<Item = TraceParent>) -> Vec<Link> {
    contexts
        .into_iter()
        .take(MAX_LINKS)
        .map(|tp| Link::with_context(tp.span_context(true, TraceState::default())))
        .collect()
}

/// The PRODUCER span of one hand-off of queued requests to a producer:
/// `topic` when they all go to one, their contexts as links. The caller
/// passes sampled contexts only, and calls this only when there is one: a
/// hand-off of unsampled requests makes no span.
pub fn sent(topic: Option<&str>, contexts: &[TraceParent], records: usize, start: SystemTime) {
    let name = match topic {
        Some(topic) => format!("send {topic}"),
        None => "send".to_string(),
    };
    let mut attributes = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.type", "send"),
        KeyValue::new("messaging.operation.name", "send"),
        KeyValue::new("messaging.batch.message_count", records as i64),
    ];
    if let Some(topic) = topic {
        attributes.push(KeyValue::new(
            "messaging.destination.name",
            topic.to_string(),
        ));
    }
    emit(
        name,
        SpanKind::Producer,
        start,
        links(contexts.iter().copied()),
        attributes,
    );
}

/// The CLIENT span of one consumer read: its records' contexts (from
/// their `traceparent` headers) as links.
pub fn received(
    topic: Option<&str>,
    group: &str,
    contexts: impl IntoIterator<Item = TraceParent>,
    records: usize,
    start: SystemTime,
) {
    let name = match topic {
        Some(topic) => format!("receive {topic}"),
        None => "receive".to_string(),
    };
    let mut attributes = vec![
        KeyValue::new("messaging.system", "kafka"),
        KeyValue::new("messaging.operation.type", "receive"),
        KeyValue::new("messaging.operation.name", "receive"),
        KeyValue::new("messaging.consumer.group.name", group.to_string()),
        KeyValue::new("messaging.batch.message_count", records as i64),
    ];
    if let Some(topic) = topic {
        attributes.push(KeyValue::new(
            "messaging.destination.name",
            topic.to_string(),
        ));
    }
    emit(name, SpanKind::Client, start, links(contexts), attributes);
}

/// The OTLP exporter, counting the batches it could not deliver.
#[derive(Debug)]
struct Counted<E>(E);

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let result = self.0.export(batch).await;
        if result.is_err() {
            if let Some(m) = crate::metrics::try_get() {
                m.tracing_export_failures.increment(1);
            }
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips_and_refuses_what_the_spec_refuses() {
        let text = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let tp = TraceParent::parse(text).unwrap();
        assert!(tp.sampled);
        assert_eq!(&tp.header_value()[..], &text[..]);
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            &b""[..],
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert_eq!(
                TraceParent::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // A later version may add fields.
        assert!(
            TraceParent::parse(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some()
        );
    }
}
