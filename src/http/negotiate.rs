//! Content negotiation before any handler, as Confluent's proxy does it:
//! a `Content-Encoding` the gateway cannot decode answers 415 (instead of
//! the body being read as if it were plain), and an `Accept` that no
//! representation of the route satisfies answers 406. No `Accept`, `*/*`
//! and a missing `Content-Type` stay fine.

use actix_web::http::header::{HeaderMap, ACCEPT, CONTENT_ENCODING, CONTENT_TYPE};
use actix_web::http::Method;

use crate::error::{ApiError, ErrorCode, V2_CONTENT_TYPE};

/// What the Schema Registry API answers in, preferred first.
const SR: &[&str] = &[
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
];

/// What the Schema Registry API takes as a request body, as Confluent's
/// registry does (it reads `application/octet-stream` as JSON too).
const SR_BODIES: &[&str] = &[
    "application/vnd.schemaregistry.v1+json",
    "application/vnd.schemaregistry+json",
    "application/json",
    "application/octet-stream",
];

/// The content types a route can answer in; `None` for routes that
/// negotiate for themselves (consumer records: their format) or do not
/// speak JSON (metrics).
fn offered(path: &str) -> Option<&'static [&'static str]> {
    const V2: &[&str] = &[
        V2_CONTENT_TYPE,
        "application/vnd.kafka+json",
        "application/json",
    ];
    const V3: &[&str] = &["application/json"];
    // `/` is every API's root (`{}` in any of their types).
    if path == "/"
        || path == "/metrics"
        || path.ends_with("/records") && path.starts_with("/consumers/")
    {
        return None;
    }
    Some(match super::Family::of(path) {
        super::Family::V3 => V3,
        super::Family::SchemaRegistry => SR,
        super::Family::V2 => V2,
    })
}

/// Checks a request's encoding, its body's type (Schema Registry writes)
/// and `Accept`; the error is the answer.
pub fn check(method: &Method, path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    for value in headers.get_all(CONTENT_ENCODING) {
        let value = value.to_str().unwrap_or("?");
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if !["identity", "gzip", "x-gzip"].contains(&coding.to_ascii_lowercase().as_str()) {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    format!("unsupported Content-Encoding {coding:?}; the gateway decodes gzip"),
                ));
            }
        }
    }
    let family = super::Family::of(path);
    if family == super::Family::SchemaRegistry && (method == Method::POST || method == Method::PUT)
    {
        if let Some(value) = headers.get(CONTENT_TYPE) {
            let media = value
                .to_str()
                .unwrap_or("?")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !SR_BODIES.contains(&media.as_str()) {
                return Err(ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    format!(
                        "HTTP 415 Unsupported Media Type: {media:?}; send one of {}",
                        SR_BODIES.join(", ")
                    ),
                ));
            }
        }
    }
    let Some(types) = offered(path) else {
        return Ok(());
    };
    let accept: Vec<&str> = headers
        .get_all(ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .collect();
    if accept.is_empty() {
        return Ok(());
    }
    let accept = accept.join(",");
    if types.iter().any(|t| acceptable(&accept, t)) {
        return Ok(());
    }
    // v2 clients often send a request's own content type as Accept
    // (application/vnd.kafka.json.v2+json); the answer is v2 JSON either way.
    if types[0] == V2_CONTENT_TYPE
        && accept.split(',').any(|r| {
            let media = r
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            media.starts_with("application/vnd.kafka.") && !r.contains("q=0")
        })
    {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::NotAcceptable,
        format!(
            "HTTP 406 Not Acceptable: {accept:?} allows none of {}",
            types.join(", ")
        ),
    ))
}

/// The content type a Schema Registry answer is sent in: the one the
/// request's `Accept` weighs highest (ours first on a tie), so a client
/// that asks for `application/json` gets `application/json`.
pub fn registry_type(headers: &HeaderMap) -> &'static str {
    let accept: Vec<&str> = headers
        .get_all(ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .collect();
    let accept = accept.join(",");
    let mut best = (SR[0], -1.0f32);
    for offered in SR {
        let q = weight(&accept, offered);
        if q > best.1 {
            best = (offered, q);
        }
    }
    best.0
}

/// Whether `accept` (an `Accept` header's value) lets `offered` be sent:
/// the most specific range that matches it decides, and `q=0` refuses
/// (RFC 9110 §12.5.1).
pub fn acceptable(accept: &str, offered: &str) -> bool {
    weight(accept, offered) > 0.0
}

