//! Schema Registry conformance: cases learned from other implementations'
//! suites, chiefly Confluent's `AbstractRestApiTest` / `RestApiTest`,
//! `AbstractRestApiModeTest` / `RestApiModeTest` (confluentinc/schema-registry,
//! core/src/test/java/io/confluent/kafka/schemaregistry/rest/) and Karapace's
//! tests/integration/test_schema.py (Aiven-Open/karapace). Where the two
//! disagree, Confluent's answer is the target. Each test names its source.

mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

const SR: &str = "application/vnd.schemaregistry.v1+json";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

async fn start() -> TestGateway {
    TestGateway::start(embedded_config(&[], 1)).await
}

/// Sends `method path` with a Schema Registry Accept (and Content-Type when
/// there is a body).
async fn call(gw: &TestGateway, method: Method, path: &str, body: Option<&Value>) -> Reply {
    let mut request = gw
        .http
        .request(method, format!("{}{path}", gw.url))
        .header("Accept", SR);
    if let Some(body) = body {
        request = request.header("Content-Type", SR).body(body.to_string());
    }
    let response = request.send().await.expect("request is answered");
    reply_of(response).await
}

async fn reply_of(response: reqwest::Response) -> Reply {
    Reply {
        path: response.url().path().to_string(),
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

async fn get(gw: &TestGateway, path: &str) -> Reply {
    call(gw, Method::GET, path, None).await
}

async fn post(gw: &TestGateway, path: &str, body: Value) -> Reply {
    call(gw, Method::POST, path, Some(&body)).await
}

async fn put(gw: &TestGateway, path: &str, body: Value) -> Reply {
    call(gw, Method::PUT, path, Some(&body)).await
}

async fn delete(gw: &TestGateway, path: &str) -> Reply {
    call(gw, Method::DELETE, path, None).await
}

/// Asserts a 200 and returns the JSON body.
fn ok(reply: &Reply) -> Value {
    assert_eq!(
        reply.status, 200,
        "{} answered {}: {}",
        reply.path, reply.status, reply.text
    );
    reply.json()
}

/// Asserts a Schema Registry error envelope (for every registry path,
/// `/mode` included) and returns the message.
fn error(reply: &Reply, status: u16, code: u64) -> String {
    assert_eq!(
        reply.status, status,
        "{} answered {}: {}",
        reply.path, reply.status, reply.text
    );
    let body = reply.json();
    assert_eq!(body["error_code"], code, "{}: {}", reply.path, reply.text);
    assert_eq!(
        reply.content_type(),
        SR,
        "{}: error content type",
        reply.path
    );
    body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("message in {}", reply.text))
        .to_string()
}

/// A record schema with one field `name`, defaulted so that any two of
/// them are compatible under every level.
fn record(name: &str) -> String {
    json!({"type": "record", "name": "R", "fields": [{"name": name, "type": "string", "default": ""}]})
        .to_string()
}

fn body(schema: &str) -> Value {
    json!({ "schema": schema })
}

/// Registers `schema` under `subject`; returns its id.
async fn register(gw: &TestGateway, subject: &str, schema: &str) -> u64 {
    let reply = post(gw, &format!("/subjects/{subject}/versions"), body(schema)).await;
    ok(&reply)["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("id in {}", reply.text))
}

/// `[{"subject", "version"}, ...]` in a stable order, for comparisons that
/// do not depend on the order the registry lists them in.
fn by_subject(list: Value) -> Value {
    let mut items = list
        .as_array()
        .unwrap_or_else(|| panic!("array: {list}"))
        .clone();
    items.sort_by_key(|v| (v["subject"].to_string(), v["version"].to_string()));
    Value::Array(items)
}

async fn versions(gw: &TestGateway, subject: &str) -> Value {
    ok(&get(gw, &format!("/subjects/{subject}/versions")).await)
}

// ---------------------------------------------------------------------------
// Basic flows
// ---------------------------------------------------------------------------

// Confluent testBasic, testCanonicalization; Karapace test_schema_same_subject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_the_same_schema_twice_gives_the_same_id_and_version() {
    let gw = start().await;
    let id = register(&gw, "basic", &record("a")).await;
    assert_eq!(register(&gw, "basic", &record("a")).await, id);
    assert_eq!(versions(&gw, "basic").await, json!([1]));
    // Whitespace does not make a new schema.
    let spaced = r#"{   "type":   "string"}"#;
    let sid = register(&gw, "spaced", spaced).await;
    assert_eq!(register(&gw, "spaced", spaced).await, sid);
    let found = ok(&post(&gw, "/subjects/spaced", body(spaced)).await);
    assert_eq!(found["id"], sid);
    assert_eq!(found["version"], 1);
    assert_eq!(found["subject"], "spaced");
}

// Confluent testRegisterSameSchemaOnDifferentSubject,
// testSchemaRegistrationUnderDiffSubjects; Karapace
// test_schema_three_subjects_sharing_schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_schema_in_two_subjects_has_one_id_and_separate_versions() {
    let gw = start().await;
    put(&gw, "/config/s1", json!({"compatibility": "NONE"})).await;
    let a = register(&gw, "s1", &record("a")).await;
    let b = register(&gw, "s1", &record("b")).await;
    assert_ne!(a, b);
    assert_eq!(register(&gw, "s2", &record("b")).await, b);
    let in_s2 = ok(&post(&gw, "/subjects/s2", body(&record("b"))).await);
    assert_eq!(in_s2["version"], 1, "first version of s2");
    let in_s1 = ok(&post(&gw, "/subjects/s1", body(&record("b"))).await);
    assert_eq!(in_s1["version"], 2);
}

// Confluent testGetVersion, testGetLatestVersionSchemaOnly,
// testGetVersionSchemaOnly, testGetOnlySchemaById; Karapace
// test_schema_subject_version_schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_latest_and_raw_schema_endpoints() {
    let gw = start().await;
    let id1 = register(&gw, "v", &record("a")).await;
    let id2 = register(&gw, "v", &record("b")).await;
    let one = ok(&get(&gw, "/subjects/v/versions/1").await);
    assert_eq!(
        (&one["subject"], &one["version"], &one["id"]),
        (&json!("v"), &json!(1), &json!(id1))
    );
    for latest in ["latest", "-1"] {
        let l = ok(&get(&gw, &format!("/subjects/v/versions/{latest}")).await);
        assert_eq!(
            (&l["version"], &l["id"]),
            (&json!(2), &json!(id2)),
            "{latest}"
        );
    }
    let raw = ok(&get(&gw, "/subjects/v/versions/latest/schema").await);
    assert_eq!(raw, serde_json::from_str::<Value>(&record("b")).unwrap());
    let raw = ok(&get(&gw, &format!("/schemas/ids/{id1}/schema")).await);
    assert_eq!(raw, serde_json::from_str::<Value>(&record("a")).unwrap());
    error(&get(&gw, "/subjects/v/versions/3/schema").await, 404, 40402);
    error(
        &get(&gw, "/subjects/none/versions/1/schema").await,
        404,
        40401,
    );
}

// Karapace test_common_endpoints; Confluent RootResource.get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_answers_an_empty_object() {
    let gw = start().await;
    // What a Schema Registry client sends, and the generic types.
    for accept in [Some(SR), Some("application/json"), Some("*/*"), None] {
        let reply = get_accepting(&gw, "/", accept).await;
        assert_eq!(ok(&reply), json!({}), "{accept:?}");
    }
    assert_eq!(ok(&get(&gw, "/").await), json!({}));
}

