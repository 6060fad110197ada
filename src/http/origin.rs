//! The URL clients reach the gateway at, for the `base_uri` of a new
//! consumer instance: `http.public_url` when set; else the request's own
//! scheme and `Host`, corrected by a trusted proxy's `Forwarded` (RFC 7239)
//! or `X-Forwarded-Proto` / `X-Forwarded-Host` headers. Those headers
//! are believed only from `http.trusted_proxies`: from anyone else they
//! would let a client point other clients' URLs anywhere.

use std::net::IpAddr;

use actix_web::http::header::HOST;
use actix_web::HttpRequest;

use crate::config::{parse_network, HttpConfig};

/// `scheme://host[:port]`, without a trailing slash.
pub fn public_base(req: &HttpRequest, config: &HttpConfig) -> String {
    if !config.public_url.is_empty() {
        return config.public_url.trim_end_matches('/').to_string();
    }
    let mut scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    }
    .to_string();
    let mut host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| valid_host(h))
        .map(String::from)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| req.app_config().host().to_string());
    let trusted = req
        .peer_addr()
        .is_some_and(|peer| is_trusted(peer.ip(), &config.trusted_proxies));
    if trusted {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let (proto, forwarded_host) = match header("forwarded") {
            Some(forwarded) => parse_forwarded(&forwarded),
            None => (
                header("x-forwarded-proto").map(|p| first(&p)),
                header("x-forwarded-host").map(|h| first(&h)),
            ),
        };
        if let Some(proto) = proto.map(|p| p.to_ascii_lowercase()) {
            if proto == "http" || proto == "https" {
                scheme = proto;
            }
        }
        if let Some(h) = forwarded_host.filter(|h| valid_host(h)) {
            host = h;
        }
    }
    format!("{scheme}://{host}")
}

fn first(list: &str) -> String {
    list.split(',').next().unwrap_or("").trim().to_string()
}

/// `proto` and `host` of a `Forwarded` header's first element (the one
/// the proxy nearest the client wrote).
fn parse_forwarded(value: &str) -> (Option<String>, Option<String>) {
    let element = value.split(',').next().unwrap_or("");
    let (mut proto, mut host) = (None, None);
    for pair in element.split(';') {
        let Some((name, v)) = pair.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "proto" => proto = Some(v),
            "host" => host = Some(v),
            _ => {}
        }
    }
    (proto, host)
}

/// A host and port as they may appear in a URL, nothing else.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        })
}

fn is_trusted(peer: IpAddr, proxies: &[String]) -> bool {
    proxies
        .iter()
        .filter_map(|p| parse_network(p))
        .any(|(network, bits)| contains(network, bits, peer))
}

fn contains(network: IpAddr, bits: u8, address: IpAddr) -> bool {
    // An IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d.
    let address = match address {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    match (network, address) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - bits as u32).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - bits as u32).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn config(public_url: &str, trusted: &[&str]) -> HttpConfig {
        HttpConfig {
            public_url: public_url.into(),
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            ..HttpConfig::default()
        }
    }

    fn from(peer: &str) -> TestRequest {
        TestRequest::default()
            .peer_addr(peer.parse().unwrap())
            .insert_header(("host", "10.0.0.5:8082"))
    }

    #[test]
    fn public_url_wins() {
        let req = from("10.0.0.9:5000").to_http_request();
        assert_eq!(
            public_base(&req, &config("https://rest.example.com/", &[])),
            "https://rest.example.com"
        );
    }

    #[test]
    fn forwarding_headers_count_from_trusted_proxies_only() {
        let headers = |r: TestRequest| {
            r.insert_header(("x-forwarded-proto", "https"))
                .insert_header(("x-forwarded-host", "rest.example.com, inner:8080"))
                .to_http_request()
        };
        let trusted = config("", &["10.0.0.0/24"]);
        assert_eq!(
            public_base(&headers(from("10.0.0.9:5000")), &trusted),
            "https://rest.example.com"
        );
        // The same headers from a client: ignored.
        assert_eq!(
            public_base(&headers(from("192.168.1.4:5000")), &trusted),
            "http://10.0.0.5:8082"
        );
        assert_eq!(
            public_base(&headers(from("10.0.0.9:5000")), &config("", &[])),
            "http://10.0.0.5:8082"
        );
    }

    #[test]
    fn rfc7239_forwarded_is_read_and_bad_values_ignored() {
        let trusted = config("", &["127.0.0.1"]);
        let req = from("127.0.0.1:4000")
            .insert_header((
                "forwarded",
                "for=192.0.2.60;proto=https;host=\"lb.example:8443\", for=10.0.0.1",
            ))
            .to_http_request();
        assert_eq!(public_base(&req, &trusted), "https://lb.example:8443");
        let req = from("127.0.0.1:4000")
            .insert_header(("x-forwarded-proto", "gopher"))
            .insert_header(("x-forwarded-host", "evil\"/path"))
            .to_http_request();
        assert_eq!(public_base(&req, &trusted), "http://10.0.0.5:8082");
    }

    #[test]
    fn networks_match_v4_v6_and_mapped_addresses() {
        let p = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(is_trusted(p("10.1.2.3"), &["10.0.0.0/8".into()]));
        assert!(!is_trusted(p("11.1.2.3"), &["10.0.0.0/8".into()]));
        assert!(is_trusted(p("::ffff:10.1.2.3"), &["10.0.0.0/8".into()]));
        assert!(is_trusted(p("fd00::1"), &["fd00::/8".into()]));
        assert!(is_trusted(p("1.2.3.4"), &["0.0.0.0/0".into()]));
        assert!(!is_trusted(p("::1"), &["127.0.0.1".into()]));
    }
}
