//! v3 configs: a topic's, a broker's and the cluster-wide broker defaults.
//!
//! Reads are DescribeConfigs. Writes are incremental
//! (IncrementalAlterConfigs): a PUT sets one config, a DELETE reverts one
//! to its default, `configs:alter` does several `SET`/`DELETE` at once,
//! and nothing else changes.
//!
//! Cluster-wide defaults (`broker-configs`) live on Kafka's BROKER resource
//! with an empty name, which librdkafka cannot address (it routes every
//! BROKER resource to the broker its name numbers). They are read from
//! one broker's description (the entries whose source is
//! DYNAMIC_DEFAULT_BROKER_CONFIG; a default a broker overrides for itself
//! is not seen there), and writing them answers 501.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{answer, base, check_cluster, list, parse_id};
use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::kafka::admin::{ConfigInfo, OwnedTarget};
use crate::kafka::capabilities::unsupported;

/// Which resource a config belongs to, for its JSON shape.
enum Owner<'a> {
    Topic(&'a str),
    Broker(i32),
    Cluster,
}

fn config_resource(base: &str, cluster: &str, owner: &Owner<'_>, c: &ConfigInfo) -> Value {
    let (own, crn) = match owner {
        Owner::Topic(t) => (
            format!("{base}/clusters/{cluster}/topics/{t}/configs/{}", c.name),
            format!("crn:///kafka={cluster}/topic={t}/config={}", c.name),
        ),
        Owner::Broker(b) => (
            format!("{base}/clusters/{cluster}/brokers/{b}/configs/{}", c.name),
            format!("crn:///kafka={cluster}/broker={b}/config={}", c.name),
        ),
        Owner::Cluster => (
            format!("{base}/clusters/{cluster}/broker-configs/{}", c.name),
            format!("crn:///kafka={cluster}/broker-config={}", c.name),
        ),
    };
    let mut v = json!({
        "kind": match owner {
            Owner::Topic(_) => "KafkaTopicConfig",
            Owner::Broker(_) => "KafkaBrokerConfig",
            Owner::Cluster => "KafkaClusterConfig",
        },
        "metadata": {"self": own, "resource_name": crn},
        "cluster_id": cluster,
        "name": c.name,
        "value": if c.is_sensitive { None } else { c.value.clone() },
        "is_default": c.is_default,
        "is_read_only": c.is_read_only,
        "is_sensitive": c.is_sensitive,
        "source": c.source,
        "synonyms": [],
    });
    match owner {
        Owner::Topic(t) => v["topic_name"] = json!(t),
        Owner::Broker(b) => v["broker_id"] = json!(b),
        Owner::Cluster => v["config_type"] = json!("BROKER"),
    }
    v
}

fn config_missing(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("Config {name} cannot be found."),
    )
}

fn one(configs: Vec<ConfigInfo>, name: &str) -> Result<ConfigInfo, ApiError> {
    configs
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(|| config_missing(name))
}

#[derive(Deserialize)]
struct SetValue {
    value: Option<String>,
}

#[derive(Deserialize)]
struct AlterBatch {
    data: Vec<AlterEntry>,
    #[serde(default)]
    validate_only: bool,
}

#[derive(Deserialize)]
struct AlterEntry {
    name: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    operation: Option<String>,
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::Unprocessable,
            format!("invalid config request: {e}"),
        )
    })
}

/// A `configs:alter` body as changes: `None` deletes.
fn changes(body: &[u8]) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let batch: AlterBatch = parse(body)?;
    if batch.validate_only {
        return Err(unsupported(
            "validate_only is not supported by librdkafka's IncrementalAlterConfigs",
        ));
    }
    if batch.data.is_empty() {
        return Err(ApiError::new(
            ErrorCode::Unprocessable,
            "data must name at least one config",
        ));
    }
    batch
        .data
        .into_iter()
        .map(|e| {
            let op = e.operation.as_deref().unwrap_or("SET");
            if op.eq_ignore_ascii_case("SET") {
                let value = e.value.ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::Unprocessable,
                        format!("config {}: SET needs a value", e.name),
                    )
                })?;
                Ok((e.name, Some(value)))
            } else if op.eq_ignore_ascii_case("DELETE") {
                Ok((e.name, None))
            } else {
                Err(ApiError::new(
                    ErrorCode::Unprocessable,
                    format!(
                        "config {}: operation must be SET or DELETE, not {op}",
                        e.name
                    ),
                ))
            }
        })
        .collect()
}