// ---------------------------------------------------------------------------
// Error codes
// ---------------------------------------------------------------------------

// Confluent testListVersionsNonExistingSubject, testGetVersionNonExistentSubject,
// testGetLatestVersionNonExistentSubject, testLookUpSchemaUnderNonExistentSubject,
// testDeleteSchemaVersionInvalidSubject.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_not_found_is_40401() {
    let gw = start().await;
    error(&get(&gw, "/subjects/ghost/versions").await, 404, 40401);
    error(&get(&gw, "/subjects/ghost/versions/1").await, 404, 40401);
    error(
        &get(&gw, "/subjects/ghost/versions/latest").await,
        404,
        40401,
    );
    error(
        &post(&gw, "/subjects/ghost", body(&record("a"))).await,
        404,
        40401,
    );
    error(&delete(&gw, "/subjects/ghost/versions/1").await, 404, 40401);
    error(&delete(&gw, "/subjects/ghost").await, 404, 40401);
}

// Confluent testGetNonExistingVersion, testDeleteInvalidVersion,
// testCompatibilityNonExistentVersion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_not_found_is_40402() {
    let gw = start().await;
    register(&gw, "vnf", &record("a")).await;
    error(&get(&gw, "/subjects/vnf/versions/200").await, 404, 40402);
    error(&delete(&gw, "/subjects/vnf/versions/2").await, 404, 40402);
    error(
        &post(
            &gw,
            "/compatibility/subjects/vnf/versions/100",
            body(&record("b")),
        )
        .await,
        404,
        40402,
    );
}

// Confluent testGetSchemaNonExistingId, testLookUpNonExistentSchemaUnderSubject,
// testGetSubjectsAssociatedWithNotFoundSchemaId.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_not_found_is_40403() {
    let gw = start().await;
    register(&gw, "snf", &record("a")).await;
    error(&get(&gw, "/schemas/ids/100").await, 404, 40403);
    error(&get(&gw, "/schemas/ids/100/schema").await, 404, 40403);
    error(&get(&gw, "/schemas/ids/100/subjects").await, 404, 40403);
    error(&get(&gw, "/schemas/ids/100/versions").await, 404, 40403);
    error(
        &post(&gw, "/subjects/snf", body(&record("b"))).await,
        404,
        40403,
    );
}

// Confluent testDeleteSubjectException, testDeleteSubjectPermanent,
// testDeleteSchemaVersionPermanent; Karapace test_schema_hard_delete_version,
// test_schema_hard_delete_whole_schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_errors_are_40404_to_40407() {
    let gw = start().await;
    register(&gw, "del", &record("a")).await;
    register(&gw, "del", &record("b")).await;

    // 40407: a version must be soft-deleted before a permanent delete.
    error(
        &delete(&gw, "/subjects/del/versions/2?permanent=true").await,
        404,
        40407,
    );
    assert_eq!(ok(&delete(&gw, "/subjects/del/versions/2").await), json!(2));
    // 40406: soft-deleting it again.
    error(&delete(&gw, "/subjects/del/versions/2").await, 404, 40406);
    assert_eq!(
        ok(&delete(&gw, "/subjects/del/versions/2?permanent=true").await),
        json!(2)
    );
    // Gone for good: 40402, also for a second permanent delete.
    error(
        &get(&gw, "/subjects/del/versions/2?deleted=true").await,
        404,
        40402,
    );
    error(
        &delete(&gw, "/subjects/del/versions/2?permanent=true").await,
        404,
        40402,
    );

    // 40405: the subject must be soft-deleted before a permanent delete.
    error(
        &delete(&gw, "/subjects/del?permanent=true").await,
        404,
        40405,
    );
    assert_eq!(ok(&delete(&gw, "/subjects/del").await), json!([1]));
    // 40404: soft-deleting the subject again.
    error(&delete(&gw, "/subjects/del").await, 404, 40404);
    assert_eq!(
        ok(&delete(&gw, "/subjects/del?permanent=true").await),
        json!([1])
    );
    error(&delete(&gw, "/subjects/del").await, 404, 40401);
}

// Confluent testGetConfigNonExistentSubject, testSubjectCompatibilityAfterDeletingSubject;
// Karapace test_missing_subject_compatibility (Karapace's test_config answers
// 40401 there; Confluent answers 40408).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subject_level_compatibility_is_40408() {
    let gw = start().await;
    error(&get(&gw, "/config/ghost").await, 404, 40408);
    register(&gw, "cfg", &record("a")).await;
    error(&get(&gw, "/config/cfg").await, 404, 40408);
    error(
        &get(&gw, "/config/cfg?defaultToGlobal=false").await,
        404,
        40408,
    );
    let level = ok(&get(&gw, "/config/cfg?defaultToGlobal=true").await);
    assert_eq!(level, json!({"compatibilityLevel": "BACKWARD"}));
}

// Confluent testGlobalMode (SUBJECT_LEVEL_MODE_NOT_CONFIGURED_ERROR_CODE).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_subject_level_mode_is_40409() {
    let gw = start().await;
    register(&gw, "m", &record("a")).await;
    error(&get(&gw, "/mode/m").await, 404, 40409);
    let mode = ok(&get(&gw, "/mode/m?defaultToGlobal=true").await);
    assert_eq!(mode, json!({"mode": "READWRITE"}));
}

// Confluent testBad, testRegisterInvalidSchemaBadType, testRegisterBadDefault,
// testRegisterInvalidSchemaBadReference; Karapace test_invalid_schemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_schemas_are_42201() {
    let gw = start().await;
    let bad_type =
        r#"{"type":"record","name":"myrecord","fields":[{"type":"str","name":"field1"}]}"#;
    error(
        &post(&gw, "/subjects/bad/versions", body(bad_type)).await,
        422,
        42201,
    );
    error(
        &post(&gw, "/subjects/bad/versions", body("{\"type\": \"string\"")).await,
        422,
        42201,
    );
    let repeated = r#"{"type":"record","name":"myrecord","fields":[{"type":"string","name":"name"},{"type":"string","name":"name","default":"x"}]}"#;
    error(
        &post(&gw, "/subjects/bad/versions", body(repeated)).await,
        422,
        42201,
    );
    // A string field cannot default to null, neither for a check nor a
    // registration.
    let bad_default = r#"{"type":"record","name":"myrecord","fields":[{"type":"string","default":null,"name":"f"}]}"#;
    error(
        &post(
            &gw,
            "/compatibility/subjects/bad/versions/latest",
            body(bad_default),
        )
        .await,
        422,
        42201,
    );
    error(
        &post(&gw, "/subjects/bad/versions", body(bad_default)).await,
        422,
        42201,
    );
    // A reference to a subject that does not exist.
    let with_ref = json!({"schema": record("a"),
        "references": [{"name": "bad", "subject": "bad", "version": 100}]});
    error(
        &post(&gw, "/subjects/bad/versions", with_ref).await,
        422,
        42201,
    );
    // Nothing was registered.
    assert_eq!(ok(&get(&gw, "/subjects").await), json!([]));
}

