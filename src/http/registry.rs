//! The Confluent Schema Registry API, served on the gateway's own port from
//! the embedded registry (`crate::schemas`): Avro, JSON Schema, Protobuf.
//!
//! Confluent's API reference is the spec: its error codes (40401 to 40409,
//! 42201 to 42206, 409), its query flags (`deleted`, `deletedOnly`,
//! `subjectPrefix`, `defaultToGlobal`, `verbose`, `normalize`, `permanent`,
//! `force`) and its modes. Trailing slashes are trimmed before routing
//! (`crate::http::app`), and content types are negotiated in
//! `crate::http::negotiate`.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{Access, ResourceKind};
use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::schemas::{
    compatibility, subject_not_found, version_not_found, Compatibility, Deleted, Given, Mode,
    Reference, Registry, SchemaType, StoredSchema, SubjectVersion, Submitted, VersionSpec,
};

pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .route("/subjects", web::get().to(subjects))
        .route("/subjects/{subject}", web::post().to(lookup))
        .route("/subjects/{subject}", web::delete().to(delete_subject))
        .route("/subjects/{subject}/versions", web::get().to(versions))
        .route("/subjects/{subject}/versions", web::post().to(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            web::get().to(version),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            web::delete().to(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            web::get().to(version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            web::get().to(referenced_by),
        )
        .route("/schemas", web::get().to(schemas))
        .route("/schemas/types", web::get().to(types))
        .route("/schemas/ids/{id}", web::get().to(schema_by_id))
        .route("/schemas/ids/{id}/schema", web::get().to(raw_schema_by_id))
        .route("/schemas/ids/{id}/versions", web::get().to(versions_of_id))
        .route("/schemas/ids/{id}/subjects", web::get().to(subjects_of_id))
        .route("/config", web::get().to(get_global_config))
        .route("/config", web::put().to(put_global_config))
        .route("/config", web::delete().to(delete_global_config))
        .route("/config/{subject}", web::get().to(get_subject_config))
        .route("/config/{subject}", web::put().to(put_subject_config))
        .route("/config/{subject}", web::delete().to(delete_subject_config))
        .route("/mode", web::get().to(get_global_mode))
        .route("/mode", web::put().to(put_global_mode))
        .route("/mode", web::delete().to(delete_global_mode))
        .route("/mode/{subject}", web::get().to(get_subject_mode))
        .route("/mode/{subject}", web::put().to(put_subject_mode))
        .route("/mode/{subject}", web::delete().to(delete_subject_mode))
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

/// Confluent's registry and proxy both answer `GET /` with `{}`.
async fn root() -> HttpResponse {
    ok(json!({}))
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

/// The query flags and parameters of a registry request.
struct Query(HashMap<String, String>);

impl Query {
    fn of(req: &HttpRequest) -> Query {
        Query(
            web::Query::<Vec<(String, String)>>::from_query(req.query_string())
                .map(web::Query::into_inner)
                .unwrap_or_default()
                .into_iter()
                .collect(),
        )
    }

    /// A boolean flag, parsed as Java's `Boolean.valueOf`: `true` in any
    /// case is true, anything else false.
    fn flag(&self, name: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `deleted` and `deletedOnly`.
    fn deleted(&self) -> Deleted {
        if self.flag("deletedOnly") {
            Deleted::Only
        } else if self.flag("deleted") {
            Deleted::Include
        } else {
            Deleted::Exclude
        }
    }

    /// `subjectPrefix`; Confluent's `:*:` (every context) is no prefix.
    fn subject_prefix(&self) -> &str {
        match self.get("subjectPrefix") {
            Some(":*:") | None => "",
            Some(prefix) => prefix,
        }
    }

    fn number(&self, name: &str) -> Result<Option<usize>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<usize>().map_err(|_| {
                    ApiError::new(
                        ErrorCode::BadRequest,
                        format!("query parameter {name} must be a non-negative integer"),
                    )
                })
            })
            .transpose()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaBody {
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
    /// IMPORT mode: the id and version to keep.
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    version: Option<i64>,
}

impl SchemaBody {
    fn given(&self) -> Result<Given, ApiError> {
        let positive = |n: Option<i64>, what: &str| -> Result<Option<u32>, ApiError> {
            match n {
                // Confluent's clients send -1 or 0 for "none".
                None | Some(-1) | Some(0) => Ok(None),
                Some(n) if n > 0 && n <= i64::from(i32::MAX) => Ok(Some(n as u32)),
                Some(n) => Err(ApiError::new(
                    if what == "version" {
                        ErrorCode::InvalidVersion
                    } else {
                        ErrorCode::InvalidSchema
                    },
                    format!("{n} is not a valid {what}"),
                )),
            }
        };
        Ok(Given {
            id: positive(self.id, "id")?,
            version: positive(self.version, "version")?,
        })
    }

    fn parsed(self) -> Result<Submitted, ApiError> {
        let text = self
            .schema
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ApiError::new(ErrorCode::InvalidSchema, "Empty schema"))?;
        Ok(Submitted {
            schema_type: SchemaType::parse(self.schema_type.as_deref())?,
            text,
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
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("malformed request body: {e}"),
        )
    })
}

/// The subject's versions `filter` admits; 40401 if there are none.
fn listed(
    registry: &Registry,
    subject: &str,
    filter: Deleted,
) -> Result<Vec<SubjectVersion>, ApiError> {
    let versions = registry.state().versions(subject, filter);
    if versions.is_empty() {
        return Err(subject_not_found(subject));
    }
    Ok(versions)
}

/// A subject's version as a path names it; 42202, 40401 or 40402.
fn find_version(
    registry: &Registry,
    subject: &str,
    raw: &str,
    filter: Deleted,
) -> Result<SubjectVersion, ApiError> {
    let spec = VersionSpec::parse(raw)?;
    let versions = listed(registry, subject, filter)?;
    let found = match spec {
        VersionSpec::Latest => versions.last().copied(),
        VersionSpec::Number(n) => versions.iter().find(|v| v.version == n).copied(),
    };
    found.ok_or_else(|| version_not_found(spec))
}

fn described(
    registry: &Registry,
    subject: &str,
    v: SubjectVersion,
) -> Result<serde_json::Value, ApiError> {
    let schema = registry.schema(v.id)?;
    let mut out =
        json!({"subject": subject, "version": v.version, "id": v.id, "schema": schema.text});
    if v.deleted {
        out["deleted"] = json!(true);
    }
    Ok(with_type(out, &schema))
}

async fn subjects(
    state: web::Data<AppState>,
    req: HttpRequest,
    access: Access,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let query = Query::of(&req);
    let (filter, prefix) = (query.deleted(), query.subject_prefix());
    let state = registry.state();
    // deletedOnly: the subjects soft-deleted whole.
    let listed = |v: &Vec<SubjectVersion>| match filter {
        Deleted::Only => !v.is_empty() && v.iter().all(|v| v.deleted),
        _ => v.iter().any(|v| filter.admits(v)),
    };
    let names: Vec<&String> = state
        .subjects
        .iter()
        .filter(|(name, v)| name.starts_with(prefix) && listed(v))
        .filter(|(name, _)| access.may_describe(ResourceKind::Subject, name))
        .map(|(name, _)| name)
        .collect();
    Ok(ok(names))
}

async fn versions(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let filter = Query::of(&req).deleted();
    let versions: Vec<u32> = match listed(registry, &path, filter) {
        Ok(versions) => versions.iter().map(|v| v.version).collect(),
        // A subject whose versions are all live has no deleted ones.
        Err(_) if filter == Deleted::Only && !registry.state().live_versions(&path).is_empty() => {
            Vec::new()
        }
        Err(e) => return Err(e),
    };
    Ok(ok(versions))
}

async fn register(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let body = parse_body(&body)?;
    let given = body.given()?;
    let schema = body.parsed()?;
    let registered = registry.register_as(&path, &schema, given).await?;
    Ok(ok(json!({"id": registered.id})))
}

/// Whether `subject` already holds `schema`; `normalize` changes nothing
/// here, since schemas are always matched by their canonical form.
async fn lookup(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let filter = match Query::of(&req).deleted() {
        Deleted::Exclude => Deleted::Exclude,
        _ => Deleted::Include,
    };
    let schema = parse_body(&body)?.parsed()?;
    let versions = listed(registry, &path, filter)?;
    let (canonical, _) = registry.state().canonical(&schema)?;
    let found = versions
        .into_iter()
        .rev()
        .find(|v| {
            registry
                .schema(v.id)
                .is_ok_and(|s| s.canonical == canonical)
        })
        .ok_or_else(|| ApiError::new(ErrorCode::SchemaNotFound, "Schema not found"))?;
    Ok(ok(described(registry, &path, found)?))
}

/// `deleted=true` lets a lookup see soft-deleted versions.
fn lookup_filter(req: &HttpRequest) -> Deleted {
    if Query::of(req).flag("deleted") {
        Deleted::Include
    } else {
        Deleted::Exclude
    }
}

async fn version(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let v = find_version(registry, &subject, &raw, lookup_filter(&req))?;
    Ok(ok(described(registry, &subject, v)?))
}

async fn version_schema(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let v = find_version(registry, &subject, &raw, lookup_filter(&req))?;
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

/// The subject versions that use schema `id`, as `(subject, version)`.
async fn uses_of_id(
    registry: &Registry,
    raw: &str,
    filter: Deleted,
) -> Result<Vec<(String, u32)>, ApiError> {
    let id = parse_id(raw)?;
    registry.schema_fresh(id).await?;
    let state = registry.state();
    Ok(state
        .subjects
        .iter()
        .flat_map(|(subject, versions)| {
            versions
                .iter()
                .filter(|v| v.id == id && filter.admits(v))
                .map(move |v| (subject.clone(), v.version))
        })
        .collect())
}

async fn versions_of_id(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let uses = uses_of_id(registry(&state)?, &path, Query::of(&req).deleted()).await?;
    let out: Vec<serde_json::Value> = uses
        .into_iter()
        .map(|(subject, version)| json!({"subject": subject, "version": version}))
        .collect();
    Ok(ok(out))
}

async fn subjects_of_id(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let uses = uses_of_id(registry(&state)?, &path, Query::of(&req).deleted()).await?;
    let mut subjects: Vec<String> = uses.into_iter().map(|(subject, _)| subject).collect();
    subjects.dedup();
    Ok(ok(subjects))
}

/// `GET /schemas`: every subject version (`subjectPrefix`, `deleted`,
/// `latestOnly`, `offset`, `limit`), in subject and version order.
async fn schemas(
    state: web::Data<AppState>,
    req: HttpRequest,
    access: Access,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let query = Query::of(&req);
    let filter = query.deleted();
    let prefix = query.subject_prefix();
    let latest_only = query.flag("latestOnly");
    let offset = query.number("offset")?.unwrap_or(0);
    let limit = query.number("limit")?.filter(|&n| n > 0);
    let state = registry.state();
    let mut out = Vec::new();
    for (subject, versions) in &state.subjects {
        if !subject.starts_with(prefix) || !access.may_describe(ResourceKind::Subject, subject) {
            continue;
        }
        let admitted: Vec<&SubjectVersion> = versions.iter().filter(|v| filter.admits(v)).collect();
        let chosen = if latest_only {
            &admitted[admitted.len().saturating_sub(1)..]
        } else {
            &admitted[..]
        };
        for v in chosen {
            let Some(schema) = state.schemas.get(&v.id) else {
                continue;
            };
            let entry = json!({"subject": subject, "version": v.version, "id": v.id, "schema": schema.text});
            out.push(with_type(entry, schema));
        }
    }
    let out: Vec<serde_json::Value> = out
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    Ok(ok(out))
}

async fn types() -> HttpResponse {
    ok(["AVRO", "JSON", "PROTOBUF"])
}

fn global_level(registry: &Registry) -> Compatibility {
    registry.state().global.unwrap_or(Compatibility::Backward)
}

async fn get_global_config(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(ok(
        json!({"compatibilityLevel": global_level(registry(&state)?)}),
    ))
}

/// Resets the global level to the default (BACKWARD); answers the old one.
async fn delete_global_config(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let old = global_level(registry);
    registry.clear_global_compatibility().await?;
    Ok(ok(json!({"compatibilityLevel": old})))
}

async fn get_subject_config(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let level = match subject_level(registry, &path) {
        Err(_) if Query::of(&req).flag("defaultToGlobal") => global_level(registry),
        other => other?,
    };
    Ok(ok(json!({"compatibilityLevel": level})))
}

/// The subject's own level, if it has one (40408 if not).
fn subject_level(registry: &Registry, subject: &str) -> Result<Compatibility, ApiError> {
    let level = registry.state().subject_config.get(subject).copied();
    level.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NoSubjectCompatibility,
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
    // Confluent answers 40401 here, not 40408.
    let level = subject_level(registry, &path).map_err(|_| subject_not_found(&path))?;
    registry.clear_compatibility(&path).await?;
    Ok(ok(json!({"compatibilityLevel": level})))
}

/// A config body: `{"compatibility": "<level>"}`, the level in any case;
/// Confluent's other config fields are not kept by this registry.
fn level_of(body: &[u8]) -> Result<Compatibility, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidCompatibilityLevel,
            "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive",
        )
    };
    let body: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("malformed request body: {e}"),
        )
    })?;
    body.get("compatibility")
        .and_then(|v| v.as_str())
        .and_then(Compatibility::parse)
        .ok_or_else(invalid)
}

