//! The configuration's unit tests.

use std::path::Path;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn every_file_in_config_dir_parses_and_matches_the_defaults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let config = Config::load(Some(&path), Vec::new())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if path.file_name().unwrap() == "gateway.toml" {
                // The reference file lists the defaults; it must not drift.
                assert_eq!(format!("{config:?}"), format!("{:?}", Config::default()));
            }
            seen += 1;
        }
    }
    assert!(seen >= 1, "no config files found in {}", dir.display());
}

#[test]
fn environment_overrides_the_file() {
    let config = Config::from_toml_and_env(
        "[kafka]\nlinger_ms = 20\n",
        env(&[
            ("KAFKA_GATEWAY_KAFKA_LINGER_MS", "7"),
            ("KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS", "broker:9092"),
            ("KAFKA_GATEWAY_EMBEDDED_TOPICS", r#"["a", "b"]"#),
            ("UNRELATED", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(config.kafka.linger_ms, 7);
    assert_eq!(config.kafka.bootstrap_servers, "broker:9092");
    assert_eq!(config.embedded.topics, vec!["a", "b"]);
    assert!(!config.uses_embedded_broker());
}

#[test]
fn environment_reaches_tables_inside_sections() {
    let config = Config::from_toml_and_env(
        "[auth]\nfile = \"users.toml\"\n",
        env(&[
            ("KAFKA_GATEWAY_HTTP_TLS_CERT_FILE", "/etc/gw/cert.pem"),
            ("KAFKA_GATEWAY_HTTP_TLS_KEY_FILE", "/etc/gw/key.pem"),
            (
                "KAFKA_GATEWAY_HTTP_CORS_ALLOWED_ORIGINS",
                r#"["https://app.example"]"#,
            ),
            ("KAFKA_GATEWAY_HTTP_MAX_REQUEST_BYTES", "2048"),
            ("KAFKA_GATEWAY_AUTH_METHOD", "basic"),
        ]),
    )
    .unwrap();
    assert_eq!(config.http.tls.cert_file, "/etc/gw/cert.pem");
    assert!(config.http.tls.enabled());
    assert_eq!(config.http.cors.allowed_origins, ["https://app.example"]);
    assert_eq!(config.http.max_request_bytes, 2048);
    assert_eq!(config.auth.method, AuthMethod::Basic);
}

#[test]
fn security_settings_are_checked_together() {
    let err = Config::from_toml_and_env(
        r#"
        [http.tls]
        cert_file = "cert.pem"
        client_auth = "required"
        [http.cors]
        allowed_origins = ["https://app.example/"]
        [auth]
        method = "basic"
        "#,
        Vec::new(),
    )
    .unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "http.tls.key_file",
            "http.tls.client_ca_file",
            "http.cors.allowed_origins",
            "auth.file"
        ]
    );
}

#[test]
fn unknown_keys_are_refused() {
    let err = Config::from_toml_and_env("[kafka]\nlingr_ms = 3\n", Vec::new()).unwrap_err();
    assert_eq!(err.problems[0].key, "kafka.lingr_ms", "{err}");
    let err = Config::from_toml_and_env("[kafka]\nlinger_ms = \"soon\"\n", Vec::new()).unwrap_err();
    assert_eq!(err.problems[0].key, "kafka.linger_ms", "{err}");
    let err = Config::from_toml_and_env("", env(&[("KAFKA_GATEWAY_NOPE_X", "1")])).unwrap_err();
    assert!(err.to_string().contains("KAFKA_GATEWAY_NOPE_X"), "{err}");
}

#[test]
fn all_validation_errors_are_reported_at_once() {
    let err = Config::from_toml_and_env(
        r#"
        [kafka]
        producers = 0
        acks = "1"
        librdkafka = { "linger.ms" = "3", "socket.keepalive.enable" = "true" }
        [http]
        listen = "nowhere"
        "#,
        Vec::new(),
    )
    .unwrap_err();
    let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "http.listen",
            "kafka.producers",
            "kafka.acks",
            "kafka.librdkafka.\"linger.ms\""
        ]
    );
}

#[test]
fn other_clients_take_only_the_connection_settings() {
    let mut config = Config::default();
    config
        .kafka
        .librdkafka
        .insert("security.protocol".into(), "SASL_SSL".into());
    let settings = config.kafka.connection_settings("b:9092");
    let keys: Vec<&str> = settings.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.contains(&"bootstrap.servers"));
    assert!(keys.contains(&"security.protocol"));
    assert!(!keys.contains(&"linger.ms"));
    assert!(!keys.contains(&"acks"));
}

#[test]
fn typed_settings_map_to_librdkafka_names() {
    let mut config = Config::default();
    config
        .kafka
        .librdkafka
        .insert("socket.keepalive.enable".into(), "true".into());
    let settings = config.kafka.librdkafka_settings("b:9092");
    let get = |k: &str| {
        settings
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("bootstrap.servers"), Some("b:9092"));
    assert_eq!(get("acks"), Some("all"));
    assert_eq!(get("enable.idempotence"), Some("true"));
    assert_eq!(get("compression.type"), Some("lz4"));
    assert_eq!(get("linger.ms"), Some("2"));
    assert_eq!(get("socket.keepalive.enable"), Some("true"));
}

#[test]
fn topic_names_follow_kafka_rules() {
    assert!(valid_topic_name("orders.v1_eu-west"));
    assert!(!valid_topic_name(""));
    assert!(!valid_topic_name(".."));
    assert!(!valid_topic_name("has space"));
    assert!(!valid_topic_name(&"x".repeat(250)));
}