fn set_value(body: &[u8], name: &str) -> Result<Vec<(String, Option<String>)>, ApiError> {
    let body: SetValue = parse(body)?;
    let value = body
        .value
        .ok_or_else(|| ApiError::new(ErrorCode::Unprocessable, "value is required"))?;
    Ok(vec![(name.to_string(), Some(value))])
}

// Topic configs.

async fn topic_name(
    state: &AppState,
    cluster: &str,
    topic: &str,
) -> Result<(String, String), ApiError> {
    let cluster = check_cluster(state, cluster).await?;
    let topic = state.metadata.topic(topic).await?;
    Ok((cluster, topic.name.clone()))
}

pub async fn list_topic(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic) = path.into_inner();
    let (cluster, topic) = topic_name(&state, &cluster, &topic).await?;
    let configs = state.admin.topic_configs(&topic).await?;
    let base = base(&req);
    let owner = Owner::Topic(&topic);
    let data = configs
        .iter()
        .map(|c| config_resource(&base, &cluster, &owner, c))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaTopicConfigList",
            format!("{base}/clusters/{cluster}/topics/{topic}/configs"),
            data,
        ),
    ))
}

pub async fn get_topic(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic, name) = path.into_inner();
    let (cluster, topic) = topic_name(&state, &cluster, &topic).await?;
    let config = one(state.admin.topic_configs(&topic).await?, &name)?;
    Ok(answer(
        StatusCode::OK,
        config_resource(&base(&req), &cluster, &Owner::Topic(&topic), &config),
    ))
}

async fn alter_topic_with(
    state: &AppState,
    cluster: &str,
    topic: &str,
    changes: Vec<(String, Option<String>)>,
) -> Result<HttpResponse, ApiError> {
    let (_, topic) = topic_name(state, cluster, topic).await?;
    state
        .admin
        .alter_configs(OwnedTarget::Topic(topic), changes)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn set_topic(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic, name) = path.into_inner();
    let changes = set_value(&body, &name)?;
    alter_topic_with(&state, &cluster, &topic, changes).await
}

pub async fn reset_topic(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic, name) = path.into_inner();
    alter_topic_with(&state, &cluster, &topic, vec![(name, None)]).await
}

pub async fn alter_topic(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (cluster, topic) = path.into_inner();
    let changes = changes(&body)?;
    alter_topic_with(&state, &cluster, &topic, changes).await
}

// Broker configs.

async fn broker_id(state: &AppState, cluster: &str, raw: &str) -> Result<(String, i32), ApiError> {
    let cluster = check_cluster(state, cluster).await?;
    let missing = || {
        ApiError::new(
            ErrorCode::NotFound,
            format!("Broker {raw} cannot be found."),
        )
    };
    let id = parse_id(raw, missing)?;
    let info = state.metadata.refresh().await?;
    if !info.brokers.contains(&id) {
        return Err(missing());
    }
    Ok((cluster, id))
}

pub async fn list_broker(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, broker) = path.into_inner();
    let (cluster, id) = broker_id(&state, &cluster, &broker).await?;
    let configs = state.admin.broker_configs(id).await?;
    let base = base(&req);
    let data = configs
        .iter()
        .map(|c| config_resource(&base, &cluster, &Owner::Broker(id), c))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaBrokerConfigList",
            format!("{base}/clusters/{cluster}/brokers/{id}/configs"),
            data,
        ),
    ))
}

pub async fn get_broker(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, broker, name) = path.into_inner();
    let (cluster, id) = broker_id(&state, &cluster, &broker).await?;
    let config = one(state.admin.broker_configs(id).await?, &name)?;
    Ok(answer(
        StatusCode::OK,
        config_resource(&base(&req), &cluster, &Owner::Broker(id), &config),
    ))
}