async fn set_config(
    state: &AppState,
    subject: Option<&str>,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let registry = registry(state)?;
    let level = level_of(body)?;
    registry.set_compatibility(subject, level).await?;
    Ok(ok(json!({"compatibility": level})))
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

fn global_mode(registry: &Registry) -> Mode {
    registry.state().mode(None)
}

fn subject_mode(registry: &Registry, subject: &str) -> Result<Mode, ApiError> {
    let mode = registry.state().subject_mode.get(subject).copied();
    mode.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NoSubjectMode,
            format!("Subject '{subject}' does not have subject-level mode configured"),
        )
    })
}

/// A mode body: `{"mode": "READWRITE" | "READONLY" | "READONLY_OVERRIDE" |
/// "IMPORT"}` (42204 otherwise).
fn mode_of(body: &[u8]) -> Result<Mode, ApiError> {
    let body: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("malformed request body: {e}"),
        )
    })?;
    body.get("mode")
        .and_then(|v| v.as_str())
        .and_then(Mode::parse)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidMode,
                "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE and IMPORT",
            )
        })
}

async fn get_global_mode(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(ok(json!({"mode": global_mode(registry(&state)?)})))
}

async fn put_global_mode(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let mode = mode_of(&body)?;
    registry
        .set_mode(None, Some(mode), Query::of(&req).flag("force"))
        .await?;
    Ok(ok(json!({"mode": mode})))
}

