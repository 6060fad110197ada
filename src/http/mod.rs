//! The HTTP API: routes, shared state, and the middleware that counts every
//! request. One module per concern: [`produce`] (v2 produce), [`metadata`]
//! (topics, partitions, brokers), [`health`] (liveness, readiness, metrics).

pub mod authorize;
pub mod consumers;
pub mod cors;
pub mod forward;
pub mod health;
pub mod limits;
pub mod metadata;
pub mod negotiate;
pub mod origin;
pub mod produce;
mod raw_json;
pub mod registry;
pub mod relay;
pub mod tls;
pub mod v3;

use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::Service;
use actix_web::middleware::Condition;
use actix_web::{web, HttpMessage, HttpResponse};
use gateway_codecs::Registry;
use tracing::Instrument;

use crate::config::Config;
use crate::error::{ApiError, ErrorCode, V2_CONTENT_TYPE};
use crate::kafka::metadata::MetadataCache;
use crate::metrics::{self, Metrics};
use crate::pipeline::Pipeline;
use actix_web::http::header::{HeaderValue, CONTENT_TYPE};

/// What every handler shares.
pub struct AppState {
    pub config: Arc<Config>,
    /// Built once at start-up; the hot path only indexes it.
    pub codecs: Registry,
    pub pipeline: Pipeline,
    pub metadata: Arc<MetadataCache>,
    pub admin: crate::kafka::admin::Admin,
    pub consumers: crate::consumers::Consumers,
    /// The embedded Schema Registry; `None` if it could not start or an
    /// external one is configured.
    pub schemas: Option<Arc<crate::schemas::Registry>>,
    /// The external Schema Registry, when `schema_registry.url` is set.
    pub remote_schemas: Option<Arc<crate::schemas::remote::RemoteRegistry>>,
    pub metrics: &'static Metrics,
    /// Authentication, ACLs and quotas (`crate::auth`).
    pub security: Arc<crate::auth::Security>,
    /// The request-body budget and deadline, shared by every worker.
    pub limits: limits::Limits,
    /// This gateway's place among several (`[cluster]`); `None` alone.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Forwards calls on instances other gateways hold (with a cluster).
    pub forwarder: Option<forward::Forwarder>,
    /// Set on SIGTERM: `/readyz` fails and answers close their
    /// connections, while requests are still served.
    pub draining: std::sync::atomic::AtomicBool,
}

impl AppState {
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The Schema Registry produce requests use: the external one when
    /// configured, else the embedded one (if it is running).
    pub fn schema_registry(&self) -> Result<crate::schemas::Schemas<'_>, ApiError> {
        use crate::schemas::Schemas;
        if let Some(remote) = self.remote_schemas.as_deref() {
            return Ok(Schemas::Remote(remote));
        }
        self.schemas
            .as_deref()
            .map(Schemas::Embedded)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::SchemaRegistryLookup,
                    "the schema registry is not available",
                )
            })
    }
}

/// Registers every route on an actix `App`. A known path with an unknown
/// method answers the JSON 405 envelope.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let resource = |path: &str| web::resource(path).default_service(web::to(method_not_allowed));
    cfg.service(
        resource("/topics/{topic}")
            .route(web::post().to(produce::to_topic))
            .route(web::get().to(metadata::topic)),
    )
    .service(
        resource("/topics/{topic}/partitions/{partition}")
            .route(web::post().to(produce::to_partition))
            .route(web::get().to(metadata::partition)),
    )
    .service(resource("/topics").route(web::get().to(metadata::topics)))
    .service(resource("/topics/{topic}/partitions").route(web::get().to(metadata::partitions)))
    .service(
        resource("/topics/{topic}/partitions/{partition}/offsets")
            .route(web::get().to(metadata::offsets)),
    )
    .service(resource("/brokers").route(web::get().to(metadata::brokers)))
    .service(resource("/healthz").route(web::get().to(health::healthz)))
    .service(resource("/readyz").route(web::get().to(health::readyz)))
    .service(resource("/metrics").route(web::get().to(health::metrics)))
    .configure(registry::routes)
    .configure(consumers::routes)
    .configure(v3::routes);
}