// Confluent testGetInvalidVersion, testCompatibilityInvalidVersion, VersionId
// (positive ints up to 2^31-1, `latest`, -1); Karapace test_version_number_validation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_versions_are_42202() {
    let gw = start().await;
    register(&gw, "iv", &record("a")).await;
    for valid in ["1", "latest", "-1"] {
        ok(&get(&gw, &format!("/subjects/iv/versions/{valid}")).await);
        ok(&get(&gw, &format!("/subjects/iv/versions/{valid}/schema")).await);
    }
    for invalid in ["0", "-2", "abc", "2147483648", "earliest"] {
        error(
            &get(&gw, &format!("/subjects/iv/versions/{invalid}")).await,
            422,
            42202,
        );
        error(
            &get(&gw, &format!("/subjects/iv/versions/{invalid}/schema")).await,
            422,
            42202,
        );
        error(
            &get(
                &gw,
                &format!("/subjects/iv/versions/{invalid}/referencedby"),
            )
            .await,
            422,
            42202,
        );
        error(
            &delete(&gw, &format!("/subjects/iv/versions/{invalid}")).await,
            422,
            42202,
        );
        error(
            &post(
                &gw,
                &format!("/compatibility/subjects/iv/versions/{invalid}"),
                body(&record("b")),
            )
            .await,
            422,
            42202,
        );
    }
    // 2^31-1 is a valid number, just not there.
    error(
        &get(&gw, "/subjects/iv/versions/2147483647").await,
        404,
        40402,
    );
}

// Confluent ConfigResource (RestInvalidCompatibilityException); Karapace test_config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_compatibility_level_is_42203() {
    let gw = start().await;
    error(
        &put(&gw, "/config", json!({"compatibility": "nonexistentmode"})).await,
        422,
        42203,
    );
    error(
        &put(&gw, "/config/s", json!({"compatibility": "SIDEWAYS"})).await,
        422,
        42203,
    );
    assert_eq!(
        ok(&get(&gw, "/config").await),
        json!({"compatibilityLevel": "BACKWARD"})
    );
}

// Confluent ModeResource (RestInvalidModeException).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_mode_is_42204() {
    let gw = start().await;
    error(
        &put(&gw, "/mode", json!({"mode": "SOMETIMES"})).await,
        422,
        42204,
    );
    error(
        &put(&gw, "/mode/s", json!({"mode": "SOMETIMES"})).await,
        422,
        42204,
    );
    assert_eq!(ok(&get(&gw, "/mode").await), json!({"mode": "READWRITE"}));
}

// Confluent testReadOnlyMode, testGlobalMode (READONLY_OVERRIDE part),
// KafkaSchemaRegistry delete checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readonly_refuses_writes_with_42205() {
    let gw = start().await;
    let id = register(&gw, "ro", &record("a")).await;
    assert_eq!(
        ok(&put(&gw, "/mode", json!({"mode": "READONLY"})).await),
        json!({"mode": "READONLY"})
    );
    assert_eq!(ok(&get(&gw, "/mode").await), json!({"mode": "READONLY"}));
    error(
        &post(&gw, "/subjects/ro/versions", body(&record("b"))).await,
        422,
        42205,
    );
    error(
        &post(&gw, "/subjects/other/versions", body(&record("b"))).await,
        422,
        42205,
    );
    error(&delete(&gw, "/subjects/ro/versions/1").await, 422, 42205);
    error(&delete(&gw, "/subjects/ro").await, 422, 42205);
    // Reads still work.
    assert_eq!(ok(&get(&gw, "/subjects/ro/versions/1").await)["id"], id);
    ok(&post(&gw, "/subjects/ro", body(&record("a"))).await);
    assert_eq!(versions(&gw, "ro").await, json!([1]));

    // Back to READWRITE, then a subject-level READONLY only blocks that subject.
    ok(&put(&gw, "/mode", json!({"mode": "READWRITE"})).await);
    assert_eq!(
        ok(&put(&gw, "/mode/ro", json!({"mode": "READONLY"})).await),
        json!({"mode": "READONLY"})
    );
    assert_eq!(ok(&get(&gw, "/mode/ro").await), json!({"mode": "READONLY"}));
    error(
        &post(&gw, "/subjects/ro/versions", body(&record("b"))).await,
        422,
        42205,
    );
    register(&gw, "other", &record("b")).await;
}

// Confluent testSchemaReferences (testSchemaReferencesInContext).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_referenced_version_is_42206_and_referencedby_lists_referrers() {
    let gw = start().await;
    let sub = r#"{"type":"record","name":"Subrecord","namespace":"otherns","fields":[{"name":"f","type":"string"}]}"#;
    register(&gw, "my_reference", sub).await;
    let referrer = json!({
        "schema": r#"{"type":"record","name":"MyRecord","namespace":"ns","fields":[{"name":"sub","type":"otherns.Subrecord"}]}"#,
        "references": [{"name": "otherns.Subrecord", "subject": "my_reference", "version": 1}],
    });
    let parent = ok(&post(&gw, "/subjects/my_referrer/versions", referrer).await)["id"].clone();
    let by_id = ok(&get(&gw, &format!("/schemas/ids/{parent}")).await);
    assert_eq!(
        by_id["references"],
        json!([{"name": "otherns.Subrecord", "subject": "my_reference", "version": 1}])
    );
    assert_eq!(
        ok(&get(&gw, "/subjects/my_reference/versions/1/referencedby").await),
        json!([parent])
    );
    error(
        &delete(&gw, "/subjects/my_reference/versions/1").await,
        422,
        42206,
    );
    error(&delete(&gw, "/subjects/my_reference").await, 422, 42206);
    // Once the referrer is soft-deleted, the reference may go.
    assert_eq!(
        ok(&delete(&gw, "/subjects/my_referrer/versions/1").await),
        json!(1)
    );
    assert_eq!(
        ok(&get(&gw, "/subjects/my_reference/versions/1/referencedby").await),
        json!([])
    );
    assert_eq!(
        ok(&delete(&gw, "/subjects/my_reference/versions/1").await),
        json!(1)
    );
}

// Confluent testIncompatibleSchemaBySubject (INCOMPATIBLE_SCHEMA_ERROR_CODE is
// the bare 409); Karapace test_record_schema_compatibility_forward
// (`error_code` 409).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incompatible_schema_is_409_with_error_code_409() {
    let gw = start().await;
    let f1f2 = r#"{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f1"},{"type":"string","name":"f2"}]}"#;
    let f1 = r#"{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f1"}]}"#;
    let f1f3 = r#"{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f1"},{"type":"string","name":"f3"}]}"#;
    register(&gw, "inc", f1f2).await;
    register(&gw, "inc", f1).await;
    ok(&put(
        &gw,
        "/config/inc",
        json!({"compatibility": "FORWARD_TRANSITIVE"}),
    )
    .await);
    // Compatible with the latest, not with version 1.
    assert_eq!(
        ok(&post(
            &gw,
            "/compatibility/subjects/inc/versions/latest",
            body(f1f3)
        )
        .await),
        json!({"is_compatible": true})
    );
    assert_eq!(
        ok(&post(&gw, "/compatibility/subjects/inc/versions", body(f1f3)).await),
        json!({"is_compatible": false})
    );
    let message = error(
        &post(&gw, "/subjects/inc/versions", body(f1f3)).await,
        409,
        409,
    );
    assert!(!message.is_empty());
}

// ---------------------------------------------------------------------------
// Soft delete, `deleted`, `deletedOnly`, version numbering
// ---------------------------------------------------------------------------

