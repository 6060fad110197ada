//! v3 consumer groups: groups, their consumers and assignments
//! (ListGroups + DescribeGroups), and lag (the group's committed offsets,
//! OffsetFetch, against each partition's end offset).
//!
//! Lag needs only OffsetFetch: on a broker without ListGroups or
//! DescribeGroups (the embedded one) lags are still answered, with no
//! consumer ids. A group with committed offsets and no members (a simple
//! consumer) has lags too. Only partitions with a committed offset have a
//! lag, as in Confluent.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{answer, base, check_cluster, list, parse_id};
use crate::auth::{Access, ResourceKind};
use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::kafka::groups::{self, Group, Lag, Member};

fn group_missing(group: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("Consumer group {group} cannot be found."),
    )
}

fn group_url(base: &str, cluster: &str, group: &str) -> String {
    format!("{base}/clusters/{cluster}/consumer-groups/{group}")
}

fn group_resource(base: &str, cluster: &str, g: &Group) -> Value {
    let own = group_url(base, cluster, &g.group_id);
    json!({
        "kind": "KafkaConsumerGroup",
        "metadata": {"self": own, "resource_name": format!("crn:///kafka={cluster}/consumer-group={}", g.group_id)},
        "cluster_id": cluster,
        "consumer_group_id": g.group_id,
        "is_simple": g.is_simple(),
        "partition_assignor": g.partition_assignor,
        "state": g.state,
        "coordinator": (g.coordinator >= 0).then(|| json!({"related": format!("{base}/clusters/{cluster}/brokers/{}", g.coordinator)})),
        "consumers": {"related": format!("{own}/consumers")},
        "lag_summary": {"related": format!("{own}/lag-summary")},
    })
}

fn consumer_resource(base: &str, cluster: &str, group: &str, m: &Member) -> Value {
    let own = format!(
        "{}/consumers/{}",
        group_url(base, cluster, group),
        m.consumer_id
    );
    json!({
        "kind": "KafkaConsumer",
        "metadata": {"self": own, "resource_name": format!("crn:///kafka={cluster}/consumer-group={group}/consumer={}", m.consumer_id)},
        "cluster_id": cluster,
        "consumer_group_id": group,
        "consumer_id": m.consumer_id,
        "instance_id": m.instance_id,
        "client_id": m.client_id,
        "assignments": {"related": format!("{own}/assignments")},
    })
}

fn assignment_resource(
    base: &str,
    cluster: &str,
    group: &str,
    m: &Member,
    (topic, partition): &(String, i32),
) -> Value {
    let g = group_url(base, cluster, group);
    json!({
        "kind": "KafkaConsumerAssignment",
        "metadata": {
            "self": format!("{g}/consumers/{}/assignments/{topic}/partitions/{partition}", m.consumer_id),
            "resource_name": format!("crn:///kafka={cluster}/consumer-group={group}/consumer={}/assignment={topic}/partition={partition}", m.consumer_id),
        },
        "cluster_id": cluster,
        "consumer_group_id": group,
        "consumer_id": m.consumer_id,
        "topic_name": topic,
        "partition_id": partition,
        "partition": {"related": format!("{base}/clusters/{cluster}/topics/{topic}/partitions/{partition}")},
        "lag": {"related": format!("{g}/lags/{topic}/partitions/{partition}")},
    })
}

fn lag_resource(base: &str, cluster: &str, group: &str, l: &Lag) -> Value {
    json!({
        "kind": "KafkaConsumerLag",
        "metadata": {
            "self": format!("{}/lags/{}/partitions/{}", group_url(base, cluster, group), l.topic, l.partition),
            "resource_name": format!("crn:///kafka={cluster}/consumer-group={group}/lag={}/partition={}", l.topic, l.partition),
        },
        "cluster_id": cluster,
        "consumer_group_id": group,
        "topic_name": l.topic,
        "partition_id": l.partition,
        "current_offset": l.current_offset,
        "log_end_offset": l.log_end_offset,
        "lag": l.lag,
        "consumer_id": l.consumer_id,
        "instance_id": l.instance_id,
        "client_id": l.client_id,
    })
}

/// One group, described; 404 if the broker does not know it.
async fn find_group(state: &AppState, group: &str) -> Result<Group, ApiError> {
    state
        .admin
        .groups(Some(group.to_string()))
        .await?
        .into_iter()
        .find(|g| g.group_id == group && g.state != "DEAD")
        .ok_or_else(|| group_missing(group))
}

pub async fn list_groups(
    state: web::Data<AppState>,
    access: Access,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cluster = check_cluster(&state, &path).await?;
    let mut found = state.admin.groups(None).await?;
    found.retain(|g| access.may_describe(ResourceKind::Group, &g.group_id));
    found.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    found.dedup_by(|a, b| a.group_id == b.group_id);
    let base = base(&req);
    let data = found
        .iter()
        .map(|g| group_resource(&base, &cluster, g))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaConsumerGroupList",
            format!("{base}/clusters/{cluster}/consumer-groups"),
            data,
        ),
    ))
}

pub async fn get_group(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, group) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let g = find_group(&state, &group).await?;
    Ok(answer(
        StatusCode::OK,
        group_resource(&base(&req), &cluster, &g),
    ))
}