/// Builds the actix `App` with state, routes, metrics and error handling.
pub fn app(
    state: web::Data<AppState>,
) -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let m = state.metrics;
    let drain_state = state.clone();
    let max_body = state.config.http.max_request_bytes;
    let access_log = state.config.http.access_log;
    let security = Arc::clone(&state.security);
    let limits = state.limits.clone();
    let cors = &state.config.http.cors;
    let cors = Condition::new(!cors.allowed_origins.is_empty(), cors::middleware(cors));
    let clustered = state.cluster.is_some();
    let log_json = state.config.log.format == crate::config::LogFormat::Json;
    let scheme = if state.config.http.tls.enabled() {
        "https"
    } else {
        "http"
    };
    actix_web::App::new()
        .app_data(state)
        .app_data(web::PayloadConfig::new(max_body))
        .configure(routes)
        .default_service(web::to(not_found))
        // Innermost: a call on a consumer instance another gateway holds
        // goes there, once the caller is known (`forward`).
        .wrap(Condition::new(clustered, forward::Forwarding))
        // Who may do what, before any handler (and before forwarding).
        .wrap(Condition::new(
            security.is_active(),
            authorize::Authorize::new(security),
        ))
        // Negotiation, body budget and deadline, panics.
        .wrap(limits)
        .wrap_fn(move |req, srv| {
            let start = Instant::now();
            let content_type = answer_content_type(req.path(), req.headers());
            let draining = drain_state.is_draining();
            // Tracing on: the request's SERVER span, whose context its
            // records carry (`RequestTrace`) and its log lines name.
            let server_span = crate::telemetry::enabled()
                .then(|| {
                    let headers = req.headers();
                    crate::telemetry::ServerSpan::start(
                        req.method().as_str(),
                        req.path(),
                        scheme,
                        headers
                            .get(crate::telemetry::TRACEPARENT)
                            .map(|v| v.as_bytes()),
                        headers
                            .get(crate::telemetry::TRACESTATE)
                            .and_then(|v| v.to_str().ok()),
                    )
                })
                .flatten();
            let trace = match &server_span {
                Some(span) => {
                    let trace = span.context();
                    req.extensions_mut().insert(RequestTrace(trace));
                    Some(trace)
                }
                // JSON logs name the caller's trace even with tracing off.
                None if log_json => req
                    .headers()
                    .get(crate::telemetry::TRACEPARENT)
                    .and_then(|v| crate::telemetry::TraceParent::parse(v.as_bytes())),
                None => None,
            };
            // JSON lines name the trace; text lines stay as they are, and
            // their requests' futures are not instrumented at all.
            let log_span = match trace {
                Some(trace) if log_json => Some(tracing::info_span!(
                    "request",
                    trace_id = %trace.trace_id_hex()
                )),
                _ => None,
            };
            let method = server_span.as_ref().map(|_| req.method().clone());
            let response = srv.call(req);
            let answer = async move {
                let mut response = response.await?;
                let status = response.status().as_u16();
                let route = route_metrics(response.request(), m);
                route.record(status, start.elapsed());
                if let (Some(span), Some(method)) = (server_span, method) {
                    span.end(method.as_str(), route.template(), status);
                }
                if draining {
                    // Shutting down: clients and balancers open their next
                    // connection elsewhere.
                    response
                        .response_mut()
                        .head_mut()
                        .set_connection_type(actix_web::http::ConnectionType::Close);
                }
                if access_log {
                    log_access(&response, start, trace);
                }
                // Errors are built in one place, as v2 errors; v3 and the
                // Schema Registry API give theirs in their own content type,
                // the registry's answers the one `Accept` prefers.
                if let Some(content_type) = content_type {
                    let headers = response.headers_mut();
                    let current = headers.get(CONTENT_TYPE).map(|v| v.as_bytes());
                    if current == Some(V2_CONTENT_TYPE.as_bytes())
                        || current == Some(registry::CONTENT_TYPE.as_bytes())
                    {
                        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                    }
                }
                Ok(response)
            };
            match log_span {
                Some(span) => futures_util::future::Either::Left(answer.instrument(span)),
                None => futures_util::future::Either::Right(answer),
            }
        })
        // Preflights are answered before authentication, and every answer
        // (401s too) carries the CORS headers.
        .wrap(cors)
        // Outermost: `/subjects/` is `/subjects`, as Confluent's routes
        // take both (its clients send either).
        .wrap_fn(|mut req, srv| {
            trim_path(&mut req);
            srv.call(req)
        })
}

