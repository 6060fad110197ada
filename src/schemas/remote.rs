//! An external Confluent-compatible Schema Registry (Confluent, Karapace,
//! Apicurio, Redpanda), used instead of the embedded one when
//! `schema_registry.url` is set. Ids and codecs are cached: a schema is
//! fetched and compiled once per id, and a registration is asked once per
//! subject and schema text.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gateway_codecs::{Codec, Format, Referenced};
use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::json;

use super::{build_codec, check_format, Reference, SchemaType};
use crate::error::{ApiError, ErrorCode};

/// Cached registrations kept at most; past it the cache starts over.
const MAX_CACHED: usize = 10_000;

pub struct RemoteRegistry {
    base: String,
    http: reqwest::Client,
    /// `user:password` for HTTP basic auth, if any.
    user_info: Option<(String, String)>,
    ids: RwLock<HashMap<(String, String), u32>>,
    codecs: RwLock<HashMap<u32, Arc<dyn Codec>>>,
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

#[derive(Deserialize)]
struct Versioned {
    id: u32,
    version: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fetched {
    schema: String,
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

/// How deep references may nest before the registry's answer is taken as
/// a cycle.
const MAX_REFERENCE_DEPTH: usize = 32;

#[derive(Deserialize)]
struct RegistryError {
    error_code: Option<u32>,
    message: Option<String>,
}

impl RemoteRegistry {
    pub fn new(url: &str, user_info: &str, timeout: Duration) -> Result<RemoteRegistry, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
        let user_info = user_info
            .split_once(':')
            .map(|(u, p)| (u.to_string(), p.to_string()));
        Ok(RemoteRegistry {
            base: url.trim_end_matches('/').to_string(),
            http,
            user_info,
            ids: RwLock::new(HashMap::new()),
            codecs: RwLock::new(HashMap::new()),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Accept", "application/vnd.schemaregistry.v1+json");
        match &self.user_info {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// Registers (or finds) `text` under `subject`; returns its id.
    pub async fn register(
        &self,
        subject: &str,
        text: &str,
        schema_type: SchemaType,
    ) -> Result<u32, ApiError> {
        let key = (subject.to_string(), text.to_string());
        if let Some(id) = self.ids.read().get(&key) {
            return Ok(*id);
        }
        let mut body = json!({"schema": text});
        if schema_type != SchemaType::Avro {
            body["schemaType"] = json!(schema_type.name());
        }
        let response = self
            .request(
                reqwest::Method::POST,
                &format!("/subjects/{subject}/versions"),
            )
            .header("Content-Type", "application/vnd.schemaregistry.v1+json")
            .json(&body)
            .send()
            .await
            .map_err(unreachable)?;
        let registered: Registered = answer(response).await?;
        let mut ids = self.ids.write();
        if ids.len() >= MAX_CACHED {
            ids.clear();
        }
        ids.insert(key, registered.id);
        Ok(registered.id)
    }

    /// The codec for schema `id`, fetched and built once.
    pub async fn codec(&self, id: u32, format: Option<Format>) -> Result<Arc<dyn Codec>, ApiError> {
        if let Some(codec) = self.codecs.read().get(&id) {
            return check_format(id, Arc::clone(codec), format);
        }
        let response = self
            .request(reqwest::Method::GET, &format!("/schemas/ids/{id}"))
            .send()
            .await
            .map_err(unreachable)?;
        let fetched: Fetched = answer(response).await?;
        let schema_type = SchemaType::parse(fetched.schema_type.as_deref())?;
        let mut resolved = Vec::new();
        self.resolve(&fetched.references, &mut resolved, 0).await?;
        let codec = build_codec(id, schema_type, &fetched.schema, &resolved)?;
        let mut codecs = self.codecs.write();
        if codecs.len() >= MAX_CACHED {
            codecs.clear();
        }
        codecs.insert(id, Arc::clone(&codec));
        drop(codecs);
        check_format(id, codec, format)
    }
}

impl RemoteRegistry {
    /// The id and version of `subject`'s `version` (the latest for `None`).
    pub async fn version(
        &self,
        subject: &str,
        version: Option<u32>,
    ) -> Result<(u32, u32), ApiError> {
        let which = version.map_or("latest".to_string(), |v| v.to_string());
        let response = self
            .request(
                reqwest::Method::GET,
                &format!("/subjects/{subject}/versions/{which}"),
            )
            .send()
            .await
            .map_err(unreachable)?;
        let found: Versioned = answer(response).await?;
        Ok((found.id, found.version))
    }

    /// Fetches the schemas `references` bring in, transitively,
    /// dependencies first, into `out`.
    fn resolve<'a>(
        &'a self,
        references: &'a [Reference],
        out: &'a mut Vec<Referenced>,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ApiError>> + Send + 'a>>
    {
        Box::pin(async move {
            if depth > MAX_REFERENCE_DEPTH {
                return Err(ApiError::new(
                    ErrorCode::InvalidSchema,
                    format!("references nest deeper than {MAX_REFERENCE_DEPTH} levels"),
                ));
            }
            for reference in references {
                if out.iter().any(|r| r.name == reference.name) {
                    continue;
                }
                let response = self
                    .request(
                        reqwest::Method::GET,
                        &format!(
                            "/subjects/{}/versions/{}",
                            reference.subject, reference.version
                        ),
                    )
                    .send()
                    .await
                    .map_err(unreachable)?;
                let fetched: Fetched = answer(response).await?;
                self.resolve(&fetched.references, out, depth + 1).await?;
                out.push(Referenced {
                    name: reference.name.clone(),
                    schema: fetched.schema,
                });
            }
            Ok(())
        })
    }
}

fn unreachable(e: reqwest::Error) -> ApiError {
    ApiError::new(
        ErrorCode::SchemaRegistryUnavailable,
        format!("the schema registry cannot be reached: {e}"),
    )
}

/// The body of a successful answer, or the registry's error as ours.
async fn answer<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, ApiError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(unreachable)?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                ErrorCode::SchemaRegistryUnavailable,
                format!("unexpected answer from the schema registry: {e}"),
            )
        });
    }
    let error: Option<RegistryError> = serde_json::from_slice(&bytes).ok();
    let message = error
        .as_ref()
        .and_then(|e| e.message.clone())
        .unwrap_or_else(|| format!("the schema registry answered {status}"));
    let code = match error.and_then(|e| e.error_code) {
        Some(40901) | Some(409) => ErrorCode::IncompatibleSchema,
        Some(42201) | Some(422) => ErrorCode::InvalidSchema,
        Some(40403) | Some(40401) | Some(40402) => ErrorCode::SchemaNotFound,
        _ => ErrorCode::SchemaRegistryUnavailable,
    };
    Err(ApiError::new(code, message))
}