/// Resets the global mode to READWRITE; answers the old one.
async fn delete_global_mode(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let old = global_mode(registry);
    registry.set_mode(None, None, false).await?;
    Ok(ok(json!({"mode": old})))
}

async fn get_subject_mode(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let mode = match subject_mode(registry, &path) {
        Err(_) if Query::of(&req).flag("defaultToGlobal") => global_mode(registry),
        other => other?,
    };
    Ok(ok(json!({"mode": mode})))
}

async fn put_subject_mode(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let mode = mode_of(&body)?;
    registry
        .set_mode(Some(&path), Some(mode), Query::of(&req).flag("force"))
        .await?;
    Ok(ok(json!({"mode": mode})))
}

async fn delete_subject_mode(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let old = subject_mode(registry, &path).map_err(|_| subject_not_found(&path))?;
    registry.set_mode(Some(&path), None, false).await?;
    Ok(ok(json!({"mode": old})))
}

async fn compatibility(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let only = match VersionSpec::parse(&raw)? {
        // Against nothing is compatible, as Confluent answers for a
        // subject with no versions yet.
        VersionSpec::Latest if registry.state().live_versions(&subject).is_empty() => None,
        _ => Some(find_version(registry, &subject, &raw, Deleted::Exclude)?),
    };
    check_compatibility(registry, &req, &subject, &body, only, false)
}

/// Checks against every live version, whatever the level's transitivity.
async fn compatibility_all(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    check_compatibility(registry, &req, &path, &body, None, true)
}

fn check_compatibility(
    registry: &Registry,
    req: &HttpRequest,
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
    if Query::of(req).flag("verbose") {
        out["messages"] = match result {
            Ok(()) => json!([]),
            Err(message) => json!([message]),
        };
    }
    Ok(ok(out))
}

async fn referenced_by(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let v = find_version(registry, &subject, &raw, Deleted::Include)?;
    Ok(ok(registry
        .state()
        .referenced_by(&subject, v.version, false)))
}

async fn delete_subject(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let deleted = registry(&state)?
        .delete(&path, None, Query::of(&req).flag("permanent"))
        .await?;
    Ok(ok(deleted))
}

async fn delete_version(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let registry = registry(&state)?;
    let (subject, raw) = path.into_inner();
    let spec = VersionSpec::parse(&raw)?;
    let deleted = registry
        .delete(&subject, Some(spec), Query::of(&req).flag("permanent"))
        .await?;
    Ok(ok(deleted[0]))
}
