//! Liveness, readiness and the Prometheus endpoint.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;

/// The process is alive and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Kafka is reachable: a metadata request succeeds within
/// `kafka.metadata_timeout_ms` (it also refreshes the topic cache), and no
/// producer has failed for good (e.g. idempotence refused by the cluster).
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.is_draining() {
        // Shutting down: balancers stop sending requests here.
        return Ok(HttpResponse::ServiceUnavailable().json(json!({"status": "draining"})));
    }
    if let Some(fatal) = state.pipeline.fatal_error() {
        return Err(ApiError::new(
            ErrorCode::BrokerNotAvailable,
            format!("a producer failed fatally and cannot deliver: {fatal}"),
        ));
    }
    let cluster = state.metadata.refresh().await?;
    let mut body = json!({"status": "ready", "brokers": cluster.brokers.len()});
    if let Some(gateways) = state.cluster.as_deref() {
        body["gateway_id"] = json!(gateways.id());
        // How many, not where: this answer is public.
        body["gateways"] = json!(gateways.members().len());
    }
    Ok(HttpResponse::Ok().json(body))
}

pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // Gauges sampled at scrape time cost the hot path nothing.
    let m = state.metrics;
    m.queue_depth.set(state.pipeline.queue_depth() as f64);
    m.in_flight_bytes
        .set(state.pipeline.in_flight_bytes() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::metrics::render())
}