pub async fn list_consumers(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, group) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let g = find_group(&state, &group).await?;
    let base = base(&req);
    let data = g
        .members
        .iter()
        .map(|m| consumer_resource(&base, &cluster, &g.group_id, m))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaConsumerList",
            format!("{}/consumers", group_url(&base, &cluster, &g.group_id)),
            data,
        ),
    ))
}

fn member<'a>(g: &'a Group, consumer: &str) -> Result<&'a Member, ApiError> {
    g.members
        .iter()
        .find(|m| m.consumer_id == consumer)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                format!("Consumer {consumer} cannot be found."),
            )
        })
}

pub async fn get_consumer(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, group, consumer) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let g = find_group(&state, &group).await?;
    let m = member(&g, &consumer)?;
    Ok(answer(
        StatusCode::OK,
        consumer_resource(&base(&req), &cluster, &g.group_id, m),
    ))
}

pub async fn list_assignments(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, group, consumer) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let g = find_group(&state, &group).await?;
    let m = member(&g, &consumer)?;
    let base = base(&req);
    let data = m
        .assignments
        .iter()
        .map(|a| assignment_resource(&base, &cluster, &g.group_id, m, a))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaConsumerAssignmentList",
            format!(
                "{}/consumers/{}/assignments",
                group_url(&base, &cluster, &g.group_id),
                m.consumer_id
            ),
            data,
        ),
    ))
}

pub async fn get_assignment(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, group, consumer, topic, partition) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let g = find_group(&state, &group).await?;
    let m = member(&g, &consumer)?;
    let missing = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!("Consumer {consumer} is not assigned partition {partition} of topic {topic}."),
        )
    };
    let id = parse_id(&partition, missing)?;
    let a = m
        .assignments
        .iter()
        .find(|(t, p)| *t == topic && *p == id)
        .ok_or_else(missing)?;
    Ok(answer(
        StatusCode::OK,
        assignment_resource(&base(&req), &cluster, &g.group_id, m, a),
    ))
}

/// The group's lags. The group's description (for consumer ids) where the
/// broker can give it; 404 if the group has neither members nor offsets.
async fn group_lags(state: &AppState, group: &str) -> Result<Vec<Lag>, ApiError> {
    let described = match find_group(state, group).await {
        Ok(g) => Some(g),
        Err(e) if e.code == ErrorCode::UnsupportedByBroker || e.code == ErrorCode::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut offsets = state.admin.group_offsets(group.to_string(), None).await?;
    if offsets.committed.is_empty() {
        // A broker that does not answer OffsetFetch for "all partitions"
        // (the embedded mock) is asked for each partition of the cluster
        // (bounded by the cluster's size).
        let info = state.metadata.refresh().await?;
        let every = info
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.id)))
            .collect();
        offsets = state
            .admin
            .group_offsets(group.to_string(), Some(every))
            .await?;
    }
    if described.is_none() && offsets.committed.is_empty() {
        return Err(group_missing(group));
    }
    Ok(groups::lags(
        described.as_ref(),
        &offsets.committed,
        &offsets.ends,
    ))
}

pub async fn list_lags(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, group) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let lags = group_lags(&state, &group).await?;
    let base = base(&req);
    let data = lags
        .iter()
        .map(|l| lag_resource(&base, &cluster, &group, l))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaConsumerLagList",
            format!("{}/lags", group_url(&base, &cluster, &group)),
            data,
        ),
    ))
}

pub async fn get_lag(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, group, topic, partition) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let missing = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!(
                "Consumer group {group} has no offset for partition {partition} of topic {topic}."
            ),
        )
    };
    let id = parse_id(&partition, missing)?;
    let lags = group_lags(&state, &group).await?;
    let lag = lags
        .iter()
        .find(|l| l.topic == topic && l.partition == id)
        .ok_or_else(missing)?;
    Ok(answer(
        StatusCode::OK,
        lag_resource(&base(&req), &cluster, &group, lag),
    ))
}

pub async fn lag_summary(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, group) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let lags = group_lags(&state, &group).await?;
    let summary = groups::summary(&lags);
    let base = base(&req);
    let g = group_url(&base, &cluster, &group);
    let max = summary.max.as_ref();
    Ok(answer(
        StatusCode::OK,
        json!({
            "kind": "KafkaConsumerGroupLagSummary",
            "metadata": {"self": format!("{g}/lag-summary"), "resource_name": format!("crn:///kafka={cluster}/consumer-group={group}/lag-summary")},
            "cluster_id": cluster,
            "consumer_group_id": group,
            "max_lag_consumer_id": max.and_then(|l| l.consumer_id.clone()),
            "max_lag_instance_id": max.and_then(|l| l.instance_id.clone()),
            "max_lag_client_id": max.and_then(|l| l.client_id.clone()),
            "max_lag_topic_name": max.map(|l| l.topic.clone()),
            "max_lag_partition_id": max.map(|l| l.partition),
            "max_lag": max.map_or(0, |l| l.lag),
            "total_lag": summary.total,
            "max_lag_consumer": max.and_then(|l| l.consumer_id.as_ref()).map(|c| json!({"related": format!("{g}/consumers/{c}")})),
            "max_lag_partition": max.map(|l| json!({"related": format!("{base}/clusters/{cluster}/topics/{}/partitions/{}", l.topic, l.partition)})),
        }),
    ))
}