// Confluent testListSoftDeletedSubjectsAndSchemas, testListSubjects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_and_deleted_only_on_listings() {
    let gw = start().await;
    register(&gw, "test1", &record("a")).await;
    register(&gw, "test1", &record("b")).await;
    register(&gw, "test2", &record("c")).await;
    assert_eq!(
        ok(&delete(&gw, "/subjects/test1/versions/1").await),
        json!(1)
    );
    assert_eq!(
        ok(&delete(&gw, "/subjects/test2/versions/1").await),
        json!(1)
    );

    assert_eq!(versions(&gw, "test1").await, json!([2]));
    assert_eq!(
        ok(&get(&gw, "/subjects/test1/versions?deleted=true").await),
        json!([1, 2])
    );
    assert_eq!(
        ok(&get(&gw, "/subjects/test1/versions?deletedOnly=true").await),
        json!([1])
    );
    assert_eq!(ok(&get(&gw, "/subjects").await), json!(["test1"]));
    assert_eq!(
        ok(&get(&gw, "/subjects?deleted=true").await),
        json!(["test1", "test2"])
    );
    assert_eq!(
        ok(&get(&gw, "/subjects?deletedOnly=true").await),
        json!(["test2"])
    );
    // A fully soft-deleted subject's versions are still listed with deleted=true.
    assert_eq!(
        ok(&get(&gw, "/subjects/test2/versions?deleted=true").await),
        json!([1])
    );

    // After a permanent delete, deleted=true no longer shows it.
    ok(&delete(&gw, "/subjects/test2?permanent=true").await);
    assert_eq!(
        ok(&get(&gw, "/subjects?deleted=true").await),
        json!(["test1"])
    );
    assert_eq!(ok(&get(&gw, "/subjects?deletedOnly=true").await), json!([]));
}

// Confluent testRegisterDiffContext (getAllSubjects(prefix, ...)).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_prefix_filters_subjects() {
    let gw = start().await;
    register(&gw, "orders-value", &record("a")).await;
    register(&gw, "orders-key", &record("b")).await;
    register(&gw, "users-value", &record("c")).await;
    assert_eq!(
        ok(&get(&gw, "/subjects?subjectPrefix=orders").await),
        json!(["orders-key", "orders-value"])
    );
    assert_eq!(
        ok(&get(&gw, "/subjects?subjectPrefix=users-").await),
        json!(["users-value"])
    );
    assert_eq!(
        ok(&get(&gw, "/subjects?subjectPrefix=zzz").await),
        json!([])
    );
    ok(&delete(&gw, "/subjects/orders-key").await);
    assert_eq!(
        ok(&get(&gw, "/subjects?subjectPrefix=orders").await),
        json!(["orders-value"])
    );
    assert_eq!(
        ok(&get(&gw, "/subjects?subjectPrefix=orders&deleted=true").await),
        json!(["orders-key", "orders-value"])
    );
}

// Confluent testDeleteSchemaVersionBasic, testDeleteWithLookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_deleted_versions_are_found_only_with_deleted_true() {
    let gw = start().await;
    let id1 = register(&gw, "sd", &record("a")).await;
    register(&gw, "sd", &record("b")).await;
    assert_eq!(ok(&delete(&gw, "/subjects/sd/versions/2").await), json!(2));
    assert_eq!(versions(&gw, "sd").await, json!([1]));

    error(&get(&gw, "/subjects/sd/versions/2").await, 404, 40402);
    let two = ok(&get(&gw, "/subjects/sd/versions/2?deleted=true").await);
    assert_eq!(two["version"], 2);
    assert_eq!(two["deleted"], true, "{two}");

    // Lookup of a soft-deleted schema: 40403, unless deleted=true.
    error(
        &post(&gw, "/subjects/sd", body(&record("b"))).await,
        404,
        40403,
    );
    let found = ok(&post(&gw, "/subjects/sd?deleted=true", body(&record("b"))).await);
    assert_eq!(found["version"], 2);

    // Deleting v1 too: "latest" deletes the newest live one.
    assert_eq!(
        ok(&delete(&gw, "/subjects/sd/versions/latest").await),
        json!(1)
    );
    error(&get(&gw, "/subjects/sd/versions").await, 404, 40401);
    let found = ok(&post(&gw, "/subjects/sd?deleted=true", body(&record("a"))).await);
    assert_eq!((&found["version"], &found["id"]), (&json!(1), &json!(id1)));

    // Re-registering continues after the highest version, twice the same.
    for _ in 0..2 {
        assert_eq!(register(&gw, "sd", &record("a")).await, id1);
        assert_eq!(versions(&gw, "sd").await, json!([3]));
    }
    // And the lookup now finds the live version 3, with or without deleted.
    for path in ["/subjects/sd", "/subjects/sd?deleted=true"] {
        assert_eq!(
            ok(&post(&gw, path, body(&record("a"))).await)["version"],
            3,
            "{path}"
        );
    }
}

// Confluent testDeleteSubjectAndRegister; Karapace test_schema_version_numbering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_deleted_subject_numbers_on_after_its_highest_version() {
    let gw = start().await;
    register(&gw, "again", &record("a")).await;
    register(&gw, "again", &record("b")).await;
    assert_eq!(ok(&delete(&gw, "/subjects/again").await), json!([1, 2]));
    register(&gw, "again", &record("a")).await;
    register(&gw, "again", &record("b")).await;
    assert_eq!(versions(&gw, "again").await, json!([3, 4]));
    error(&get(&gw, "/subjects/again/versions/1").await, 404, 40402);
}

// Confluent testDeleteSchemaVersionPermanent (after a permanent delete of
// version 2, the next version is 2 again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanently_deleted_versions_are_not_counted() {
    let gw = start().await;
    register(&gw, "perm", &record("a")).await;
    register(&gw, "perm", &record("b")).await;
    ok(&delete(&gw, "/subjects/perm/versions/2").await);
    assert_eq!(
        ok(&get(&gw, "/subjects/perm/versions?deleted=true").await),
        json!([1, 2])
    );
    ok(&delete(&gw, "/subjects/perm/versions/2?permanent=true").await);
    assert_eq!(
        ok(&delete(&gw, "/subjects/perm/versions/latest").await),
        json!(1)
    );
    error(&get(&gw, "/subjects/perm/versions").await, 404, 40401);
    for _ in 0..2 {
        register(&gw, "perm", &record("a")).await;
        assert_eq!(versions(&gw, "perm").await, json!([2]));
    }
}

// Confluent testDeleteLatestVersion, testGetLatestVersionDeleteOlder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_after_deleting_latest_is_the_previous_one() {
    let gw = start().await;
    let id1 = register(&gw, "lat", &record("a")).await;
    let id2 = register(&gw, "lat", &record("b")).await;
    assert_eq!(
        ok(&delete(&gw, "/subjects/lat/versions/latest").await),
        json!(2)
    );
    let latest = ok(&get(&gw, "/subjects/lat/versions/latest").await);
    assert_eq!(
        (&latest["version"], &latest["id"]),
        (&json!(1), &json!(id1))
    );
    assert_eq!(
        ok(&delete(&gw, "/subjects/lat/versions/latest").await),
        json!(1)
    );
    error(&get(&gw, "/subjects/lat/versions/latest").await, 404, 40401);
    let id3 = register(&gw, "lat", &record("c")).await;
    let latest = ok(&get(&gw, "/subjects/lat/versions/latest").await);
    assert_eq!(
        (&latest["version"], &latest["id"]),
        (&json!(3), &json!(id3))
    );
    assert_ne!(id3, id2);

    // Deleting an older version leaves the latest alone.
    let gw = start().await;
    register(&gw, "old", &record("a")).await;
    let newest = register(&gw, "old", &record("b")).await;
    ok(&delete(&gw, "/subjects/old/versions/1").await);
    assert_eq!(
        ok(&get(&gw, "/subjects/old/versions/latest").await)["id"],
        newest
    );
}