/// The q-weight `accept` gives `offered` (of its most specific matching
/// range; 0 if none matches, 1 for an empty header).
fn weight(accept: &str, offered: &str) -> f32 {
    if accept.trim().is_empty() {
        return 1.0;
    }
    let (kind, sub) = offered.split_once('/').unwrap_or((offered, ""));
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if media.is_empty() {
            continue;
        }
        let mut q = 1.0f32;
        for param in parts {
            if let Some((name, value)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("q") {
                    q = value.trim().parse().unwrap_or(0.0);
                }
            }
        }
        // A bare `*` is read as `*/*`, as Java servers read it.
        let (rk, rs) = media.split_once('/').unwrap_or((media.as_str(), "*"));
        let specificity = match (rk, rs) {
            ("*", "*") => 1,
            (k, "*") if k.eq_ignore_ascii_case(kind) => 2,
            (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 3,
            _ => continue,
        };
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_ranges_with_weights_and_wildcards() {
        let v2 = V2_CONTENT_TYPE;
        assert!(acceptable("*/*", v2));
        assert!(acceptable("application/*", v2));
        assert!(acceptable(v2, v2));
        assert!(acceptable(
            "text/html, application/json;q=0.5",
            "application/json"
        ));
        assert!(!acceptable("text/html", v2));
        assert!(!acceptable("text/html, */*;q=0", v2));
        // The most specific range decides.
        assert!(!acceptable("*/*, application/json;q=0", "application/json"));
        assert!(acceptable("application/json;q=0, */*", v2));
        assert!(acceptable("APPLICATION/VND.KAFKA.V2+JSON", v2));
    }

    #[test]
    fn encodings_and_accept_per_api() {
        let headers = |pairs: &[(&str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.append(k.parse().unwrap(), v.parse().unwrap());
            }
            h
        };
        assert!(check(&Method::GET, "/topics/t", &headers(&[])).is_ok());
        assert!(check(
            &Method::GET,
            "/topics/t",
            &headers(&[("content-encoding", "gzip")])
        )
        .is_ok());
        let e = check(
            &Method::GET,
            "/topics/t",
            &headers(&[("content-encoding", "br")]),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedMediaType);
        let e = check(
            &Method::GET,
            "/topics/t",
            &headers(&[("accept", "text/html")]),
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::NotAcceptable);
        assert!(check(
            &Method::GET,
            "/v3/clusters",
            &headers(&[("accept", "application/json")])
        )
        .is_ok());
        assert!(check(
            &Method::GET,
            "/v3/clusters",
            &headers(&[("accept", V2_CONTENT_TYPE)])
        )
        .is_err());
        assert!(check(
            &Method::GET,
            "/subjects",
            &headers(&[("accept", "application/vnd.schemaregistry.v1+json")])
        )
        .is_ok());
        // Consumer records negotiate their own format; metrics are text.
        assert!(check(
            &Method::GET,
            "/consumers/g/instances/i/records",
            &headers(&[("accept", "application/vnd.kafka.binary.v2+json")])
        )
        .is_ok());
        assert!(check(
            &Method::GET,
            "/metrics",
            &headers(&[("accept", "text/plain")])
        )
        .is_ok());
        // Schema Registry bodies: its JSON types and octet-stream, or none.
        for ok in [
            "application/vnd.schemaregistry.v1+json",
            "application/vnd.schemaregistry+json",
            "application/json; charset=utf-8",
            "application/octet-stream",
        ] {
            let h = headers(&[("content-type", ok)]);
            assert!(
                check(&Method::POST, "/subjects/s/versions", &h).is_ok(),
                "{ok}"
            );
        }
        assert!(check(&Method::POST, "/subjects/s/versions", &headers(&[])).is_ok());
        let h = headers(&[("content-type", "text/plain")]);
        let e = check(&Method::PUT, "/config", &h).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedMediaType);
    }

    #[test]
    fn registry_answers_in_the_type_accept_prefers() {
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(ACCEPT, v.parse().unwrap());
            h
        };
        let v1 = "application/vnd.schemaregistry.v1+json";
        assert_eq!(registry_type(&HeaderMap::new()), v1);
        assert_eq!(registry_type(&accept("*/*")), v1);
        assert_eq!(
            registry_type(&accept("application/json")),
            "application/json"
        );
        assert_eq!(
            registry_type(&accept(
                "application/vnd.schemaregistry.v1+json;q=0.5, application/json"
            )),
            "application/json"
        );
        assert_eq!(
            registry_type(&accept("application/vnd.schemaregistry+json")),
            "application/vnd.schemaregistry+json"
        );
    }
}
