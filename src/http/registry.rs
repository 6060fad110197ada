//! The Confluent Schema Registry API, served on the gateway's own port from
//! the embedded registry (`crate::schemas`): Avro, JSON Schema, Protobuf.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Access, ResourceKind};
use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::schemas::{
    compatibility, Compatibility, Reference, Registry, SchemaType, StoredSchema, SubjectVersion,
    Submitted,
};

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/subjects", web::get().to(subjects))
        .route("/subjects/{subject}", web::post().to(lookup))
        .route("/subjects/{subject}", web::delete().to(delete_subject))
        .route(
            "/subjects/{subject}/versions/{version}",
            web::delete().to(delete_version),
        )
        .route("/subjects/{subject}/versions", web::get().to(versions))
        .route("/subjects/{subject}/versions", web::post().to(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            web::get().to(version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            web::get().to(version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            web::get().to(referenced_by),
        )
        .route("/schemas/ids/{id}", web::get().to(schema_by_id))
        .route("/schemas/ids/{id}/schema", web::get().to(raw_schema_by_id))
        .route("/schemas/ids/{id}/versions", web::get().to(versions_of_id))
        .route("/schemas/types", web::get().to(types))
        .route("/config", web::get().to(get_global_config))
        .route("/config", web::put().to(put_global_config))
        .route("/config/{subject}", web::get().to(get_subject_config))
        .route("/config/{subject}", web::put().to(put_subject_config))
        .route("/config/{subject}", web::delete().to(delete_subject_config))
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            web::post().to(compatibility),
        )
        .route(
            "/compatibility/subjects/{subject}/versions",
            web::post().to(compatibility_all),
        );
}

fn ok(body: impl Serialize) -> HttpResponse {
    HttpResponse::Ok().content_type(CONTENT_TYPE).json(body)
}

fn registry(state: &AppState) -> Result<&Registry, ApiError> {
    if state.remote_schemas.is_some() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!(
                "this gateway uses the external schema registry at {}; ask it directly",
                state.config.schema_registry.url
            ),
        ));
    }
    state.schemas.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::SchemaRegistryUnavailable,
            "the embedded schema registry is not running (see the gateway's log)",
        )
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaBody {
    schema: String,
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

impl SchemaBody {
    fn parsed(self) -> Result<Submitted, ApiError> {
        Ok(Submitted {
            schema_type: SchemaType::parse(self.schema_type.as_deref())?,
            text: self.schema,
            references: self.references,
        })
    }
}

/// Adds `schemaType`, which Confluent leaves out for Avro, and
/// `references`, which it leaves out when there are none.
fn with_type(mut out: serde_json::Value, schema: &StoredSchema) -> serde_json::Value {
    if schema.schema_type != SchemaType::Avro {
        out["schemaType"] = json!(schema.schema_type.name());
    }
    if !schema.references.is_empty() {
        out["references"] = json!(schema.references);
    }
    out
}

fn parse_body(body: &[u8]) -> Result<SchemaBody, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("malformed request: {e}")))
}

fn live(registry: &Registry, subject: &str) -> Result<Vec<SubjectVersion>, ApiError> {
    let versions = registry.state().live_versions(subject);
    if versions.is_empty() {
        return Err(ApiError::new(
            ErrorCode::SubjectNotFound,
            format!("Subject '{subject}' not found."),
        ));
    }
    Ok(versions)
}

fn find_version(registry: &Registry, subject: &str, raw: &str) -> Result<SubjectVersion, ApiError> {
    let versions = live(registry, subject)?;
    let found = match raw {
        "latest" | "-1" => versions.last().copied(),
        n => n
            .parse::<u32>()
            .ok()
            .and_then(|n| versions.iter().find(|v| v.version == n).copied()),
    };
    found.ok_or_else(|| {
        ApiError::new(
            ErrorCode::VersionNotFound,
            format!("Version {raw} not found."),
        )
    })
}

fn described(
    registry: &Registry,
    subject: &str,
    v: SubjectVersion,
) -> Result<serde_json::Value, ApiError> {
    let schema = registry.schema(v.id)?;
    let out = json!({"subject": subject, "version": v.version, "id": v.id, "schema": schema.text});
    Ok(with_type(out, &schema))
}

async fn subjects(state: web::Data<AppState>, access: Access) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let state = registry.state();
    let names: Vec<&String> = state
        .subjects
        .iter()
        .filter(|(_, v)| v.iter().any(|v| !v.deleted))
        .filter(|(name, _)| access.may_describe(ResourceKind::Subject, name))
        .map(|(name, _)| name)
        .collect();
    Ok(ok(names))
}

async fn versions(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let versions: Vec<u32> = live(registry, &path)?.iter().map(|v| v.version).collect();
    Ok(ok(versions))
}

async fn register(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let schema = parse_body(&body)?.parsed()?;
    let registered = registry.register(&path, &schema).await?;
    Ok(ok(json!({"id": registered.id})))
}

async fn lookup(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let schema = parse_body(&body)?.parsed()?;
    let (canonical, _) = registry.state().canonical(&schema)?;
    let versions = live(registry, &path)?;
    let found = versions
        .into_iter()
        .find(|v| {
            registry
                .schema(v.id)
                .is_ok_and(|s| s.canonical == canonical)
        })
        .ok_or_else(|| ApiError::new(ErrorCode::SchemaNotFound, "Schema not found"))?;
    Ok(ok(described(registry, &path, found)?))
}