// Confluent testDeleteSubjectPermanent; Confluent docs "Delete Schemas":
// soft delete keeps the id for lookups, a hard delete removes all metadata,
// schema ids included. (Karapace keeps the id: test_schema_hard_delete_and_recreate.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_survive_a_soft_delete_but_not_a_hard_delete() {
    let gw = start().await;
    let id = register(&gw, "hd", &record("a")).await;
    let shared = register(&gw, "hd", &record("b")).await;
    register(&gw, "keeper", &record("b")).await;
    ok(&delete(&gw, "/subjects/hd").await);
    ok(&get(&gw, &format!("/schemas/ids/{id}")).await);
    // Lookups with deleted=true still find the soft-deleted versions.
    let found = ok(&post(&gw, "/subjects/hd?deleted=true", body(&record("a"))).await);
    assert_eq!(found["version"], 1);

    ok(&delete(&gw, "/subjects/hd?permanent=true").await);
    error(&get(&gw, &format!("/schemas/ids/{id}")).await, 404, 40403);
    // A schema another subject still uses stays.
    ok(&get(&gw, &format!("/schemas/ids/{shared}")).await);
    assert_eq!(
        ok(&get(&gw, &format!("/schemas/ids/{shared}/subjects")).await),
        json!(["keeper"])
    );
    // The subject is gone for lookups, deleted or not.
    error(
        &post(&gw, "/subjects/hd", body(&record("a"))).await,
        404,
        40401,
    );
    error(
        &post(&gw, "/subjects/hd?deleted=true", body(&record("a"))).await,
        404,
        40401,
    );
}

// Confluent testSubjectCompatibilityAfterDeletingAllVersions,
// testSubjectCompatibilityAfterDeletingSubject (the subject's own level goes
// with it; the global one stays).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_subject_drops_its_compatibility() {
    let gw = start().await;
    ok(&put(&gw, "/config", json!({"compatibility": "FULL"})).await);
    ok(&put(&gw, "/config/cs", json!({"compatibility": "BACKWARD"})).await);
    register(&gw, "cs", &record("a")).await;
    register(&gw, "cs", &record("b")).await;
    ok(&delete(&gw, "/subjects/cs").await);
    ok(&delete(&gw, "/subjects/cs?permanent=true").await);
    error(&get(&gw, "/config/cs").await, 404, 40408);
    assert_eq!(
        ok(&get(&gw, "/config").await),
        json!({"compatibilityLevel": "FULL"})
    );
}

// ---------------------------------------------------------------------------
// /schemas
// ---------------------------------------------------------------------------

// Confluent testGetSubjectsAssociatedWithSchemaId,
// testGetVersionsAssociatedWithSchemaId; Karapace assert_schema_versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_list_their_subjects_and_versions_with_deleted() {
    let gw = start().await;
    let id = register(&gw, "testTopic1", &record("a")).await;
    assert_eq!(register(&gw, "testTopic2", &record("a")).await, id);
    assert_eq!(
        ok(&get(&gw, &format!("/schemas/ids/{id}/subjects")).await),
        json!(["testTopic1", "testTopic2"])
    );
    let uses = by_subject(ok(&get(&gw, &format!("/schemas/ids/{id}/versions")).await));
    assert_eq!(
        uses,
        json!([{"subject": "testTopic1", "version": 1}, {"subject": "testTopic2", "version": 1}])
    );
    ok(&delete(&gw, "/subjects/testTopic2/versions/1").await);
    assert_eq!(
        ok(&get(&gw, &format!("/schemas/ids/{id}/subjects")).await),
        json!(["testTopic1"])
    );
    assert_eq!(
        ok(&get(&gw, &format!("/schemas/ids/{id}/subjects?deleted=true")).await),
        json!(["testTopic1", "testTopic2"])
    );
    assert_eq!(
        ok(&get(&gw, &format!("/schemas/ids/{id}/versions")).await),
        json!([{"subject": "testTopic1", "version": 1}])
    );
    assert_eq!(
        by_subject(ok(&get(
            &gw,
            &format!("/schemas/ids/{id}/versions?deleted=true")
        )
        .await)),
        json!([{"subject": "testTopic1", "version": 1}, {"subject": "testTopic2", "version": 1}])
    );
}