/// The metrics of the route that answered `req`, by its template
/// (`/topics/orders`, matched as `/topics/{topic}`, counts as that): the
/// path the router matched with each captured segment put back as its
/// `{name}`. A request no route matched (an unknown path, or one a
/// middleware refused before routing) counts as `unmatched`, and so does
/// one whose captures cannot all be put back, so a client's path never
/// becomes a label. Cached per thread by a hash of the template: the hot
/// path builds no string.
fn route_metrics(
    req: &actix_web::HttpRequest,
    m: &'static Metrics,
) -> &'static metrics::RouteMetrics {
    use std::hash::{Hash, Hasher};
    thread_local! {
        static CACHE: std::cell::RefCell<std::collections::HashMap<u64, &'static metrics::RouteMetrics>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    let info = req.match_info();
    if !info.unprocessed().is_empty() {
        return m.unmatched();
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    if !walk_template(info, |part, captured| {
        captured.hash(&mut hasher);
        part.hash(&mut hasher);
    }) {
        return m.unmatched();
    }
    let key = hasher.finish();
    if let Some(route) = CACHE.with(|c| c.borrow().get(&key).copied()) {
        return route;
    }
    let mut text = String::new();
    walk_template(info, |part, captured| {
        text.push('/');
        if captured {
            text.push('{');
            text.push_str(part);
            text.push('}');
        } else {
            text.push_str(part);
        }
    });
    if text.is_empty() {
        text.push('/');
    }
    let route = m.route(&text);
    CACHE.with(|c| c.borrow_mut().insert(key, route));
    route
}

/// Walks a routed path's template: each segment, as the name of the
/// capture it is (`true`) or as itself. Captures come in path order, each
/// a whole segment; `false` when one is not found so.
fn walk_template(
    info: &actix_web::dev::Path<actix_web::dev::Url>,
    mut emit: impl FnMut(&str, bool),
) -> bool {
    let mut captures = info.iter().peekable();
    for segment in info.as_str().split('/').filter(|s| !s.is_empty()) {
        match captures.peek() {
            Some((name, value)) if *value == segment => {
                emit(name, true);
                captures.next();
            }
            _ => emit(segment, false),
        }
    }
    captures.next().is_none()
}

/// `/subjects/` and `//subjects//x/` are `/subjects` and `/subjects/x`:
/// trailing slashes go and runs of slashes become one, as actix-web's
/// `NormalizePath::trim()` does, but a path that needs neither (nearly
/// all) is looked at once and not copied (that middleware rebuilt every
/// path with a regex: about 1 µs a request here).
fn trim_path(req: &mut actix_web::dev::ServiceRequest) {
    let path = req.path();
    if path.len() <= 1 || !(path.ends_with('/') || path.contains("//")) {
        return;
    }
    let mut clean = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        clean.push('/');
        clean.push_str(segment);
    }
    if clean.is_empty() {
        clean.push('/');
    }
    if let Some(query) = req.uri().query() {
        clean.push('?');
        clean.push_str(query);
    }
    let mut parts = req.uri().clone().into_parts();
    let Ok(path_and_query) = clean.parse() else {
        return;
    };
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = actix_web::http::Uri::from_parts(parts) else {
        return;
    };
    req.match_info_mut()
        .set(actix_web::dev::Url::new(uri.clone()));
    req.head_mut().uri = uri;
}

