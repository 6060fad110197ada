//! Calls on a v2 consumer instance held by another gateway of the cluster
//! (`crate::cluster`) are forwarded to it and its answer streamed back
//! unchanged, status, headers and body.
//!
//! This runs inside the auth middleware: the caller is authenticated here,
//! and the call goes on with its principal and a proof made with the
//! cluster's secret (`crate::auth::peer`). The owner authenticates the proof,
//! applies the ACLs and the ownership check as for any call, and never
//! forwards a forwarded call again. The request body (a consumer call's is
//! small JSON) is read within `http.max_request_bytes`, as any handler
//! would; the answer (records, up to `consumers.max_bytes`) is streamed,
//! never held whole.
//!
//! An owner that cannot be reached (it died, the view has not noticed yet)
//! answers 404 / 40403 here at once, as the instance is gone with it.

use std::future::{ready, Ready};
use std::rc::Rc;
use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody, MessageBody, SizedStream};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, ACCEPT, CONTENT_ENCODING, CONTENT_TYPE};
use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpMessage, HttpResponse};
use futures_util::future::{FutureExt, LocalBoxFuture};

use crate::auth::peer::{Forwarded, PRINCIPAL_HEADER, PROOF_HEADER};
use crate::auth::Access;
use crate::cluster::Peer;
use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;

/// The HTTP client forwarded calls go through, with its pooled
/// connections to the other gateways.
pub struct Forwarder {
    client: reqwest::Client,
    /// A records read may wait this long (its own timeout, the group join)
    /// before the owner answers.
    timeout: Duration,
}

impl Forwarder {
    pub fn new(config: &crate::config::Config, max_read_wait_ms: u64) -> Result<Forwarder, String> {
        let read = |path: &str| std::fs::read(path).map_err(|e| format!("{path}: {e}"));
        let mut builder = reqwest::Client::builder();
        let cluster = &config.cluster;
        if !cluster.ca_file.is_empty() {
            for ca in reqwest::Certificate::from_pem_bundle(&read(&cluster.ca_file)?)
                .map_err(|e| format!("cluster.ca_file: {e}"))?
            {
                builder = builder.add_root_certificate(ca);
            }
        }
        let tls = &config.http.tls;
        if tls.client_auth != crate::config::ClientAuth::None && tls.enabled() {
            // The other gateways ask for a client certificate: ours.
            let mut pem = read(&tls.cert_file)?;
            pem.extend_from_slice(b"\n");
            pem.extend(read(&tls.key_file)?);
            builder = builder
                .identity(reqwest::Identity::from_pem(&pem).map_err(|e| format!("http.tls: {e}"))?);
        }
        let client = builder
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            // The owner's answer is passed on as it is, encoded or not.
            .no_gzip()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Forwarder {
            client,
            timeout: Duration::from_millis(cluster.forward_timeout_ms + max_read_wait_ms),
        })
    }
}

/// The middleware: forwards what [`destination`] says, serves the rest.
pub struct Forwarding;

impl<S, B> Transform<S, ServiceRequest> for Forwarding
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = ForwardingService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(ForwardingService {
            service: Rc::new(service),
        }))
    }
}

pub struct ForwardingService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for ForwardingService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // Only a consumer path, in a cluster, looks further.
        let clustered = req
            .path()
            .starts_with("/consumers/")
            .then(|| req.app_data::<web::Data<AppState>>())
            .flatten()
            .filter(|s| s.cluster.is_some())
            .cloned();
        let Some(state) = clustered else {
            return self
                .service
                .call(req)
                .map(|r| r.map(ServiceResponse::map_into_left_body))
                .boxed_local();
        };
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            match destination(&req, &state).await {
                Some(peer) => Ok(forward(req, peer, &state).await.map_into_right_body()),
                None => service
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body),
            }
        })
    }
}