// Confluent testBasic (getSchemas(null, false, true)), testRegisterDiffContext
// (getSchemas(prefix, ...)); SchemasResource.getSchemas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schemas_listing_filters_by_prefix_deleted_and_latest() {
    let gw = start().await;
    let a1 = register(&gw, "alpha", &record("a")).await;
    let a2 = register(&gw, "alpha", &record("b")).await;
    let b1 = register(&gw, "beta", &record("c")).await;
    let all = ok(&get(&gw, "/schemas").await);
    let picked = |list: &Value| -> Vec<(String, u64, u64)> {
        list.as_array()
            .unwrap_or_else(|| panic!("array: {list}"))
            .iter()
            .map(|s| {
                assert!(s["schema"].is_string(), "{s}");
                (
                    s["subject"].as_str().unwrap().to_string(),
                    s["version"].as_u64().unwrap(),
                    s["id"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let row = |s: &str, v: u64, id: u64| (s.to_string(), v, id);
    assert_eq!(
        picked(&all),
        vec![row("alpha", 1, a1), row("alpha", 2, a2), row("beta", 1, b1)]
    );
    assert_eq!(
        picked(&ok(&get(&gw, "/schemas?latestOnly=true").await)),
        vec![row("alpha", 2, a2), row("beta", 1, b1)]
    );
    assert_eq!(
        picked(&ok(&get(&gw, "/schemas?subjectPrefix=be").await)),
        vec![row("beta", 1, b1)]
    );
    ok(&delete(&gw, "/subjects/beta").await);
    assert_eq!(
        picked(&ok(&get(&gw, "/schemas").await)),
        vec![row("alpha", 1, a1), row("alpha", 2, a2)]
    );
    assert_eq!(
        picked(&ok(&get(&gw, "/schemas?deleted=true").await)),
        vec![row("alpha", 1, a1), row("alpha", 2, a2), row("beta", 1, b1)]
    );
}

// ---------------------------------------------------------------------------
// /config
// ---------------------------------------------------------------------------

// Confluent testConfigDefaults, testGlobalConfigChange (deleteConfig(null)),
// testSubjectConfigChange, testNonExistentSubjectConfigChange; Karapace test_config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_get_put_delete_and_default_to_global() {
    let gw = start().await;
    assert_eq!(
        ok(&get(&gw, "/config").await),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    let reply = put(&gw, "/config", json!({"compatibility": "FORWARD"})).await;
    assert_eq!(ok(&reply), json!({"compatibility": "FORWARD"}));
    assert_eq!(reply.content_type(), SR);
    assert_eq!(
        ok(&get(&gw, "/config").await),
        json!({"compatibilityLevel": "FORWARD"})
    );

    // A subject that has no schema yet may have a level.
    assert_eq!(
        ok(&put(&gw, "/config/nosuch", json!({"compatibility": "FULL"})).await),
        json!({"compatibility": "FULL"})
    );
    assert_eq!(
        ok(&get(&gw, "/config/nosuch").await),
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        ok(&get(&gw, "/config/nosuch?defaultToGlobal=true").await),
        json!({"compatibilityLevel": "FULL"})
    );
    error(&get(&gw, "/subjects/nosuch/versions").await, 404, 40401);
    assert_eq!(
        ok(&get(&gw, "/config").await),
        json!({"compatibilityLevel": "FORWARD"}),
        "the global level is untouched"
    );

    // DELETE /config/{s} answers the old level; the global one applies again.
    assert_eq!(
        ok(&delete(&gw, "/config/nosuch").await),
        json!({"compatibilityLevel": "FULL"})
    );
    error(&get(&gw, "/config/nosuch").await, 404, 40408);
    assert_eq!(
        ok(&get(&gw, "/config/nosuch?defaultToGlobal=true").await),
        json!({"compatibilityLevel": "FORWARD"})
    );
    // Nothing to delete: ConfigResource.deleteSubjectConfig answers 40401.
    error(&delete(&gw, "/config/nosuch").await, 404, 40401);

    // DELETE /config resets the global level to the default.
    let old = ok(&delete(&gw, "/config").await);
    assert_eq!(old["compatibilityLevel"], "FORWARD", "{old}");
    assert_eq!(
        ok(&get(&gw, "/config").await),
        json!({"compatibilityLevel": "BACKWARD"})
    );
}

// Confluent testNonExistentSubjectConfigChange + every level name of
// CompatibilityLevel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_compatibility_level_round_trips() {
    let gw = start().await;
    for level in [
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    ] {
        assert_eq!(
            ok(&put(&gw, "/config/lv", json!({"compatibility": level})).await),
            json!({"compatibility": level})
        );
        assert_eq!(
            ok(&get(&gw, "/config/lv").await),
            json!({"compatibilityLevel": level})
        );
    }
}

// ---------------------------------------------------------------------------
// /mode
// ---------------------------------------------------------------------------

// Confluent testGlobalMode, testDeleteGlobalMode, testDeleteSubjectModeAfterGlobalMode,
// testDefaultContextConfigAndMode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_get_put_delete_and_default_to_global() {
    let gw = start().await;
    assert_eq!(ok(&get(&gw, "/mode").await), json!({"mode": "READWRITE"}));
    assert_eq!(
        ok(&put(&gw, "/mode", json!({"mode": "READONLY"})).await),
        json!({"mode": "READONLY"})
    );
    assert_eq!(
        ok(&put(&gw, "/mode/sub", json!({"mode": "READWRITE"})).await),
        json!({"mode": "READWRITE"})
    );
    assert_eq!(
        ok(&get(&gw, "/mode/sub").await),
        json!({"mode": "READWRITE"})
    );
    // The subject's own READWRITE lets it write despite the global READONLY.
    register(&gw, "sub", &record("a")).await;

    assert_eq!(
        ok(&delete(&gw, "/mode/sub").await),
        json!({"mode": "READWRITE"})
    );
    error(&get(&gw, "/mode/sub").await, 404, 40409);
    assert_eq!(
        ok(&get(&gw, "/mode/sub?defaultToGlobal=true").await),
        json!({"mode": "READONLY"})
    );
    // ModeResource.deleteSubjectMode: nothing to delete is 40401.
    error(&delete(&gw, "/mode/sub").await, 404, 40401);

    // DELETE /mode answers the old global mode and resets it to READWRITE.
    assert_eq!(ok(&delete(&gw, "/mode").await), json!({"mode": "READONLY"}));
    assert_eq!(ok(&get(&gw, "/mode").await), json!({"mode": "READWRITE"}));
}

// Confluent testInvalidImportMode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_on_a_non_empty_registry_needs_force() {
    let gw = start().await;
    register(&gw, "testSubject", &record("a")).await;
    error(
        &put(&gw, "/mode", json!({"mode": "IMPORT"})).await,
        422,
        42205,
    );
    assert_eq!(ok(&get(&gw, "/mode").await), json!({"mode": "READWRITE"}));
    error(
        &put(&gw, "/mode/testSubject", json!({"mode": "IMPORT"})).await,
        422,
        42205,
    );
    assert_eq!(
        ok(&put(
            &gw,
            "/mode/testSubject?force=true",
            json!({"mode": "IMPORT"})
        )
        .await),
        json!({"mode": "IMPORT"})
    );
    assert_eq!(
        ok(&put(&gw, "/mode?force=true", json!({"mode": "IMPORT"})).await),
        json!({"mode": "IMPORT"})
    );
    assert_eq!(ok(&get(&gw, "/mode").await), json!({"mode": "IMPORT"}));
}

// Confluent testImportMode, testImportModeWithSameSchemaDifferentIdAndSubject,
// testRegisterSchemaWithNoIdAfterImport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_keeps_the_given_id_and_version() {
    let gw = start().await;
    assert_eq!(
        ok(&put(&gw, "/mode", json!({"mode": "IMPORT"})).await),
        json!({"mode": "IMPORT"})
    );
    let imported = json!({"schema": record("a"), "id": 100, "version": 3});
    assert_eq!(
        ok(&post(&gw, "/subjects/imp/versions", imported).await)["id"],
        100
    );
    assert_eq!(versions(&gw, "imp").await, json!([3]));
    let v3 = ok(&get(&gw, "/subjects/imp/versions/3").await);
    assert_eq!((&v3["id"], &v3["version"]), (&json!(100), &json!(3)));
    let by_id = ok(&get(&gw, "/schemas/ids/100").await);
    assert_eq!(
        serde_json::from_str::<Value>(by_id["schema"].as_str().unwrap()).unwrap(),
        serde_json::from_str::<Value>(&record("a")).unwrap()
    );
    // The same schema may come in under another subject with another id.
    let other = json!({"schema": record("a"), "id": 200, "version": 1});
    assert_eq!(
        ok(&post(&gw, "/subjects/imp2/versions", other).await)["id"],
        200
    );
    assert_eq!(
        ok(&post(&gw, "/subjects/imp", body(&record("a"))).await)["version"],
        3
    );
    assert_eq!(
        ok(&post(&gw, "/subjects/imp2", body(&record("a"))).await)["version"],
        1
    );
    // Registering an existing schema without an id answers its id.
    assert_eq!(register(&gw, "imp", &record("a")).await, 100);

    // Back in READWRITE, new ids do not collide with imported ones.
    ok(&put(&gw, "/mode", json!({"mode": "READWRITE"})).await);
    let fresh = register(&gw, "fresh", &record("z")).await;
    assert!(fresh != 100 && fresh != 200, "{fresh}");
}

