//! The v3 API (`/v3/...`, also under `/kafka/v3/...` as Confluent Cloud
//! and Confluent Server serve it): the cluster resource, record produce
//! ([`records`]), single or streamed, and topic administration
//! ([`topics`]).

pub mod records;
pub mod split;
pub mod topics;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;

/// v3 answers in plain JSON.
pub const CONTENT_TYPE: &str = "application/json";

pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in ["/v3", "/kafka/v3"] {
        cfg.route(&format!("{prefix}/clusters"), web::get().to(clusters))
            .route(
                &format!("{prefix}/clusters/{{cluster}}"),
                web::get().to(cluster),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/brokers"),
                web::get().to(topics::list_brokers),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/topics"),
                web::get().to(topics::list_topics),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/topics"),
                web::post().to(topics::create_topic),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/topics/{{topic}}"),
                web::get().to(topics::get_topic),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/topics/{{topic}}"),
                web::delete().to(topics::delete_topic),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/topics/{{topic}}/partitions"),
                web::get().to(topics::list_partitions),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/topics/{{topic}}/partitions/{{partition}}"),
                web::get().to(topics::get_partition),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/topics/{{topic}}/configs"),
                web::get().to(topics::list_configs),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/topics/{{topic}}/records"),
                web::post().to(records::produce),
            )
            .route(
                &format!("{prefix}/clusters/{{cluster}}/topics/{{topic}}/records:batch"),
                web::post().to(records::produce_batch),
            );
    }
}

/// The URL prefix of v3 resources as this request reached them:
/// `http://host:port/v3` or `.../kafka/v3`.
pub fn base(req: &HttpRequest) -> String {
    let info = req.connection_info();
    let prefix = if req.path().starts_with("/kafka/v3") {
        "/kafka/v3"
    } else {
        "/v3"
    };
    format!("{}://{}{prefix}", info.scheme(), info.host())
}

/// The cluster's id, checked against the one a path names.
pub async fn check_cluster(state: &AppState, named: &str) -> Result<String, ApiError> {
    let id = state.metadata.cluster_id().await?;
    if id != named {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("Cluster {named} cannot be found."),
        ));
    }
    Ok(id)
}

fn cluster_resource(base: &str, id: &str) -> serde_json::Value {
    let own = format!("{base}/clusters/{id}");
    let related = |what: &str| json!({"related": format!("{own}/{what}")});
    json!({
        "kind": "KafkaCluster",
        "metadata": {"self": own, "resource_name": format!("crn:///kafka={id}")},
        "cluster_id": id,
        "controller": null,
        "acls": related("acls"),
        "brokers": related("brokers"),
        "broker_configs": related("broker-configs"),
        "consumer_groups": related("consumer-groups"),
        "topics": related("topics"),
        "partition_reassignments": related("topics/-/partitions/-/reassignment"),
    })
}

async fn clusters(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let id = state.metadata.cluster_id().await?;
    let base = base(&req);
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).json(json!({
        "kind": "KafkaClusterList",
        "metadata": {"self": format!("{base}/clusters"), "next": null},
        "data": [cluster_resource(&base, &id)],
    })))
}

async fn cluster(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = check_cluster(&state, &path).await?;
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .json(cluster_resource(&base(&req), &id)))
}
