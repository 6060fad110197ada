//! Security at the edge, against the real server: TLS (with client
//! certificates required and optional), HTTP Basic, ACLs on every route
//! family, listings filtered, consumer ownership, quotas, CORS, and the
//! certificate and auth files reloaded while it runs. Certificates are
//! made here with rcgen; the clients are reqwest over rustls.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{embedded_config, read_all, topic, Reply, TestGateway, JSON, V2};
use kafka_gateway::config::{AuthMethod, ClientAuth, Config};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::{json, Value};

const SR: &str = "application/vnd.schemaregistry.v1+json";

/// A folder of its own for one test's files.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-security-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// (certificate PEM, key PEM) for `cn`, valid for localhost.
    fn issue(&self, cn: &str) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    // Written aside and renamed, as deployment tools do, so a reload never
    // sees half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path.display().to_string()
}

fn hash(password: &str) -> String {
    kafka_gateway::auth::hash_password(password).unwrap()
}

/// A client that trusts `ca` and, if given, presents `identity`.
fn client(ca: &Ca, identity: Option<&(String, String)>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_info(true)
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap());
    if let Some((cert, key)) = identity {
        builder = builder
            .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn tls_config(dir: &std::path::Path, ca: &Ca, topics: &[&str]) -> Config {
    let (cert, key) = ca.issue("localhost");
    let mut config = embedded_config(topics, 1);
    config.http.tls.cert_file = write(dir, "server.pem", &cert);
    config.http.tls.key_file = write(dir, "server-key.pem", &key);
    config.http.tls.reload_interval_ms = 100;
    config
}

async fn send(
    gw: &TestGateway,
    client: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    user: Option<(&str, &str)>,
    content_type: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = client
        .request(method, format!("{}{path}", gw.url))
        .header("Accept", "*/*");
    if let Some((name, password)) = user {
        request = request.basic_auth(name, Some(password));
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", content_type)
            .body(body.to_string());
    }
    let response = request.send().await.expect("answered");
    Reply {
        path: response.url().path().to_string(),
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

fn one_record(value: Value) -> Value {
    json!({"records": [{"value": value}]})
}

async fn metric(gw: &TestGateway, line_start: &str) -> f64 {
    let text = gw.get("/metrics").await.text;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_client_certificates_name_the_principal() {
    let dir = scratch();
    let ca = Ca::new("kafka-gateway test CA");
    let orders = topic("orders");
    let other = topic("other");
    let mut config = tls_config(&dir, &ca, &[&orders, &other]);
    config.http.tls.client_ca_file = write(&dir, "clients-ca.pem", &ca.pem());
    config.http.tls.client_auth = ClientAuth::Required;
    config.auth.file = write(
        &dir,
        "auth.toml",
        r#"
        [[acls]]
        principal = "User:orders-app"
        resource = "topic:orders-*"
        operations = ["write"]
        "#,
    );
    let app = ca.issue("orders-app");
    let gw = TestGateway::start_with(config, "https", client(&ca, Some(&app))).await;

    // The certificate's CN is the principal, and its ACL lets it write.
    let ok = gw
        .post(
            &format!("/topics/{orders}"),
            JSON,
            one_record(json!({"n": 1})).to_string(),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let stored = read_all(&gw.bootstrap, &orders, 1, 1).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].value.as_deref(), Some(br#"{"n":1}"#.as_slice()));
    gw.post(
        &format!("/topics/{other}"),
        JSON,
        one_record(json!(1)).to_string(),
    )
    .await
    .assert_error(403, 40301);

    // No certificate, one from another CA, or plain HTTP: no connection.
    let port = gw.url.rsplit(':').next().unwrap().to_string();
    let url = format!("{}/topics", gw.url);
    assert!(client(&ca, None).get(&url).send().await.is_err());
    let rogue = Ca::new("rogue CA").issue("orders-app");
    assert!(client(&ca, Some(&rogue)).get(&url).send().await.is_err());
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/topics"))
        .await
        .is_err());

    assert!(metric(&gw, "gateway_tls_handshakes_total{result=\"completed\"}").await >= 1.0);
    assert!(
        metric(
            &gw,
            "gateway_tls_handshakes_total{result=\"client_certificate_rejected\"}"
        )
        .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn optional_client_certificates_and_basic_credentials() {
    let dir = scratch();
    let ca = Ca::new("kafka-gateway test CA");
    let orders = topic("orders");
    let mut config = tls_config(&dir, &ca, &[&orders]);
    config.http.tls.client_ca_file = write(&dir, "clients-ca.pem", &ca.pem());
    config.http.tls.client_auth = ClientAuth::Optional;
    config.auth.method = AuthMethod::Basic;
    config.auth.file = write(
        &dir,
        "auth.toml",
        &format!(
            r#"
            [[users]]
            name = "alice"
            password_hash = "{}"
            [[acls]]
            principal = "User:alice"
            resource = "topic:orders-*"
            operations = ["write"]
            [[acls]]
            principal = "User:orders-app"
            resource = "topic:orders-*"
            operations = ["write"]
            "#,
            hash("alice-secret")
        ),
    );
    let plain = client(&ca, None);
    let gw = TestGateway::start_with(config, "https", plain.clone()).await;
    let path = format!("/topics/{orders}");
    let post = reqwest::Method::POST;

    let none = send(
        &gw,
        &plain,
        post.clone(),
        &path,
        None,
        JSON,
        Some(one_record(json!(1))),
    )
    .await;
    none.assert_error(401, 40101);
    assert_eq!(
        none.headers["www-authenticate"],
        "Basic realm=\"kafka-gateway\""
    );
    let alice = send(
        &gw,
        &plain,
        post.clone(),
        &path,
        Some(("alice", "alice-secret")),
        JSON,
        Some(one_record(json!(2))),
    )
    .await;
    assert_eq!(alice.status, 200, "{}", alice.text);
    // A verified certificate counts as authenticated with method basic.
    let with_cert = client(&ca, Some(&ca.issue("orders-app")));
    let cert = send(
        &gw,
        &with_cert,
        post.clone(),
        &path,
        None,
        JSON,
        Some(one_record(json!(3))),
    )
    .await;
    assert_eq!(cert.status, 200, "{}", cert.text);
    // A certificate whose CN has no ACL is authenticated, and denied.
    let stranger = client(&ca, Some(&ca.issue("stranger")));
    send(
        &gw,
        &stranger,
        post,
        &path,
        None,
        JSON,
        Some(one_record(json!(4))),
    )
    .await
    .assert_error(403, 40301);
    let stored = read_all(&gw.bootstrap, &orders, 1, 2).await;
    assert_eq!(stored.len(), 2);
}

fn users_file(extra: &str) -> String {
    format!(
        r#"
        [[users]]
        name = "alice"
        password_hash = "{alice}"
        [[users]]
        name = "bob"
        password_hash = "{bob}"
        [[users]]
        name = "admin"
        password_hash = "{admin}"

        [[acls]]
        principal = "User:alice"
        resource = "topic:orders-*"
        operations = ["write", "read"]
        [[acls]]
        principal = "User:alice"
        resource = "subject:orders-*"
        operations = ["read", "write"]
        [[acls]]
        principal = "User:*"
        resource = "group:shared-*"
        operations = ["read"]
        [[acls]]
        principal = "User:bob"
        resource = "topic:orders-*"
        operations = ["read"]
        [[acls]]
        principal = "User:admin"
        resource = "topic:*"
        operations = ["all"]
        [[acls]]
        principal = "User:admin"
        resource = "subject:*"
        operations = ["all"]
        [[acls]]
        principal = "User:admin"
        resource = "cluster"
        operations = ["all"]
        {extra}
        "#,
        alice = hash("alice-secret"),
        bob = hash("bob-secret"),
        admin = hash("admin-secret"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_acls_on_every_api() {
    let dir = scratch();
    let orders = topic("orders");
    let secret = topic("secret");
    let mut config = embedded_config(&[&orders, &secret], 1);
    config.auth.method = AuthMethod::Basic;
    config.auth.file = write(&dir, "auth.toml", &users_file(""));
    let gw = TestGateway::start(config).await;
    let http = gw.http.clone();
    let (get, post, put) = (
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::PUT,
    );
    let alice = Some(("alice", "alice-secret"));
    let bob = Some(("bob", "bob-secret"));
    let admin = Some(("admin", "admin-secret"));

    // Public paths need nothing; everything else needs credentials.
    assert_eq!(gw.get("/healthz").await.status, 200);
    assert_eq!(gw.get("/metrics").await.status, 200);
    for user in [
        None,
        Some(("alice", "wrong")),
        Some(("mallory", "alice-secret")),
    ] {
        let r = send(&gw, &http, get.clone(), "/topics", user, "", None).await;
        r.assert_error(401, 40101);
        assert_eq!(
            r.headers["www-authenticate"],
            "Basic realm=\"kafka-gateway\""
        );
    }
    for header in ["Basic !!!", "Bearer abc"] {
        let r = http
            .get(format!("{}/topics", gw.url))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    // 401 in each API's own content type.
    send(&gw, &http, get.clone(), "/subjects", None, "", None)
        .await
        .assert_error(401, 40101);
    send(&gw, &http, get.clone(), "/v3/clusters", None, "", None)
        .await
        .assert_error(401, 40101);

    // v2 produce: write on the topic.
    let r = send(
        &gw,
        &http,
        post.clone(),
        &format!("/topics/{orders}"),
        alice,
        JSON,
        Some(one_record(json!("a"))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let denied = send(
        &gw,
        &http,
        post.clone(),
        &format!("/topics/{secret}"),
        alice,
        JSON,
        Some(one_record(json!("x"))),
    )
    .await;
    let message = denied.assert_error(403, 40301);
    assert!(
        message.contains("User:alice") && message.contains(&secret),
        "{message}"
    );
    send(
        &gw,
        &http,
        post.clone(),
        &format!("/topics/{orders}"),
        bob,
        JSON,
        Some(one_record(json!("b"))),
    )
    .await
    .assert_error(403, 40301);

    // v3: write on the topic, describe on the cluster, listings filtered.
    let clusters = send(&gw, &http, get.clone(), "/v3/clusters", admin, "", None).await;
    let cluster = clusters.json()["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    send(&gw, &http, get.clone(), "/v3/clusters", alice, "", None)
        .await
        .assert_error(403, 40301);
    let v3 = |t: &str| format!("/v3/clusters/{cluster}/topics/{t}/records");
    let record = json!({"value": {"type": "JSON", "data": {"v": 3}}});
    let r = send(
        &gw,
        &http,
        post.clone(),
        &v3(&orders),
        alice,
        "application/json",
        Some(record.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    send(
        &gw,
        &http,
        post.clone(),
        &v3(&secret),
        alice,
        "application/json",
        Some(record),
    )
    .await
    .assert_error(403, 40301);
    let listed = send(
        &gw,
        &http,
        get.clone(),
        &format!("/v3/clusters/{cluster}/topics"),
        alice,
        "",
        None,
    )
    .await;
    let names: Vec<String> = listed.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["topic_name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains(&orders) && !names.contains(&secret),
        "{names:?}"
    );
    let listed: Vec<String> = serde_json::from_str(
        &send(&gw, &http, get.clone(), "/topics", alice, "", None)
            .await
            .text,
    )
    .unwrap();
    assert!(
        listed.contains(&orders) && !listed.contains(&secret),
        "{listed:?}"
    );
    let listed: Vec<String> = serde_json::from_str(
        &send(&gw, &http, get.clone(), "/topics", admin, "", None)
            .await
            .text,
    )
    .unwrap();
    assert!(
        listed.contains(&orders) && listed.contains(&secret),
        "{listed:?}"
    );
    send(
        &gw,
        &http,
        get.clone(),
        &format!("/topics/{secret}"),
        alice,
        "",
        None,
    )
    .await
    .assert_error(403, 40301);

    // Both produced records are in Kafka; the denied ones are not.
    assert_eq!(read_all(&gw.bootstrap, &orders, 1, 2).await.len(), 2);
    assert_eq!(read_all(&gw.bootstrap, &secret, 1, 0).await.len(), 0);

    // Schema Registry: write to register, read to see; what may not be
    // read does not exist.
    let schema = json!({"schema": "{\"type\": \"string\"}"});
    let orders_subject = format!("{orders}-value");
    let secret_subject = format!("{secret}-value");
    let r = send(
        &gw,
        &http,
        post.clone(),
        &format!("/subjects/{orders_subject}/versions"),
        alice,
        SR,
        Some(schema.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    send(
        &gw,
        &http,
        post.clone(),
        &format!("/subjects/{secret_subject}/versions"),
        alice,
        SR,
        Some(schema.clone()),
    )
    .await
    .assert_error(403, 40301);
    let secret_schema = json!({"schema": "{\"type\": \"int\"}"});
    let r = send(
        &gw,
        &http,
        post.clone(),
        &format!("/subjects/{secret_subject}/versions"),
        admin,
        SR,
        Some(secret_schema),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let secret_id = r.json()["id"].as_u64().unwrap();
    send(
        &gw,
        &http,
        get.clone(),
        &format!("/subjects/{secret_subject}/versions"),
        alice,
        "",
        None,
    )
    .await
    .assert_error(404, 40401);
    send(
        &gw,
        &http,
        get.clone(),
        &format!("/schemas/ids/{secret_id}"),
        alice,
        "",
        None,
    )
    .await
    .assert_error(404, 40403);
    let r = send(
        &gw,
        &http,
        get.clone(),
        &format!("/schemas/ids/{secret_id}"),
        admin,
        "",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let subjects: Vec<String> = serde_json::from_str(
        &send(&gw, &http, get.clone(), "/subjects", alice, "", None)
            .await
            .text,
    )
    .unwrap();
    assert!(
        subjects.contains(&orders_subject) && !subjects.contains(&secret_subject),
        "{subjects:?}"
    );
    // The global level is the cluster's; a subject's level is the subject's.
    let level = json!({"compatibility": "FULL"});
    send(
        &gw,
        &http,
        put.clone(),
        "/config",
        alice,
        SR,
        Some(level.clone()),
    )
    .await
    .assert_error(403, 40301);
    let r = send(
        &gw,
        &http,
        put.clone(),
        &format!("/config/{orders_subject}"),
        alice,
        SR,
        Some(level.clone()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = send(
        &gw,
        &http,
        put.clone(),
        "/config",
        admin,
        SR,
        Some(json!({"compatibility": "BACKWARD"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Consumers: read on the group and on each topic; an instance is its
    // creator's.
    let group = format!("shared-{}", rand::random::<u32>());
    let created = send(
        &gw,
        &http,
        post.clone(),
        &format!("/consumers/{group}"),
        alice,
        V2,
        Some(json!({"name": "a1", "format": "json"})),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.text);
    let instance = format!("/consumers/{group}/instances/a1");
    send(
        &gw,
        &http,
        post.clone(),
        &format!("{instance}/subscription"),
        alice,
        V2,
        Some(json!({"topics": [secret]})),
    )
    .await
    .assert_error(403, 40301);
    let r = send(
        &gw,
        &http,
        post.clone(),
        &format!("{instance}/subscription"),
        alice,
        V2,
        Some(json!({"topics": [orders]})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    send(
        &gw,
        &http,
        get.clone(),
        &format!("{instance}/subscription"),
        bob,
        "",
        None,
    )
    .await
    .assert_error(404, 40403);
    send(
        &gw,
        &http,
        post.clone(),
        &format!("{instance}/assignments"),
        alice,
        V2,
        Some(json!({"partitions": [{"topic": secret, "partition": 0}]})),
    )
    .await
    .assert_error(403, 40301);
    send(
        &gw,
        &http,
        post.clone(),
        "/consumers/private-group",
        alice,
        V2,
        Some(json!({"name": "x"})),
    )
    .await
    .assert_error(403, 40301);
    let r = send(
        &gw,
        &http,
        get.clone(),
        &format!("{instance}/subscription"),
        alice,
        "",
        None,
    )
    .await;
    assert_eq!(r.json()["topics"], json!([orders]));
    let r = send(
        &gw,
        &http,
        reqwest::Method::DELETE,
        &instance,
        alice,
        "",
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);

    assert!(metric(&gw, "gateway_auth_failures_total{reason=\"invalid\"}").await >= 2.0);
    assert!(metric(&gw, "gateway_auth_failures_total{reason=\"missing\"}").await >= 1.0);
    assert!(metric(&gw, "gateway_auth_acl_denials_total{operation=\"write\"}").await >= 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_quotas_answer_429_with_retry_after() {
    let dir = scratch();
    let orders = topic("orders");
    let mut config = embedded_config(&[&orders], 1);
    config.auth.method = AuthMethod::Basic;
    config.auth.file = write(
        &dir,
        "auth.toml",
        &format!(
            r#"
            [[users]]
            name = "carol"
            password_hash = "{}"
            [[acls]]
            principal = "User:carol"
            resource = "topic:orders-*"
            operations = ["write"]
            [[quotas]]
            principal = "User:carol"
            produce_records_per_second = 5
            "#,
            hash("carol-secret")
        ),
    );
    let gw = TestGateway::start(config).await;
    let http = gw.http.clone();
    let carol = Some(("carol", "carol-secret"));
    let started = Instant::now();
    let (mut ok, mut throttled) = (0, 0);
    for i in 0..20 {
        let r = send(
            &gw,
            &http,
            reqwest::Method::POST,
            &format!("/topics/{orders}"),
            carol,
            JSON,
            Some(one_record(json!(i))),
        )
        .await;
        match r.status {
            200 => ok += 1,
            429 => {
                r.assert_error(429, 42902);
                let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!((1..=2).contains(&retry), "{retry}");
                throttled += 1;
            }
            other => panic!("{other}: {}", r.text),
        }
    }
    let allowed = 5.0 + started.elapsed().as_secs_f64() * 5.0 + 1.0;
    assert!(
        ok as f64 <= allowed,
        "{ok} accepted in {:?}",
        started.elapsed()
    );
    assert!(throttled > 0);
    // Exactly the accepted records are in Kafka.
    assert_eq!(read_all(&gw.bootstrap, &orders, 1, ok).await.len(), ok);
    assert!(metric(&gw, "gateway_auth_quota_rejections_total").await >= throttled as f64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_needs_no_credentials_and_names_only_allowed_origins() {
    let dir = scratch();
    let orders = topic("orders");
    let mut config = embedded_config(&[&orders], 1);
    config.http.cors.allowed_origins = vec!["http://app.example:8000".into()];
    config.auth.method = AuthMethod::Basic;
    config.auth.file = write(&dir, "auth.toml", &users_file(""));
    let gw = TestGateway::start(config).await;
    let path = format!("{}/topics/{orders}", gw.url);
    let preflight = |origin: &str| {
        gw.http
            .request(reqwest::Method::OPTIONS, &path)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type",
            )
            .send()
    };
    let ok = preflight("http://app.example:8000").await.unwrap();
    assert_eq!(ok.status(), 200);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "http://app.example:8000");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));

    let other = preflight("http://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // The real request: credentials, the origin named, Retry-After and
    // WWW-Authenticate readable by the page.
    let r = gw
        .http
        .post(&path)
        .header("Origin", "http://app.example:8000")
        .header("Content-Type", JSON)
        .basic_auth("alice", Some("alice-secret"))
        .body(one_record(json!(1)).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://app.example:8000"
    );
    let exposed = r.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
    let unauthenticated = gw
        .http
        .post(&path)
        .header("Origin", "http://app.example:8000")
        .header("Content-Type", JSON)
        .body(one_record(json!(2)).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(
        unauthenticated.headers()["access-control-allow-origin"],
        "http://app.example:8000"
    );
    let evil = gw
        .http
        .post(&path)
        .header("Origin", "http://evil.example")
        .header("Content-Type", JSON)
        .basic_auth("alice", Some("alice-secret"))
        .body(one_record(json!(3)).to_string())
        .send()
        .await
        .unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_and_the_auth_file_reload_while_serving() {
    let dir = scratch();
    let ca = Ca::new("kafka-gateway test CA");
    let orders = topic("orders");
    let mut config = tls_config(&dir, &ca, &[&orders]);
    config.auth.method = AuthMethod::Basic;
    config.auth.reload_interval_ms = 100;
    let auth_file = dir.join("auth.toml");
    let dave = hash("dave-secret");
    let users = format!("[[users]]\nname = \"dave\"\npassword_hash = \"{dave}\"\n");
    config.auth.file = write(&dir, "auth.toml", &users);
    let cert_file = config.http.tls.cert_file.clone();
    let key_file = config.http.tls.key_file.clone();
    let gw = TestGateway::start_with(config, "https", client(&ca, None)).await;
    let path = format!("/topics/{orders}");
    let dave_user = Some(("dave", "dave-secret"));

    let peer = |c: reqwest::Client| {
        let url = format!("{}/healthz", gw.url);
        async move {
            let r = c.get(url).send().await.unwrap();
            r.extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(|i| i.peer_certificate().map(<[u8]>::to_vec))
                .unwrap()
        }
    };
    let first = peer(client(&ca, None)).await;

    // No ACL yet: denied. The file gains one: allowed, without a restart.
    let fresh = client(&ca, None);
    send(
        &gw,
        &fresh,
        reqwest::Method::POST,
        &path,
        dave_user,
        JSON,
        Some(one_record(json!(1))),
    )
    .await
    .assert_error(403, 40301);
    write(
        &dir,
        "auth.toml",
        &format!("{users}[[acls]]\nprincipal = \"User:dave\"\nresource = \"topic:{orders}\"\noperations = [\"write\"]\n"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = send(
            &gw,
            &fresh,
            reqwest::Method::POST,
            &path,
            dave_user,
            JSON,
            Some(one_record(json!(2))),
        )
        .await;
        if r.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new ACL never applied: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A broken file keeps the last good one.
    std::fs::write(&auth_file, "[[users]\nthis is not toml").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = send(
        &gw,
        &fresh,
        reqwest::Method::POST,
        &path,
        dave_user,
        JSON,
        Some(one_record(json!(3))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A new certificate is served to new connections; a broken one is not.
    let (cert, key) = ca.issue("localhost");
    write(&dir, "server-key.pem", &key);
    write(&dir, "server.pem", &cert);
    assert_eq!(key_file, dir.join("server-key.pem").display().to_string());
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        let now = peer(client(&ca, None)).await;
        if now != first {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    std::fs::write(&cert_file, "-----BEGIN CERTIFICATE-----\nbroken\n").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(peer(client(&ca, None)).await, second);
    assert!(metric(&gw, "gateway_tls_reloads_total{result=\"failed\"}").await >= 1.0);
    assert_eq!(read_all(&gw.bootstrap, &orders, 1, 2).await.len(), 2);
}