// Confluent testImportDifferentSchemaOnSameID, testImportModeWithoutId,
// testReadWriteMode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_an_id_taken_by_another_schema() {
    let gw = start().await;
    // READWRITE: an id in the body is not permitted.
    let with_id = json!({"schema": record("a"), "id": 1, "version": 1});
    let reply = post(&gw, "/subjects/subject1/versions", with_id.clone()).await;
    assert_eq!(reply.status, 422, "{}", reply.text);

    ok(&put(&gw, "/mode", json!({"mode": "IMPORT"})).await);
    assert_eq!(
        ok(&post(&gw, "/subjects/subject1/versions", with_id.clone()).await)["id"],
        1
    );
    // Idempotent.
    assert_eq!(
        ok(&post(&gw, "/subjects/subject1/versions", with_id).await)["id"],
        1
    );
    // Another schema on id 1, same subject or another: 42205.
    error(
        &post(
            &gw,
            "/subjects/subject1/versions",
            json!({"schema": record("b"), "id": 1, "version": 2}),
        )
        .await,
        422,
        42205,
    );
    error(
        &post(
            &gw,
            "/subjects/subject2/versions",
            json!({"schema": record("b"), "id": 1, "version": 1}),
        )
        .await,
        422,
        42205,
    );
    // A new schema without an id cannot be imported.
    let reply = post(&gw, "/subjects/subject3/versions", body(&record("c"))).await;
    assert_eq!(reply.status, 422, "{}", reply.text);
    assert_eq!(
        ok(&get(&gw, "/subjects").await),
        json!(["subject1"]),
        "nothing else was registered"
    );
}

// ---------------------------------------------------------------------------
// /compatibility
// ---------------------------------------------------------------------------

// Confluent testIncompatibleSchemaLookupBySubject (FULL, string -> int),
// CompatibilityResource `verbose`; Karapace test_compatibility_endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_compatibility_explains_why() {
    let gw = start().await;
    let string_f = r#"{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f"}]}"#;
    let int_f = r#"{"type":"record","name":"myrecord","fields":[{"type":"int","name":"f"}]}"#;
    ok(&put(&gw, "/config/vc", json!({"compatibility": "FULL"})).await);
    register(&gw, "vc", string_f).await;

    assert_eq!(
        ok(&post(&gw, "/compatibility/subjects/vc/versions/1", body(int_f)).await),
        json!({"is_compatible": false})
    );
    let verbose = ok(&post(
        &gw,
        "/compatibility/subjects/vc/versions/1?verbose=true",
        body(int_f),
    )
    .await);
    assert_eq!(verbose["is_compatible"], false);
    let messages = verbose["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("messages: {verbose}"));
    assert!(
        !messages.is_empty() && messages.iter().all(Value::is_string),
        "{verbose}"
    );
    let verbose_all = ok(&post(
        &gw,
        "/compatibility/subjects/vc/versions?verbose=true",
        body(int_f),
    )
    .await);
    assert_eq!(verbose_all["is_compatible"], false);
    assert!(!verbose_all["messages"].as_array().unwrap().is_empty());

    // Compatible and verbose: nothing to explain (no messages, or none).
    let fine = ok(&post(
        &gw,
        "/compatibility/subjects/vc/versions/latest?verbose=true",
        body(string_f),
    )
    .await);
    assert_eq!(fine["is_compatible"], true);
    assert!(
        fine.get("messages")
            .is_none_or(|m| m.as_array().is_some_and(Vec::is_empty)),
        "{fine}"
    );
}

// Confluent testCompatibilityNonExistentSubject (a subject with no versions
// is compatible with anything), testCompatibleSchemaLookupBySubject (checks
// register nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compatibility_against_a_missing_subject_is_true() {
    let gw = start().await;
    assert_eq!(
        ok(&post(
            &gw,
            "/compatibility/subjects/non-existent-subject/versions/latest",
            body(&record("a")),
        )
        .await),
        json!({"is_compatible": true})
    );
    assert_eq!(
        ok(&post(
            &gw,
            "/compatibility/subjects/non-existent-subject/versions",
            body(&record("a")),
        )
        .await),
        json!({"is_compatible": true})
    );
    error(
        &get(&gw, "/subjects/non-existent-subject/versions").await,
        404,
        40401,
    );
}

// Confluent testIncompatibleSchemaLookupBySubjectAfterDelete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_latest_changes_what_is_compatible() {
    let gw = start().await;
    let s1 = r#"{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f"}]}"#;
    let wrong = r#"{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f"},{"type":"string","name":"g","default":"d"}]}"#;
    let correct = r#"{"type":"record","name":"myrecord","fields":[{"type":"string","name":"f"},{"type":"int","name":"g","default":0}]}"#;
    ok(&put(&gw, "/config/ad", json!({"compatibility": "BACKWARD"})).await);
    register(&gw, "ad", s1).await;
    register(&gw, "ad", wrong).await;
    assert_eq!(
        ok(&post(
            &gw,
            "/compatibility/subjects/ad/versions/latest",
            body(correct)
        )
        .await),
        json!({"is_compatible": false})
    );
    error(
        &post(&gw, "/subjects/ad/versions", body(correct)).await,
        409,
        409,
    );
    ok(&delete(&gw, "/subjects/ad/versions/latest").await);
    assert_eq!(
        ok(&post(
            &gw,
            "/compatibility/subjects/ad/versions/latest",
            body(correct)
        )
        .await),
        json!({"is_compatible": true})
    );
    register(&gw, "ad", correct).await;
    assert_eq!(
        ok(&post(&gw, "/subjects/ad", body(correct)).await)["version"],
        3
    );
}

// ---------------------------------------------------------------------------
// normalize
// ---------------------------------------------------------------------------

// Confluent testSchemaNormalization (registerSchema(..., normalize=true),
// lookUpSubjectVersion(..., normalize=true)).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normalize_makes_differently_written_schemas_one() {
    let gw = start().await;
    let written = r#"{"type":"record","name":"myrecord","fields":[{"type":{"type":"int"},"name":"field0"},{"name":"field1","type":"string"}],"extraMetadata":{"a":1,"b":2}}"#;
    let rewritten = r#"{"name":"myrecord","type":"record","fields":[{"name":"field0","type":"int"},{"type":"string","name":"field1"}],"extraMetadata":{"b":2,"a":1}}"#;
    let id =
        ok(&post(&gw, "/subjects/norm/versions?normalize=true", body(written)).await)["id"].clone();
    let found = ok(&post(&gw, "/subjects/norm?normalize=true", body(rewritten)).await);
    assert_eq!((&found["id"], &found["version"]), (&id, &json!(1)));
    let again = ok(&post(
        &gw,
        "/subjects/norm/versions?normalize=true",
        body(rewritten),
    )
    .await);
    assert_eq!(again["id"], id);
    assert_eq!(versions(&gw, "norm").await, json!([1]));
    // An invalid schema is still 42201 with normalize.
    let invalid =
        r#"{"type":"record","name":"test","fields":[{"name":"s","type":"string","default":null}]}"#;
    error(
        &post(&gw, "/subjects/norm/versions?normalize=true", body(invalid)).await,
        422,
        42201,
    );
}

// ---------------------------------------------------------------------------
// Trailing slashes
// ---------------------------------------------------------------------------

