//! v3 topics and partitions: list, describe, create, delete.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{answer, base, check_cluster, list};
use crate::auth::{Access, ResourceKind};
use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::kafka::metadata::{PartitionInfo, TopicInfo};

pub(crate) fn topic_resource(base: &str, cluster: &str, topic: &TopicInfo) -> Value {
    let own = format!("{base}/clusters/{cluster}/topics/{}", topic.name);
    let related = |what: &str| json!({"related": format!("{own}/{what}")});
    json!({
        "kind": "KafkaTopic",
        "metadata": {"self": own, "resource_name": format!("crn:///kafka={cluster}/topic={}", topic.name)},
        "cluster_id": cluster,
        "topic_name": topic.name,
        "is_internal": topic.name.starts_with("__"),
        "replication_factor": topic.partitions.first().map_or(0, |p| p.replicas.len()),
        "partitions_count": topic.partitions.len(),
        "partitions": related("partitions"),
        "configs": related("configs"),
        "partition_reassignments": related("partitions/-/reassignment"),
        "authorized_operations": [],
    })
}

pub(crate) fn partition_resource(
    base: &str,
    cluster: &str,
    topic: &str,
    p: &PartitionInfo,
) -> Value {
    let own = format!(
        "{base}/clusters/{cluster}/topics/{topic}/partitions/{}",
        p.id
    );
    json!({
        "kind": "KafkaPartition",
        "metadata": {"self": own, "resource_name": format!("crn:///kafka={cluster}/topic={topic}/partition={}", p.id)},
        "cluster_id": cluster,
        "topic_name": topic,
        "partition_id": p.id,
        // No leader (-1, during an election): no link to follow.
        "leader": (p.leader >= 0).then(|| json!({"related": format!("{base}/clusters/{cluster}/brokers/{}", p.leader)})),
        "replicas": {"related": format!("{own}/replicas")},
        "reassignment": {"related": format!("{own}/reassignment")},
    })
}

pub async fn list_topics(
    state: web::Data<AppState>,
    access: Access,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cluster = check_cluster(&state, &path).await?;
    let info = state.metadata.refresh().await?;
    let base = base(&req);
    let mut topics: Vec<_> = info
        .topics
        .iter()
        .filter(|t| access.may_describe(ResourceKind::Topic, &t.name))
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    let data = topics
        .into_iter()
        .map(|t| topic_resource(&base, &cluster, t))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaTopicList",
            format!("{base}/clusters/{cluster}/topics"),
            data,
        ),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTopic {
    topic_name: String,
    #[serde(default)]
    partitions_count: Option<i32>,
    #[serde(default)]
    replication_factor: Option<i32>,
    #[serde(default)]
    configs: Vec<ConfigValue>,
    #[serde(default)]
    validate_only: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigValue {
    name: String,
    value: String,
}

pub async fn create_topic(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let cluster = check_cluster(&state, &path).await?;
    let body: CreateTopic = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::Unprocessable,
            format!("invalid topic request: {e}"),
        )
    })?;
    if !crate::config::valid_topic_name(&body.topic_name) {
        return Err(ApiError::new(
            ErrorCode::KafkaBadRequest,
            format!("'{}' is not a valid topic name", body.topic_name),
        ));
    }
    let configs: Vec<(String, String)> = body
        .configs
        .into_iter()
        .map(|c| (c.name, c.value))
        .collect();
    // -1: the broker's default.
    let partitions = body.partitions_count.unwrap_or(-1);
    let replication = body.replication_factor.unwrap_or(-1);
    state
        .admin
        .create_topic(
            &body.topic_name,
            partitions,
            replication,
            &configs,
            body.validate_only,
        )
        .await?;
    state.metadata.forget(&body.topic_name);
    let topic = if body.validate_only {
        None
    } else {
        state.metadata.topic(&body.topic_name).await.ok()
    };
    let topic = topic.map(|t| (*t).clone()).unwrap_or_else(|| TopicInfo {
        name: body.topic_name.clone(),
        partitions: Vec::new(),
    });
    let mut resource = topic_resource(&base(&req), &cluster, &topic);
    if topic.partitions.is_empty() {
        resource["partitions_count"] = json!(partitions.max(0));
        resource["replication_factor"] = json!(replication.max(0));
    }
    Ok(answer(StatusCode::CREATED, resource))
}

pub async fn get_topic(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let topic = state.metadata.topic(&topic).await?;
    Ok(answer(
        StatusCode::OK,
        topic_resource(&base(&req), &cluster, &topic),
    ))
}

pub async fn delete_topic(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic) = path.into_inner();
    check_cluster(&state, &cluster).await?;
    state.admin.delete_topic(&topic).await?;
    state.metadata.forget(&topic);
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_partitions(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let topic = state.metadata.topic(&topic).await?;
    let base = base(&req);
    let data = topic
        .partitions
        .iter()
        .map(|p| partition_resource(&base, &cluster, &topic.name, p))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaPartitionList",
            format!("{base}/clusters/{cluster}/topics/{}/partitions", topic.name),
            data,
        ),
    ))
}

pub async fn get_partition(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic, partition) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let topic = state.metadata.topic(&topic).await?;
    let found = partition
        .parse::<i32>()
        .ok()
        .and_then(|id| topic.partitions.iter().find(|p| p.id == id))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::PartitionNotFound,
                format!("partition {partition} not found in topic {}", topic.name),
            )
        })?;
    Ok(answer(
        StatusCode::OK,
        partition_resource(&base(&req), &cluster, &topic.name, found),
    ))
}
