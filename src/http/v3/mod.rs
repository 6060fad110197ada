//! The v3 API (`/v3/...`, also under `/kafka/v3/...` as Confluent Cloud
//! and Confluent Server serve it): the cluster resource, record produce
//! ([`records`]), single or streamed, topic administration ([`topics`]),
//! brokers, replicas and reassignments ([`brokers`]), configs
//! ([`configs`]), consumer groups and lag ([`groups`]) and ACLs
//! ([`acls`]).

pub mod acls;
pub mod brokers;
pub mod configs;
pub mod groups;
pub mod records;
pub mod split;
pub mod topics;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;

/// v3 answers in plain JSON.
pub const CONTENT_TYPE: &str = "application/json";

pub fn routes(cfg: &mut web::ServiceConfig) {
    for prefix in ["/v3", "/kafka/v3"] {
        let c = format!("{prefix}/clusters/{{cluster}}");
        let t = format!("{c}/topics/{{topic}}");
        let p = format!("{t}/partitions/{{partition}}");
        let g = format!("{c}/consumer-groups/{{group}}");
        let b = format!("{c}/brokers/{{broker}}");
        cfg.route(&format!("{prefix}/clusters"), web::get().to(clusters))
            .route(&c, web::get().to(cluster))
            // Brokers, replicas, reassignments.
            .route(
                &format!("{c}/brokers"),
                web::get().to(brokers::list_brokers),
            )
            .route(&b, web::get().to(brokers::get_broker))
            .route(
                &format!("{b}/partition-replicas"),
                web::get().to(brokers::broker_replicas),
            )
            .route(
                &format!("{p}/replicas"),
                web::get().to(brokers::partition_replicas),
            )
            .route(
                &format!("{p}/replicas/{{replica}}"),
                web::get().to(brokers::get_replica),
            )
            .route(
                &format!("{c}/topics/-/partitions/-/reassignment"),
                web::get().to(brokers::all_reassignments),
            )
            .route(
                &format!("{t}/partitions/-/reassignment"),
                web::get().to(brokers::topic_reassignments),
            )
            .route(
                &format!("{p}/reassignment"),
                web::get().to(brokers::partition_reassignment),
            )
            // Topics and partitions.
            .route(&format!("{c}/topics"), web::get().to(topics::list_topics))
            .route(&format!("{c}/topics"), web::post().to(topics::create_topic))
            .route(&t, web::get().to(topics::get_topic))
            .route(&t, web::delete().to(topics::delete_topic))
            .route(
                &format!("{t}/partitions"),
                web::get().to(topics::list_partitions),
            )
            .route(&p, web::get().to(topics::get_partition))
            // Configs: topics, brokers, cluster-wide broker defaults.
            .route(&format!("{t}/configs"), web::get().to(configs::list_topic))
            .route(
                &format!("{t}/configs:alter"),
                web::post().to(configs::alter_topic),
            )
            .route(
                &format!("{t}/configs/{{name}}"),
                web::get().to(configs::get_topic),
            )
            .route(
                &format!("{t}/configs/{{name}}"),
                web::put().to(configs::set_topic),
            )
            .route(
                &format!("{t}/configs/{{name}}"),
                web::delete().to(configs::reset_topic),
            )
            .route(&format!("{b}/configs"), web::get().to(configs::list_broker))
            .route(
                &format!("{b}/configs:alter"),
                web::post().to(configs::alter_broker),
            )
            .route(
                &format!("{b}/configs/{{name}}"),
                web::get().to(configs::get_broker),
            )
            .route(
                &format!("{b}/configs/{{name}}"),
                web::put().to(configs::set_broker),
            )
            .route(
                &format!("{b}/configs/{{name}}"),
                web::delete().to(configs::reset_broker),
            )
            .route(
                &format!("{c}/broker-configs"),
                web::get().to(configs::list_cluster),
            )
            .route(
                &format!("{c}/broker-configs:alter"),
                web::post().to(configs::alter_cluster),
            )
            .route(
                &format!("{c}/broker-configs/{{name}}"),
                web::get().to(configs::get_cluster),
            )
            .route(
                &format!("{c}/broker-configs/{{name}}"),
                web::put().to(configs::alter_cluster),
            )
            .route(
                &format!("{c}/broker-configs/{{name}}"),
                web::delete().to(configs::alter_cluster),
            )
            // Consumer groups.
            .route(
                &format!("{c}/consumer-groups"),
                web::get().to(groups::list_groups),
            )
            .route(&g, web::get().to(groups::get_group))
            .route(
                &format!("{g}/consumers"),
                web::get().to(groups::list_consumers),
            )
            .route(
                &format!("{g}/consumers/{{consumer}}"),
                web::get().to(groups::get_consumer),
            )
            .route(
                &format!("{g}/consumers/{{consumer}}/assignments"),
                web::get().to(groups::list_assignments),
            )
            .route(
                &format!(
                    "{g}/consumers/{{consumer}}/assignments/{{topic}}/partitions/{{partition}}"
                ),
                web::get().to(groups::get_assignment),
            )
            .route(&format!("{g}/lags"), web::get().to(groups::list_lags))
            .route(
                &format!("{g}/lags/{{topic}}/partitions/{{partition}}"),
                web::get().to(groups::get_lag),
            )
            .route(
                &format!("{g}/lag-summary"),
                web::get().to(groups::lag_summary),
            )
            // ACLs.
            .route(&format!("{c}/acls"), web::get().to(acls::list_acls))
            .route(&format!("{c}/acls"), web::post().to(acls::create_acls))
            .route(&format!("{c}/acls"), web::delete().to(acls::delete_acls))
            // Records.
            .route(&format!("{t}/records"), web::post().to(records::produce))
            .route(
                &format!("{t}/records:batch"),
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

/// A v3 answer: plain JSON.
pub(crate) fn answer(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(CONTENT_TYPE)
        .json(body)
}

/// A v3 list resource.
pub(crate) fn list(kind: &str, own: String, data: Vec<Value>) -> Value {
    json!({"kind": kind, "metadata": {"self": own, "next": null}, "data": data})
}

/// A path's numeric id (partition, broker), or the 404 `missing` gives.
pub(crate) fn parse_id(raw: &str, missing: impl FnOnce() -> ApiError) -> Result<i32, ApiError> {
    raw.parse::<i32>()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(missing)
}

/// The controller's id, when the broker can say (DescribeCluster); `None`
/// on brokers without it (the embedded one), which is not an error here.
async fn controller(state: &AppState) -> Option<i32> {
    state
        .admin
        .describe_cluster()
        .await
        .ok()
        .and_then(|d| d.controller)
}

fn cluster_resource(base: &str, id: &str, controller: Option<i32>) -> serde_json::Value {
    let own = format!("{base}/clusters/{id}");
    let related = |what: &str| json!({"related": format!("{own}/{what}")});
    json!({
        "kind": "KafkaCluster",
        "metadata": {"self": own, "resource_name": format!("crn:///kafka={id}")},
        "cluster_id": id,
        "controller": controller.map(|c| related(&format!("brokers/{c}"))),
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
    let controller = controller(&state).await;
    Ok(HttpResponse::Ok().content_type(CONTENT_TYPE).json(json!({
        "kind": "KafkaClusterList",
        "metadata": {"self": format!("{base}/clusters"), "next": null},
        "data": [cluster_resource(&base, &id, controller)],
    })))
}

async fn cluster(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = check_cluster(&state, &path).await?;
    let controller = controller(&state).await;
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .json(cluster_resource(&base(&req), &id, controller)))
}