// Karapace parametrizes most of test_schema.py with trail in ["", "/"]
// (test_union_to_union, test_config, test_compatibility_endpoint, ...).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_takes_a_trailing_slash() {
    let gw = start().await;
    let reply = post(&gw, "/subjects/trail/versions/", body(&record("a"))).await;
    let id = ok(&reply)["id"].as_u64().unwrap();
    assert_eq!(ok(&get(&gw, "/subjects/").await), json!(["trail"]));
    assert_eq!(ok(&get(&gw, "/subjects/trail/versions/").await), json!([1]));
    assert_eq!(ok(&get(&gw, "/subjects/trail/versions/1/").await)["id"], id);
    ok(&get(&gw, "/subjects/trail/versions/latest/schema/").await);
    assert_eq!(
        ok(&get(&gw, "/subjects/trail/versions/1/referencedby/").await),
        json!([])
    );
    assert_eq!(
        ok(&post(&gw, "/subjects/trail/", body(&record("a"))).await)["version"],
        1
    );
    ok(&get(&gw, &format!("/schemas/ids/{id}/")).await);
    ok(&get(&gw, &format!("/schemas/ids/{id}/schema/")).await);
    assert_eq!(
        ok(&get(&gw, &format!("/schemas/ids/{id}/subjects/")).await),
        json!(["trail"])
    );
    ok(&get(&gw, &format!("/schemas/ids/{id}/versions/")).await);
    ok(&get(&gw, "/schemas/").await);
    ok(&get(&gw, "/schemas/types/").await);
    assert_eq!(
        ok(&put(&gw, "/config/", json!({"compatibility": "FULL"})).await),
        json!({"compatibility": "FULL"})
    );
    assert_eq!(
        ok(&get(&gw, "/config/").await),
        json!({"compatibilityLevel": "FULL"})
    );
    ok(&put(&gw, "/config/trail/", json!({"compatibility": "NONE"})).await);
    assert_eq!(
        ok(&get(&gw, "/config/trail/").await),
        json!({"compatibilityLevel": "NONE"})
    );
    ok(&delete(&gw, "/config/trail/").await);
    assert_eq!(
        ok(&post(
            &gw,
            "/compatibility/subjects/trail/versions/latest/",
            body(&record("b")),
        )
        .await),
        json!({"is_compatible": true})
    );
    ok(&post(
        &gw,
        "/compatibility/subjects/trail/versions/",
        body(&record("b")),
    )
    .await);
    assert_eq!(ok(&get(&gw, "/mode/").await), json!({"mode": "READWRITE"}));
    ok(&put(&gw, "/mode/", json!({"mode": "READWRITE"})).await);
    ok(&put(&gw, "/mode/trail/", json!({"mode": "READWRITE"})).await);
    ok(&get(&gw, "/mode/trail/").await);
    ok(&delete(&gw, "/mode/trail/").await);
    assert_eq!(
        ok(&delete(&gw, "/subjects/trail/versions/1/").await),
        json!(1)
    );
    register(&gw, "trail", &record("b")).await;
    assert_eq!(ok(&delete(&gw, "/subjects/trail/").await), json!([2]));
}

// ---------------------------------------------------------------------------
// Content negotiation
// ---------------------------------------------------------------------------

async fn get_accepting(gw: &TestGateway, path: &str, accept: Option<&str>) -> Reply {
    let mut request = gw.http.get(format!("{}{path}", gw.url));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    reply_of(request.send().await.expect("answered")).await
}

async fn send_typed(
    gw: &TestGateway,
    method: Method,
    path: &str,
    content_type: &str,
    body: &str,
) -> Reply {
    let request = gw
        .http
        .request(method, format!("{}{path}", gw.url))
        .header("Content-Type", content_type)
        .body(body.to_string());
    reply_of(request.send().await.expect("answered")).await
}

// Karapace test_http_headers; Confluent @Produces(v1+json, schemaregistry+json
// qs=0.9, json qs=0.5) on every resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_headers_are_negotiated_with_weights_and_wildcards() {
    let gw = start().await;
    let cases: [(Option<&str>, &str); 10] = [
        (None, SR),
        (Some(SR), SR),
        (Some("application/vnd.schemaregistry+json"), "application/vnd.schemaregistry+json"),
        (Some("application/json"), "application/json"),
        (Some("*/*"), SR),
        (Some("*"), SR),
        (Some("application/*"), SR),
        (Some("text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"), SR),
        (
            Some("application/vnd.schemaregistry.v2+json; q=0.1, application/vnd.schemaregistry+json; q=0.9"),
            "application/vnd.schemaregistry+json",
        ),
        (Some("application/json; q=0.9, application/vnd.schemaregistry.v1+json; q=0.1"), "application/json"),
    ];
    // Every mismatch is collected, so one run shows them all.
    let mut wrong = Vec::new();
    for (accept, expected) in cases {
        for path in ["/subjects", "/config", "/mode", "/schemas/types"] {
            let reply = get_accepting(&gw, path, accept).await;
            let parses = serde_json::from_str::<Value>(&reply.text).is_ok();
            if (reply.status, reply.content_type(), parses) != (200, expected, true) {
                wrong.push(format!(
                    "{path} Accept {accept:?}: {} {} (want 200 {expected})",
                    reply.status,
                    reply.content_type()
                ));
            }
        }
    }
    for refused in [
        "text/html",
        "text/*",
        "application/octet-stream",
        "application/vnd.schemaregistry.v2+json",
    ] {
        for path in ["/subjects", "/config"] {
            let reply = get_accepting(&gw, path, Some(refused)).await;
            if reply.status != 406 {
                wrong.push(format!(
                    "{path} Accept {refused}: {} (want 406)",
                    reply.status
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// Karapace test_http_headers; Confluent @Consumes(v1+json, schemaregistry+json,
// json, octet-stream) on every resource.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_accepted_in_the_registry_types() {
    let gw = start().await;
    for (i, content_type) in [
        SR,
        "application/vnd.schemaregistry+json",
        "application/json",
        "application/octet-stream",
        "application/vnd.schemaregistry.v1+json; charset=utf-8",
    ]
    .into_iter()
    .enumerate()
    {
        let reply = send_typed(
            &gw,
            Method::PUT,
            "/config",
            content_type,
            r#"{"compatibility": "NONE"}"#,
        )
        .await;
        assert_eq!(
            ok(&reply),
            json!({"compatibility": "NONE"}),
            "{content_type}"
        );
        let schema = body(&record(&format!("f{i}"))).to_string();
        let reply = send_typed(
            &gw,
            Method::POST,
            "/subjects/ct/versions",
            content_type,
            &schema,
        )
        .await;
        assert!(ok(&reply)["id"].is_u64(), "{content_type}");
        let reply = send_typed(&gw, Method::POST, "/subjects/ct", content_type, &schema).await;
        assert_eq!(ok(&reply)["version"], i as u64 + 1, "{content_type}");
        let reply = send_typed(
            &gw,
            Method::POST,
            "/compatibility/subjects/ct/versions/latest",
            content_type,
            &schema,
        )
        .await;
        assert_eq!(ok(&reply)["is_compatible"], true, "{content_type}");
    }
    for refused in ["text/plain", "text/html"] {
        let reply = send_typed(
            &gw,
            Method::PUT,
            "/config",
            refused,
            r#"{"compatibility": "FULL"}"#,
        )
        .await;
        assert_eq!(reply.status, 415, "{refused}: {}", reply.text);
        assert_eq!(reply.json()["error_code"], 415, "{}", reply.text);
        assert_eq!(reply.content_type(), SR);
        let reply = send_typed(
            &gw,
            Method::POST,
            "/subjects/ct/versions",
            refused,
            &body(&record("zz")).to_string(),
        )
        .await;
        assert_eq!(reply.status, 415, "{refused}: {}", reply.text);
    }
    assert_eq!(
        ok(&get(&gw, "/config").await),
        json!({"compatibilityLevel": "NONE"}),
        "the refused bodies changed nothing"
    );
}
