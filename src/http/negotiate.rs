//! Content negotiation before any handler, as Confluent's proxy does it:
//! a `Content-Encoding` the gateway cannot decode answers 415 (instead of
//! the body being read as if it were plain), and an `Accept` that no
//! representation of the route satisfies answers 406. No `Accept`, `*/*`
//! and a missing `Content-Type` stay fine.

use actix_web::http::header::{HeaderMap, ACCEPT, CONTENT_ENCODING};

use crate::error::{ApiError, ErrorCode, V2_CONTENT_TYPE};

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
    const SR: &[&str] = &[
        "application/vnd.schemaregistry.v1+json",
        "application/vnd.schemaregistry+json",
        "application/json",
    ];
    if path == "/metrics" || path.ends_with("/records") && path.starts_with("/consumers/") {
        return None;
    }
    Some(match super::Family::of(path) {
        super::Family::V3 => V3,
        super::Family::SchemaRegistry => SR,
        super::Family::V2 => V2,
    })
}

/// Checks a request's encoding and `Accept`; the error is the answer.
pub fn check(path: &str, headers: &HeaderMap) -> Result<(), ApiError> {
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

/// Whether `accept` (an `Accept` header's value) lets `offered` be sent:
/// the most specific range that matches it decides, and `q=0` refuses
/// (RFC 9110 §12.5.1).
pub fn acceptable(accept: &str, offered: &str) -> bool {
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
        let (rk, rs) = media.split_once('/').unwrap_or((media.as_str(), ""));
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
    best.is_some_and(|(_, q)| q > 0.0)
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
        assert!(check("/topics/t", &headers(&[])).is_ok());
        assert!(check("/topics/t", &headers(&[("content-encoding", "gzip")])).is_ok());
        let e = check("/topics/t", &headers(&[("content-encoding", "br")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnsupportedMediaType);
        let e = check("/topics/t", &headers(&[("accept", "text/html")])).unwrap_err();
        assert_eq!(e.code, ErrorCode::NotAcceptable);
        assert!(check("/v3/clusters", &headers(&[("accept", "application/json")])).is_ok());
        assert!(check("/v3/clusters", &headers(&[("accept", V2_CONTENT_TYPE)])).is_err());
        assert!(check(
            "/subjects",
            &headers(&[("accept", "application/vnd.schemaregistry.v1+json")])
        )
        .is_ok());
        // Consumer records negotiate their own format; metrics are text.
        assert!(check(
            "/consumers/g/instances/i/records",
            &headers(&[("accept", "application/vnd.kafka.binary.v2+json")])
        )
        .is_ok());
        assert!(check("/metrics", &headers(&[("accept", "text/plain")])).is_ok());
    }
}
