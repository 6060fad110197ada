//! v3 ACLs: search (DescribeAcls), create (CreateAcls) and delete
//! (DeleteAcls), through librdkafka, on brokers that implement them; on
//! others 501 at once.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{answer, base, check_cluster, list};
use crate::error::{ApiError, ErrorCode};
use crate::http::AppState;
use crate::kafka::admin_ffi::{validate_acl, Acl};

/// The search and delete filter, from the query string; everything absent
/// matches anything.
#[derive(Deserialize, Default)]
pub struct AclQuery {
    resource_type: Option<String>,
    resource_name: Option<String>,
    pattern_type: Option<String>,
    principal: Option<String>,
    host: Option<String>,
    operation: Option<String>,
    permission: Option<String>,
}

impl AclQuery {
    fn filter(self) -> Result<Acl, ApiError> {
        let any = |v: Option<String>| v.unwrap_or_else(|| "ANY".into());
        let acl = Acl {
            resource_type: any(self.resource_type),
            resource_name: self.resource_name,
            pattern_type: any(self.pattern_type),
            principal: self.principal,
            host: self.host,
            operation: any(self.operation),
            permission: any(self.permission),
        };
        validate_acl(&acl)?;
        Ok(acl)
    }
}

/// A new ACL, as Confluent's create body names it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAcl {
    resource_type: String,
    resource_name: String,
    pattern_type: String,
    principal: String,
    host: String,
    operation: String,
    permission: String,
}

fn acl_resource(base: &str, cluster: &str, a: &Acl) -> Value {
    let own = format!("{base}/clusters/{cluster}/acls");
    let mut query = url_query(&[
        ("resource_type", Some(a.resource_type.as_str())),
        ("resource_name", a.resource_name.as_deref()),
        ("pattern_type", Some(a.pattern_type.as_str())),
        ("principal", a.principal.as_deref()),
        ("host", a.host.as_deref()),
        ("operation", Some(a.operation.as_str())),
        ("permission", Some(a.permission.as_str())),
    ]);
    if !query.is_empty() {
        query.insert(0, '?');
    }
    json!({
        "kind": "KafkaAcl",
        "metadata": {"self": format!("{own}{query}")},
        "cluster_id": cluster,
        "resource_type": a.resource_type,
        "resource_name": a.resource_name,
        "pattern_type": a.pattern_type,
        "principal": a.principal,
        "host": a.host,
        "operation": a.operation,
        "permission": a.permission,
    })
}

/// `a=b&c=d`, percent-encoding everything but unreserved characters.
fn url_query(pairs: &[(&str, Option<&str>)]) -> String {
    let encode = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(v))))
        .collect::<Vec<_>>()
        .join("&")
}

fn acl_list(base: &str, cluster: &str, mut acls: Vec<Acl>) -> Value {
    acls.sort_by(|a, b| {
        (
            &a.resource_type,
            &a.resource_name,
            &a.principal,
            &a.operation,
        )
            .cmp(&(
                &b.resource_type,
                &b.resource_name,
                &b.principal,
                &b.operation,
            ))
    });
    let data = acls
        .iter()
        .map(|a| acl_resource(base, cluster, a))
        .collect();
    list(
        "KafkaAclList",
        format!("{base}/clusters/{cluster}/acls"),
        data,
    )
}

fn query(req: &HttpRequest) -> Result<AclQuery, ApiError> {
    web::Query::<AclQuery>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("invalid ACL filter: {e}")))
}

pub async fn list_acls(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cluster = check_cluster(&state, &path).await?;
    let filter = query(&req)?.filter()?;
    let acls = state.admin.describe_acls(filter).await?;
    Ok(answer(
        StatusCode::OK,
        acl_list(&base(&req), &cluster, acls),
    ))
}

pub async fn create_acls(
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    check_cluster(&state, &path).await?;
    let new: NewAcl = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::Unprocessable,
            format!("invalid ACL request: {e}"),
        )
    })?;
    let acl = Acl {
        resource_type: new.resource_type,
        resource_name: Some(new.resource_name),
        pattern_type: new.pattern_type,
        principal: Some(new.principal),
        host: Some(new.host),
        operation: new.operation,
        permission: new.permission,
    };
    validate_acl(&acl)?;
    state.admin.create_acls(vec![acl]).await?;
    Ok(HttpResponse::Created().finish())
}

pub async fn delete_acls(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cluster = check_cluster(&state, &path).await?;
    let filter = query(&req)?.filter()?;
    let deleted = state.admin.delete_acls(filter).await?;
    Ok(answer(
        StatusCode::OK,
        acl_list(&base(&req), &cluster, deleted),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_default_to_any_and_are_checked() {
        let f = AclQuery::default().filter().unwrap();
        assert_eq!(
            (
                f.resource_type.as_str(),
                f.pattern_type.as_str(),
                f.operation.as_str()
            ),
            ("ANY", "ANY", "ANY")
        );
        assert_eq!(f.resource_name, None);
        let bad = AclQuery {
            operation: Some("EAT".into()),
            ..AclQuery::default()
        };
        assert_eq!(bad.filter().unwrap_err().code, ErrorCode::BadRequest);
    }

    #[test]
    fn self_links_are_the_acl_as_a_query() {
        let a = Acl {
            resource_type: "TOPIC".into(),
            resource_name: Some("a b".into()),
            pattern_type: "LITERAL".into(),
            principal: Some("User:alice".into()),
            host: Some("*".into()),
            operation: "READ".into(),
            permission: "ALLOW".into(),
        };
        let v = acl_resource("http://h/v3", "c", &a);
        assert_eq!(
            v["metadata"]["self"],
            "http://h/v3/clusters/c/acls?resource_type=TOPIC&resource_name=a%20b&pattern_type=LITERAL&principal=User%3Aalice&host=%2A&operation=READ&permission=ALLOW"
        );
    }
}
