//! v3 brokers, partition replicas and partition reassignments.
//!
//! Brokers and replicas come from the cluster metadata (racks from
//! DescribeCluster where the broker has it). Reassignments: librdkafka has
//! no ListPartitionReassignments, and nothing through the gateway can
//! start one, so lists are always empty and a single partition's
//! reassignment is 404, as Confluent answers when none is running. A
//! reassignment started by other tools is not seen.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{answer, base, check_cluster, list, parse_id};
use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::kafka::metadata::{ClusterInfo, PartitionInfo};

fn broker_missing(raw: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("Broker {raw} cannot be found."),
    )
}

fn broker_resource(
    base: &str,
    cluster: &str,
    (id, host, port): &(i32, String, i32),
    rack: Option<String>,
) -> Value {
    let own = format!("{base}/clusters/{cluster}/brokers/{id}");
    json!({
        "kind": "KafkaBroker",
        "metadata": {"self": own, "resource_name": format!("crn:///kafka={cluster}/broker={id}")},
        "cluster_id": cluster,
        "broker_id": id,
        "host": host,
        "port": port,
        "rack": rack,
        "configs": {"related": format!("{own}/configs")},
        "partition_replicas": {"related": format!("{own}/partition-replicas")},
    })
}

/// Racks by broker id, where DescribeCluster is supported.
async fn racks(state: &AppState) -> Vec<(i32, Option<String>)> {
    state
        .admin
        .describe_cluster()
        .await
        .map(|d| d.nodes.into_iter().map(|n| (n.id, n.rack)).collect())
        .unwrap_or_default()
}

fn rack_of(racks: &[(i32, Option<String>)], id: i32) -> Option<String> {
    racks
        .iter()
        .find(|(b, _)| *b == id)
        .and_then(|(_, r)| r.clone())
}

pub async fn list_brokers(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cluster = check_cluster(&state, &path).await?;
    let info = state.metadata.refresh().await?;
    let racks = racks(&state).await;
    let base = base(&req);
    let data = info
        .broker_addresses
        .iter()
        .map(|b| broker_resource(&base, &cluster, b, rack_of(&racks, b.0)))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaBrokerList",
            format!("{base}/clusters/{cluster}/brokers"),
            data,
        ),
    ))
}

fn find_broker<'a>(info: &'a ClusterInfo, raw: &str) -> Result<&'a (i32, String, i32), ApiError> {
    let id = parse_id(raw, || broker_missing(raw))?;
    info.broker_addresses
        .iter()
        .find(|b| b.0 == id)
        .ok_or_else(|| broker_missing(raw))
}

pub async fn get_broker(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, broker) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let info = state.metadata.refresh().await?;
    let found = find_broker(&info, &broker)?;
    let racks = racks(&state).await;
    Ok(answer(
        StatusCode::OK,
        broker_resource(&base(&req), &cluster, found, rack_of(&racks, found.0)),
    ))
}

fn replica_resource(
    base: &str,
    cluster: &str,
    topic: &str,
    p: &PartitionInfo,
    broker: i32,
) -> Value {
    let partition = format!(
        "{base}/clusters/{cluster}/topics/{topic}/partitions/{}",
        p.id
    );
    json!({
        "kind": "KafkaReplica",
        "metadata": {
            "self": format!("{partition}/replicas/{broker}"),
            "resource_name": format!("crn:///kafka={cluster}/topic={topic}/partition={}/replica={broker}", p.id),
        },
        "cluster_id": cluster,
        "topic_name": topic,
        "partition_id": p.id,
        "broker_id": broker,
        "is_leader": p.leader == broker,
        "is_in_sync": p.isr.contains(&broker),
        "broker": {"related": format!("{base}/clusters/{cluster}/brokers/{broker}")},
    })
}

pub async fn broker_replicas(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, broker) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let info = state.metadata.refresh().await?;
    let id = find_broker(&info, &broker)?.0;
    let base = base(&req);
    let mut data = Vec::new();
    for topic in &info.topics {
        for p in &topic.partitions {
            if p.replicas.contains(&id) {
                data.push(replica_resource(&base, &cluster, &topic.name, p, id));
            }
        }
    }
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaReplicaList",
            format!("{base}/clusters/{cluster}/brokers/{id}/partition-replicas"),
            data,
        ),
    ))
}

async fn partition(
    state: &AppState,
    topic: &str,
    raw: &str,
) -> Result<(String, PartitionInfo), ApiError> {
    let topic = state.metadata.topic(topic).await?;
    let missing = || {
        ApiError::new(
            ErrorCode::PartitionNotFound,
            format!("partition {raw} not found in topic {}", topic.name),
        )
    };
    let id = parse_id(raw, missing)?;
    let p = topic
        .partitions
        .iter()
        .find(|p| p.id == id)
        .cloned()
        .ok_or_else(missing)?;
    Ok((topic.name.clone(), p))
}

pub async fn partition_replicas(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic, raw) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let (topic, p) = partition(&state, &topic, &raw).await?;
    let base = base(&req);
    let data = p
        .replicas
        .iter()
        .map(|b| replica_resource(&base, &cluster, &topic, &p, *b))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaReplicaList",
            format!(
                "{base}/clusters/{cluster}/topics/{topic}/partitions/{}/replicas",
                p.id
            ),
            data,
        ),
    ))
}

pub async fn get_replica(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic, raw, replica) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let (topic, p) = partition(&state, &topic, &raw).await?;
    let missing = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!("Replica {replica} cannot be found."),
        )
    };
    let broker = parse_id(&replica, missing)?;
    if !p.replicas.contains(&broker) {
        return Err(missing());
    }
    Ok(answer(
        StatusCode::OK,
        replica_resource(&base(&req), &cluster, &topic, &p, broker),
    ))
}

pub async fn all_reassignments(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cluster = check_cluster(&state, &path).await?;
    let base = base(&req);
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaReassignmentList",
            format!("{base}/clusters/{cluster}/topics/-/partitions/-/reassignment"),
            Vec::new(),
        ),
    ))
}

pub async fn topic_reassignments(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let topic = state.metadata.topic(&topic).await?;
    let base = base(&req);
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaReassignmentList",
            format!(
                "{base}/clusters/{cluster}/topics/{}/partitions/-/reassignment",
                topic.name
            ),
            Vec::new(),
        ),
    ))
}

pub async fn partition_reassignment(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic, raw) = path.into_inner();
    check_cluster(&state, &cluster).await?;
    let (topic, p) = partition(&state, &topic, &raw).await?;
    Err(ApiError::new(
        ErrorCode::NotFound,
        format!(
            "There is no ongoing reassignment for partition {} of topic {topic}.",
            p.id
        ),
    ))
}
