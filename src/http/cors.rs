//! Cross-origin access for browser clients (`[http.cors]`), with
//! actix-cors: a preflight from an allowed origin is answered at once,
//! before authentication (browsers send no credentials with it); other
//! requests from an allowed origin get `Access-Control-Allow-Origin` (the
//! origin itself, so credentials work) and the headers the API answers
//! with exposed. Any other origin gets no CORS headers, and the browser
//! keeps the answer from its page.

use actix_cors::Cors;
use actix_web::http::header;
use actix_web::http::Method;

use crate::config::CorsConfig;

/// The CORS middleware for the configured origins.
pub fn middleware(config: &CorsConfig) -> Cors {
    let mut cors = Cors::default();
    for origin in &config.allowed_origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors.allowed_methods([
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
    ])
    .allowed_headers([
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::ACCEPT,
        header::CONTENT_ENCODING,
    ])
    .expose_headers([
        header::RETRY_AFTER,
        header::WWW_AUTHENTICATE,
        header::CONTENT_TYPE,
    ])
    .supports_credentials()
    .max_age(config.max_age_seconds as usize)
    .block_on_origin_mismatch(false)
}