async fn version(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let v = find_version(registry, &subject, &raw)?;
    Ok(ok(described(registry, &subject, v)?))
}

async fn version_schema(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let v = find_version(registry, &subject, &raw)?;
    let schema = registry.schema(v.id)?;
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(schema.text.clone()))
}

fn parse_id(raw: &str) -> Result<u32, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(ErrorCode::SchemaNotFound, format!("Schema {raw} not found")))
}

async fn schema_by_id(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let schema = registry(&state)?.schema_fresh(parse_id(&path)?).await?;
    Ok(ok(with_type(json!({"schema": schema.text}), &schema)))
}

async fn raw_schema_by_id(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let schema = registry(&state)?.schema_fresh(parse_id(&path)?).await?;
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(schema.text.clone()))
}

async fn versions_of_id(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let id = parse_id(&path)?;
    registry.schema(id)?;
    let state = registry.state();
    let uses: Vec<serde_json::Value> = state
        .subjects
        .iter()
        .flat_map(|(subject, versions)| {
            versions
                .iter()
                .filter(|v| v.id == id && !v.deleted)
                .map(move |v| json!({"subject": subject, "version": v.version}))
        })
        .collect();
    Ok(ok(uses))
}

async fn types() -> HttpResponse {
    ok(["AVRO", "JSON", "PROTOBUF"])
}

async fn get_global_config(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let level = registry(&state)?
        .state()
        .global
        .unwrap_or(Compatibility::Backward);
    Ok(ok(json!({"compatibilityLevel": level})))
}

async fn get_subject_config(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let level = subject_level(registry(&state)?, &path)?;
    Ok(ok(json!({"compatibilityLevel": level})))
}

/// The subject's own level, if it has one.
fn subject_level(registry: &Registry, subject: &str) -> Result<Compatibility, ApiError> {
    let level = registry.state().subject_config.get(subject).copied();
    level.ok_or_else(|| {
        ApiError::new(
            ErrorCode::SubjectNotFound,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )
    })
}

/// Removes a subject's own level; the global one applies again.
async fn delete_subject_config(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let level = subject_level(registry, &path)?;
    registry.clear_compatibility(&path).await?;
    Ok(ok(json!({"compatibilityLevel": level})))
}

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: Compatibility,
}

async fn set_config(
    state: &AppState,
    subject: Option<&str>,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let registry = registry(state)?;
    let body: ConfigBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::Unprocessable,
            format!("invalid compatibility level: {e}"),
        )
    })?;
    registry
        .set_compatibility(subject, body.compatibility)
        .await?;
    Ok(ok(json!({"compatibility": body.compatibility})))
}

async fn put_global_config(
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    set_config(&state, None, &body).await
}

async fn put_subject_config(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    set_config(&state, Some(&path), &body).await
}

async fn compatibility(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let only = match raw.as_str() {
        "latest" => None,
        _ => Some(find_version(registry, &subject, &raw)?),
    };
    check_compatibility(registry, &req, &subject, &body, only, false)
}

/// Checks against every live version, whatever the level's transitivity.
async fn compatibility_all(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    check_compatibility(registry, &req, &path, &body, None, true)
}

fn check_compatibility(
    registry: &Registry,
    req: &actix_web::HttpRequest,
    subject: &str,
    body: &[u8],
    only: Option<SubjectVersion>,
    all: bool,
) -> Result<HttpResponse, ApiError> {
    let schema = parse_body(body)?.parsed()?;
    let state = registry.state();
    state.canonical(&schema)?;
    let mut level = state.compatibility(subject);
    if all {
        level = match level {
            Compatibility::Backward => Compatibility::BackwardTransitive,
            Compatibility::Forward => Compatibility::ForwardTransitive,
            Compatibility::Full => Compatibility::FullTransitive,
            other => other,
        };
    }
    let result = compatibility::check(&state, subject, &schema, level, only);
    let mut out = json!({"is_compatible": result.is_ok()});
    if let Err(message) = result {
        if flag(req, "verbose") {
            out["messages"] = json!([message]);
        }
    }
    Ok(ok(out))
}

/// Whether the query sets `name=true`.
fn flag(req: &actix_web::HttpRequest, name: &str) -> bool {
    req.query_string()
        .split('&')
        .any(|pair| pair.split_once('=') == Some((name, "true")))
}

async fn referenced_by(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let v = find_version(registry, &subject, &raw)?;
    Ok(ok(registry
        .state()
        .referenced_by(&subject, v.version, false)))
}

async fn delete_subject(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let deleted = registry(&state)?
        .delete(&path, None, flag(&req, "permanent"))
        .await?;
    Ok(ok(deleted))
}

async fn delete_version(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let number = match raw.as_str() {
        "latest" | "-1" => live(registry, &subject)?.last().map(|v| v.version),
        n => n.parse().ok(),
    }
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::VersionNotFound,
            format!("Version {raw} not found."),
        )
    })?;
    let deleted = registry
        .delete(&subject, Some(number), flag(&req, "permanent"))
        .await?;
    Ok(ok(deleted[0]))
}
