//! v2 metadata: `GET /topics`, `/topics/{t}`, `/topics/{t}/partitions[/{p}[/offsets]]`,
//! `/brokers`, answered from a live metadata request.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::json;

use crate::auth::{Access, ResourceKind};
use crate::error::{ApiError, ErrorCode, V2_CONTENT_TYPE};
use crate::http::AppState;
use crate::kafka::metadata::{PartitionInfo, TopicInfo};

#[derive(Serialize)]
struct Replica {
    broker: i32,
    leader: bool,
    in_sync: bool,
}

#[derive(Serialize)]
struct Partition {
    partition: i32,
    leader: i32,
    replicas: Vec<Replica>,
}

impl From<&PartitionInfo> for Partition {
    fn from(p: &PartitionInfo) -> Partition {
        Partition {
            partition: p.id,
            leader: p.leader,
            replicas: p
                .replicas
                .iter()
                .map(|&broker| Replica {
                    broker,
                    leader: broker == p.leader,
                    in_sync: p.isr.contains(&broker),
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct TopicBody<'a> {
    name: &'a str,
    /// Topic configs need a DescribeConfigs call; empty until the v3 topic
    /// admin work adds it.
    configs: serde_json::Map<String, serde_json::Value>,
    partitions: Vec<Partition>,
}

#[derive(Serialize)]
struct Offsets {
    beginning_offset: i64,
    end_offset: i64,
}

fn v2_json(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().content_type(V2_CONTENT_TYPE).json(body)
}

/// A fresh view of the topic: metadata calls are rare and must not show a
/// stale partition count.
async fn fresh_topic(state: &AppState, name: &str) -> Result<std::sync::Arc<TopicInfo>, ApiError> {
    let cluster = state.metadata.refresh().await?;
    cluster
        .topics
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ApiError::topic_not_found(name))
}

fn find_partition<'a>(topic: &'a TopicInfo, raw: &str) -> Result<&'a PartitionInfo, ApiError> {
    raw.parse::<i32>()
        .ok()
        .and_then(|id| topic.partitions.iter().find(|p| p.id == id))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::PartitionNotFound,
                format!("partition {raw} not found in topic {}", topic.name),
            )
        })
}

pub async fn topics(state: web::Data<AppState>, access: Access) -> Result<HttpResponse, ApiError> {
    let cluster = state.metadata.refresh().await?;
    let names: Vec<&str> = cluster
        .topics
        .iter()
        .map(|t| t.name.as_str())
        .filter(|name| access.may_describe(ResourceKind::Topic, name))
        .collect();
    Ok(v2_json(names))
}

pub async fn topic(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let topic = fresh_topic(&state, &path).await?;
    let partitions: Vec<Partition> = topic.partitions.iter().map(Partition::from).collect();
    // The embedded broker (librdkafka's mock cluster) cannot describe
    // configs; a real cluster is asked, and a failure there leaves the map
    // empty rather than failing the metadata.
    let mut configs = serde_json::Map::new();
    if !state.config.uses_embedded_broker() {
        match state.admin.topic_configs(&topic.name).await {
            Ok(entries) => {
                for c in entries.into_iter().filter(|c| !c.is_sensitive) {
                    configs.insert(c.name, c.value.map_or(serde_json::Value::Null, Into::into));
                }
            }
            Err(e) => tracing::warn!(topic = %topic.name, error = %e, "describing topic configs"),
        }
    }
    Ok(v2_json(TopicBody {
        name: &topic.name,
        configs,
        partitions,
    }))
}

pub async fn partitions(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let topic = fresh_topic(&state, &path).await?;
    let partitions: Vec<Partition> = topic.partitions.iter().map(Partition::from).collect();
    Ok(v2_json(partitions))
}

pub async fn partition(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, raw) = path.into_inner();
    let topic = fresh_topic(&state, &name).await?;
    Ok(v2_json(Partition::from(find_partition(&topic, &raw)?)))
}

pub async fn offsets(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (name, raw) = path.into_inner();
    let topic = fresh_topic(&state, &name).await?;
    let id = find_partition(&topic, &raw)?.id;
    let (beginning, end) = state.metadata.watermarks(&name, id).await?;
    Ok(v2_json(Offsets {
        beginning_offset: beginning,
        end_offset: end,
    }))
}

pub async fn brokers(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let cluster = state.metadata.refresh().await?;
    Ok(v2_json(json!({"brokers": cluster.brokers})))
}
