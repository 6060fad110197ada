//! The one middleware through which [`crate::auth`] decides who may do
//! what: it authenticates the request (Basic credentials, a verified client
//! certificate, or a forwarding gateway's proof), looks up what its route
//! needs ([`crate::auth::routes`]), gathers what the checks are about (an
//! instance's owner and topics, the topics a body names, the subjects of a
//! schema id) and answers 401, 403 or, where names must not leak, 404
//! before any handler runs. It leaves an [`Access`] on the request for
//! listings and quotas. The decisions are `auth`'s; this is the HTTP side.

use std::collections::BTreeSet;
use std::future::{ready, Ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{AUTHORIZATION, CONTENT_ENCODING};
use actix_web::{web, HttpMessage};
use futures_util::future::LocalBoxFuture;

use super::AppState;
use crate::auth::peer::{Forwarded, PRINCIPAL_HEADER, PROOF_HEADER};
use crate::auth::routes::{self, BodyTopics, Check};
use crate::auth::{Access, AuthFailure, Operation, PeerCertificate, Resource, Security};
use crate::error::{ApiError, ErrorCode};

/// The auth middleware's factory; `wrap` it around the app.
pub struct Authorize {
    security: Arc<Security>,
}

impl Authorize {
    pub fn new(security: Arc<Security>) -> Authorize {
        Authorize { security }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Authorize
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = AuthorizeService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthorizeService {
            service: Rc::new(service),
            security: Arc::clone(&self.security),
        }))
    }
}

pub struct AuthorizeService<S> {
    service: Rc<S>,
    security: Arc<Security>,
}