async fn alter_broker_with(
    state: &AppState,
    cluster: &str,
    broker: &str,
    changes: Vec<(String, Option<String>)>,
) -> Result<HttpResponse, ApiError> {
    let (_, id) = broker_id(state, cluster, broker).await?;
    state
        .admin
        .alter_configs(OwnedTarget::Broker(id), changes)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn set_broker(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (cluster, broker, name) = path.into_inner();
    let changes = set_value(&body, &name)?;
    alter_broker_with(&state, &cluster, &broker, changes).await
}

pub async fn reset_broker(
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, broker, name) = path.into_inner();
    alter_broker_with(&state, &cluster, &broker, vec![(name, None)]).await
}

pub async fn alter_broker(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (cluster, broker) = path.into_inner();
    let changes = changes(&body)?;
    alter_broker_with(&state, &cluster, &broker, changes).await
}

// Cluster-wide broker defaults.

/// The dynamic cluster-wide defaults, as the first broker describes them.
async fn cluster_defaults(state: &AppState) -> Result<Vec<ConfigInfo>, ApiError> {
    let info = state.metadata.refresh().await?;
    let Some(first) = info.brokers.first() else {
        return Ok(Vec::new());
    };
    Ok(state
        .admin
        .broker_configs(*first)
        .await?
        .into_iter()
        .filter(|c| c.source == "DYNAMIC_DEFAULT_BROKER_CONFIG")
        .collect())
}

pub async fn list_cluster(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cluster = check_cluster(&state, &path).await?;
    let configs = cluster_defaults(&state).await?;
    let base = base(&req);
    let data = configs
        .iter()
        .map(|c| config_resource(&base, &cluster, &Owner::Cluster, c))
        .collect();
    Ok(answer(
        StatusCode::OK,
        list(
            "KafkaClusterConfigList",
            format!("{base}/clusters/{cluster}/broker-configs"),
            data,
        ),
    ))
}

pub async fn get_cluster(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (cluster, name) = path.into_inner();
    let cluster = check_cluster(&state, &cluster).await?;
    let config = one(cluster_defaults(&state).await?, &name)?;
    Ok(answer(
        StatusCode::OK,
        config_resource(&base(&req), &cluster, &Owner::Cluster, &config),
    ))
}

/// PUT, DELETE and `:alter` of cluster-wide defaults.
pub async fn alter_cluster(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let cluster = req.match_info().get("cluster").unwrap_or_default();
    check_cluster(&state, cluster).await?;
    Err(unsupported(
        "cluster-wide broker config defaults cannot be altered through librdkafka \
         (it cannot address the cluster's default BROKER resource); alter \
         /brokers/{id}/configs instead",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alter_bodies_become_incremental_changes() {
        let body = br#"{"data": [{"name": "a", "value": "1"}, {"name": "b", "operation": "DELETE"},
                       {"name": "c", "value": "x", "operation": "set"}]}"#;
        assert_eq!(
            changes(body).unwrap(),
            vec![
                ("a".into(), Some("1".into())),
                ("b".into(), None),
                ("c".into(), Some("x".into()))
            ]
        );
        for bad in [
            &br#"{"data": []}"#[..],
            br#"{"data": [{"name": "a"}]}"#,
            br#"{"data": [{"name": "a", "value": "1", "operation": "APPEND"}]}"#,
            br#"{"nodata": 1}"#,
        ] {
            assert_eq!(changes(bad).unwrap_err().code, ErrorCode::Unprocessable);
        }
        assert_eq!(
            changes(br#"{"data": [{"name": "a", "value": "1"}], "validate_only": true}"#)
                .unwrap_err()
                .code,
            ErrorCode::UnsupportedByBroker
        );
        assert_eq!(
            set_value(br#"{"value": "5"}"#, "n").unwrap(),
            vec![("n".into(), Some("5".into()))]
        );
        assert!(set_value(b"{}", "n").is_err());
    }
}