/// The (group, instance) a consumer-instance path names.
pub fn instance_of(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/consumers/")?;
    let mut parts = rest.split('/');
    let group = parts.next()?;
    if parts.next()? != "instances" {
        return None;
    }
    let name = parts.next()?;
    if group.is_empty() || name.is_empty() {
        return None;
    }
    let decode = crate::auth::routes::percent_decode;
    Some((decode(group), decode(name)))
}

/// Where the call should go: `None` to serve it here (the instance is
/// here, is nowhere, or the call was forwarded to us already).
pub async fn destination(req: &ServiceRequest, state: &AppState) -> Option<Peer> {
    let cluster = state.cluster.as_deref()?;
    let (group, name) = instance_of(req.path())?;
    if req.extensions().get::<Forwarded>().is_some() {
        return None;
    }
    if state.consumers.owner(&group, &name).is_some() {
        return None;
    }
    cluster
        .find(&group, &name, || state.consumers.names())
        .await
}

/// Sends the call to `peer` and turns its answer into ours.
pub async fn forward(
    req: ServiceRequest,
    peer: Peer,
    state: &AppState,
) -> ServiceResponse<BoxBody> {
    let (http, payload) = req.into_parts();
    let answer = match call(&http, payload, &peer, state).await {
        Ok(response) => response,
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    ServiceResponse::new(http, answer)
}

async fn call(
    http: &actix_web::HttpRequest,
    payload: actix_web::dev::Payload,
    peer: &Peer,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let forwarder = state
        .forwarder
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no forwarding client"))?;
    let body = crate::http::read_body(payload, state.config.http.max_request_bytes).await?;
    let path_and_query = http.uri().path_and_query().map_or("/", |p| p.as_str());
    let principal = Access::of(http).principal().to_string();
    let proof = state
        .security
        .forward_proof(http.method().as_str(), path_and_query, &principal)
        .ok_or_else(|| ApiError::new(ErrorCode::Internal, "no cluster secret"))?;
    let method = reqwest::Method::from_bytes(http.method().as_str().as_bytes())
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let url = format!("{}{path_and_query}", peer.url.trim_end_matches('/'));
    let mut request = forwarder
        .client
        .request(method, &url)
        .timeout(forwarder.timeout)
        .header(PRINCIPAL_HEADER, &principal)
        .header(PROOF_HEADER, proof);
    for name in [CONTENT_TYPE, ACCEPT, CONTENT_ENCODING] {
        if let Some(value) = http.headers().get(&name) {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let response = match request.body(body).send().await {
        Ok(response) => response,
        Err(e) => {
            state.metrics.forwards_unreachable.increment(1);
            tracing::warn!(owner = %peer.id, url = %peer.url, error = %e, "the gateway holding a consumer instance cannot be reached");
            return Err(ApiError::new(
                ErrorCode::ConsumerNotFound,
                format!(
                    "Consumer instance not found: the gateway holding it ({}) cannot be reached.",
                    peer.id
                ),
            ));
        }
    };
    state.metrics.forwards_answered.increment(1);
    let status = StatusCode::from_u16(response.status().as_u16())
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    let mut answer = HttpResponse::build(status);
    for (name, value) in response.headers() {
        if is_hop_by_hop(name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            actix_web::http::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            answer.append_header((name, value));
        }
    }
    let length = response.content_length();
    let stream = response.bytes_stream();
    Ok(match length {
        Some(0) => answer.finish(),
        Some(n) => answer.body(SizedStream::new(n, stream).boxed()),
        None => answer.streaming(stream),
    })
}

fn is_hop_by_hop(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "content-length"
            | "date"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_paths_name_their_group_and_instance() {
        assert_eq!(
            instance_of("/consumers/g/instances/i/records"),
            Some(("g".into(), "i".into()))
        );
        assert_eq!(
            instance_of("/consumers/my%20group/instances/i"),
            Some(("my group".into(), "i".into()))
        );
        assert_eq!(instance_of("/consumers/g"), None);
        assert_eq!(instance_of("/consumers/g/instances"), None);
        assert_eq!(instance_of("/consumers/g/other/i"), None);
        assert_eq!(instance_of("/topics/t"), None);
    }
}