impl<S, B> Service<ServiceRequest> for AuthorizeService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let security = Arc::clone(&self.security);
        Box::pin(async move {
            if security.is_public(req.path()) {
                return service
                    .call(req)
                    .await
                    .map(ServiceResponse::map_into_left_body);
            }
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .expect("the app has its state");
            let principal = match authenticate(&req, &security).await {
                Ok(principal) => principal,
                Err(failure) => {
                    failure.count();
                    return Ok(deny(req, Security::unauthorized(failure)));
                }
            };
            let access = Access::new(principal, &security);
            req.extensions_mut().insert(access.clone());
            if security.authorizes() {
                if let Err(e) = authorize(&mut req, &state, &access).await {
                    return Ok(deny(req, e));
                }
            }
            service
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}

/// Who the request is. A call forwarded by another gateway of the cluster
/// is the principal its verified proof names (and is marked
/// [`Forwarded`]); either forwarding header without a valid proof is
/// refused, whatever else the request carries. Any other request proves
/// itself with Basic credentials or a client certificate.
async fn authenticate(req: &ServiceRequest, security: &Security) -> Result<Arc<str>, AuthFailure> {
    let headers = req.headers();
    let principal = headers.get(PRINCIPAL_HEADER).map(|v| v.as_bytes());
    let proof = headers.get(PROOF_HEADER).map(|v| v.as_bytes());
    if principal.is_some() || proof.is_some() {
        let path_and_query = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let principal = security.forwarded_principal(
            req.method().as_str(),
            path_and_query,
            principal,
            proof,
        )?;
        req.extensions_mut().insert(Forwarded);
        return Ok(principal);
    }
    let authorization = headers.get(AUTHORIZATION).map(|v| v.as_bytes().to_vec());
    let certificate = req.conn_data::<PeerCertificate>().cloned();
    security
        .authenticate(authorization.as_deref(), certificate.as_ref())
        .await
}

fn deny<B>(req: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    req.error_response(error).map_into_right_body()
}

/// Checks everything the request's route needs; the error is the answer.
async fn authorize(
    req: &mut ServiceRequest,
    state: &AppState,
    access: &Access,
) -> Result<(), ApiError> {
    let needs = routes::needs(req.method(), req.path());
    for check in &needs.checks {
        access.require(check)?;
    }
    if let Some((group, name)) = &needs.instance {
        // Someone else's instance does not exist, as far as this principal
        // can tell.
        if let Some(owner) = state.consumers.owner(group, name) {
            if owner != access.principal() {
                Operation::Read.count_denial();
                return Err(ApiError::new(
                    ErrorCode::ConsumerNotFound,
                    "Consumer instance not found.",
                ));
            }
        }
        if needs.instance_topics {
            if let Ok(instance) = state.consumers.get(group, name) {
                let mut topics: BTreeSet<String> = instance
                    .subscription()
                    .await
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                if let Ok(assigned) = instance.assignment().await {
                    topics.extend(assigned.into_iter().map(|(t, _)| t));
                }
                for topic in topics {
                    access.require(&Check::read(Resource::topic(topic)))?;
                }
            }
        }
    }
    if let Some(kind) = needs.body {
        for topic in body_topics(req, state, kind).await? {
            let operation = match kind {
                BodyTopics::TopicName => Operation::Create,
                _ => Operation::Read,
            };
            access.require(&Check {
                operation,
                resource: Resource::topic(topic),
                hidden_as: None,
            })?;
        }
    }
    if let Some(id) = &needs.schema_id {
        if let (Some(registry), Ok(id)) = (state.schemas.as_deref(), id.parse::<u32>()) {
            let readable = registry.state().subjects.iter().any(|(subject, versions)| {
                versions.iter().any(|v| v.id == id)
                    && access.allows(Operation::Read, &Resource::subject(subject.as_str()))
            });
            if !readable {
                Operation::Read.count_denial();
                return Err(ApiError::new(
                    ErrorCode::SchemaNotFound,
                    format!("Schema {id} not found"),
                ));
            }
        }
    }
    Ok(())
}

/// Reads the (small, JSON) body of a consumer or topic-creation request,
/// puts it back for the handler, and returns the topics it names. A body
/// that does not parse names none: the handler refuses it.
async fn body_topics(
    req: &mut ServiceRequest,
    state: &AppState,
    kind: BodyTopics,
) -> Result<Vec<String>, ApiError> {
    let limit = state.config.http.max_request_bytes;
    let payload = req.take_payload();
    let mut stream = actix_web::dev::Decompress::from_headers(payload, req.headers());
    let body = super::read_body(&mut stream, limit).await?;
    // The handler gets the decoded body.
    req.headers_mut().remove(CONTENT_ENCODING);
    req.set_payload(actix_web::dev::Payload::from(body.clone()));
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok(Vec::new());
    };
    let strings = |list: Option<&serde_json::Value>, field: Option<&str>| -> Vec<String> {
        list.and_then(|l| l.as_array())
            .into_iter()
            .flatten()
            .filter_map(|item| match field {
                Some(f) => item.get(f),
                None => Some(item),
            })
            .filter_map(|t| t.as_str().map(String::from))
            .collect()
    };
    Ok(match kind {
        BodyTopics::Subscription => {
            let mut topics = strings(value.get("topics"), None);
            if let Some(pattern) = value.get("topic_pattern").and_then(|p| p.as_str()) {
                // Every topic the pattern matches now must be readable;
                // reads re-check the topics the instance is given later.
                let matcher = topic_matcher(pattern);
                if let Ok(cluster) = state.metadata.refresh().await {
                    topics.extend(
                        cluster
                            .topics
                            .iter()
                            .map(|t| t.name.clone())
                            .filter(|name| matcher(name)),
                    );
                }
            }
            topics
        }
        BodyTopics::Partitions => strings(value.get("partitions"), Some("topic")),
        BodyTopics::Offsets => strings(value.get("offsets"), Some("topic")),
        BodyTopics::TopicName => value
            .get("topic_name")
            .and_then(|t| t.as_str())
            .map(String::from)
            .into_iter()
            .collect(),
    })
}

/// A matcher for a subscription's `topic_pattern` (a Java regex that must
/// match the whole name). A pattern the regex crate cannot read matches
/// every topic, so every topic must then be readable.
fn topic_matcher(pattern: &str) -> impl Fn(&str) -> bool {
    let compiled = regex::Regex::new(&format!("^(?:{pattern})$")).ok();
    move |name: &str| compiled.as_ref().is_none_or(|r| r.is_match(name))
}