/// Counts a connection open until it closes (its data, with this guard,
/// is dropped then), and hands a TLS connection's client certificate on.
pub fn on_connect(connection: &dyn std::any::Any, data: &mut actix_web::dev::Extensions) {
    let m = metrics::get();
    m.connections_opened.increment(1);
    m.connections.increment(1.0);
    data.insert(OpenConnection);
    tls::on_connect(connection, data);
}

struct OpenConnection;

impl Drop for OpenConnection {
    fn drop(&mut self) {
        metrics::get().connections.decrement(1.0);
    }
}

/// The access log line: who did what, never with what secret (no
/// headers, no query string).
fn log_access<B>(
    response: &actix_web::dev::ServiceResponse<B>,
    start: Instant,
    trace: Option<crate::telemetry::TraceParent>,
) {
    let request = response.request();
    let principal = crate::auth::Access::of(request);
    tracing::info!(
        target: "kafka_gateway::access",
        method = %request.method(),
        path = request.path(),
        status = response.status().as_u16(),
        ms = format_args!("{:.1}", start.elapsed().as_secs_f64() * 1000.0),
        principal = principal.principal(),
        trace_id = trace.map(|t| t.trace_id_hex()).as_deref(),
    );
}

/// The trace context of a request's SERVER span, on the request while
/// tracing is on; produce handlers put it on their records.
#[derive(Debug, Clone, Copy)]
pub struct RequestTrace(pub crate::telemetry::TraceParent);

impl RequestTrace {
    pub fn of(req: &actix_web::HttpRequest) -> Option<crate::telemetry::TraceParent> {
        req.extensions().get::<RequestTrace>().map(|t| t.0)
    }
}

/// The API a path belongs to, which decides its content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V2,
    V3,
    SchemaRegistry,
}

impl Family {
    pub fn of(path: &str) -> Family {
        if path.starts_with("/v3/") || path.starts_with("/kafka/v3/") {
            Family::V3
        } else if [
            "/subjects",
            "/schemas",
            "/config",
            "/compatibility",
            "/mode",
        ]
        .iter()
        .any(|p| path.starts_with(p))
        {
            Family::SchemaRegistry
        } else {
            Family::V2
        }
    }
}

/// The content type of an API family whose answers are not v2's.
fn answer_content_type(
    path: &str,
    headers: &actix_web::http::header::HeaderMap,
) -> Option<&'static str> {
    match Family::of(path) {
        Family::V3 => Some(v3::CONTENT_TYPE),
        Family::SchemaRegistry => Some(negotiate::registry_type(headers)),
        Family::V2 => None,
    }
}

/// Reads a whole request body, refusing one over `limit` bytes.
pub async fn read_body<S, E>(mut payload: S, limit: usize) -> Result<web::Bytes, ApiError>
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("cannot read request body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("request body is larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::NotFound, "HTTP 404 Not Found"))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        ErrorCode::MethodNotAllowed,
        "HTTP 405 Method Not Allowed",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trimmed(uri: &str) -> (String, String) {
        let mut req = actix_web::test::TestRequest::with_uri(uri).to_srv_request();
        trim_path(&mut req);
        (
            req.path().to_string(),
            req.match_info().as_str().to_string() + "?" + req.query_string(),
        )
    }

    #[test]
    fn trailing_and_repeated_slashes_go() {
        assert_eq!(trimmed("/subjects/").0, "/subjects");
        assert_eq!(
            trimmed("//subjects//x-value///versions/").0,
            "/subjects/x-value/versions"
        );
        assert_eq!(
            trimmed("/subjects/x/?deleted=true"),
            (
                "/subjects/x".to_string(),
                "/subjects/x?deleted=true".to_string()
            )
        );
        assert_eq!(trimmed("/").0, "/");
        assert_eq!(trimmed("///").0, "/");
    }

    #[test]
    fn a_clean_path_is_left_alone() {
        assert_eq!(
            trimmed("/topics/a.b-c?async=true"),
            (
                "/topics/a.b-c".to_string(),
                "/topics/a.b-c?async=true".to_string()
            )
        );
    }
}
