//! Avro produce through the embedded Schema Registry, its API, and its
//! persistence in the `_schemas` topic.

mod common;

use std::time::Duration;

use apache_avro::types::Value as Avro;
use common::*;
use rdkafka::mocking::MockCluster;
use serde_json::json;

const AVRO: &str = "application/vnd.kafka.avro.v2+json";
const SR: &str = "application/vnd.schemaregistry.v1+json";
const USER: &str =
    r#"{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}]}"#;

/// Decodes a Confluent-framed Avro record with the schema the registry
/// gives for its id.
async fn decode(gw: &TestGateway, bytes: &[u8]) -> Avro {
    assert_eq!(bytes[0], 0, "magic byte");
    let id = u32::from_be_bytes(bytes[1..5].try_into().unwrap());
    let schema = gw.get(&format!("/schemas/ids/{id}")).await.json();
    let schema = apache_avro::Schema::parse_str(schema["schema"].as_str().unwrap()).unwrap();
    apache_avro::from_avro_datum(&schema, &mut &bytes[5..], None).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_avro_examples_work_and_decode() {
    let gw = TestGateway::start(embedded_config(&["avrotest", "avrokeytest2"], 1)).await;
    let reply = gw
        .post(
            "/topics/avrotest",
            AVRO,
            json!({"value_schema": USER, "records": [{"value": {"name": "testUser"}}]}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let answer = reply.json();
    let value_id = answer["value_schema_id"].as_u64().expect("value_schema_id");
    assert_eq!(answer["key_schema_id"], serde_json::Value::Null);

    // The same schema by id.
    let reply = gw
        .post(
            "/topics/avrotest",
            AVRO,
            json!({"value_schema_id": value_id, "records": [{"value": {"name": "second"}}]})
                .to_string(),
        )
        .await;
    assert_eq!(reply.json()["value_schema_id"], value_id);

    let reply = gw
        .post(
            "/topics/avrokeytest2",
            AVRO,
            json!({"key_schema": r#"{"name":"user_id"  ,"type": "int"   }"#, "value_schema": USER,
                   "records": [{"key": 1, "value": {"name": "testUser"}}]})
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let answer = reply.json();
    assert!(answer["key_schema_id"].is_u64());
    assert_eq!(answer["value_schema_id"], value_id, "same schema, same id");

    let stored = read_all(&gw.bootstrap, "avrotest", 1, 2).await;
    let first = decode(&gw, stored[0].value.as_ref().unwrap()).await;
    assert_eq!(
        first,
        Avro::Record(vec![("name".into(), Avro::String("testUser".into()))])
    );
    let keyed = read_all(&gw.bootstrap, "avrokeytest2", 1, 1).await;
    assert_eq!(
        decode(&gw, keyed[0].key.as_ref().unwrap()).await,
        Avro::Int(1)
    );

    let subjects = gw.get("/subjects").await.json();
    assert_eq!(
        subjects,
        json!(["avrokeytest2-key", "avrokeytest2-value", "avrotest-value"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_errors_answer_confluent_codes_and_write_nothing() {
    let t = topic("avro-errors");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let path = format!("/topics/{t}");
    gw.post(
        &path,
        AVRO,
        json!({"records": [{"value": {"name": "x"}}]}).to_string(),
    )
    .await
    .assert_error(422, 42202);
    gw.post(
        &path,
        AVRO,
        json!({"value_schema": USER, "records": [{"key": 1, "value": {"name": "x"}}]}).to_string(),
    )
    .await
    .assert_error(422, 42201);
    gw.post(
        &path,
        AVRO,
        json!({"value_schema": "{\"type\": \"nope\"}", "records": [{"value": 1}]}).to_string(),
    )
    .await
    .assert_error(422, 42205);
    let message = gw
        .post(&path, AVRO, json!({"value_schema": USER, "records": [{"value": {"name": "ok"}}, {"value": {"name": 5}}]}).to_string())
        .await
        .assert_error(422, 42206);
    assert!(
        message.contains("records[1].value") && message.contains("name"),
        "{message}"
    );
    gw.post(
        &path,
        AVRO,
        json!({"value_schema_id": 999999, "records": [{"value": {"name": "x"}}]}).to_string(),
    )
    .await
    .assert_error(422, 42207);
    let offsets = gw
        .get(&format!("/topics/{t}/partitions/0/offsets"))
        .await
        .json();
    assert_eq!(offsets["end_offset"], 0, "{offsets}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_api_enforces_compatibility() {
    let gw = TestGateway::start(embedded_config(&[], 1)).await;
    let v1 = json!({"schema": USER}).to_string();
    let v2 = json!({"schema": r#"{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int", "default": 0}]}"#}).to_string();
    let breaking = json!({"schema": r#"{"type": "record", "name": "User", "fields": [{"name": "email", "type": "string"}]}"#}).to_string();

    let id1 = gw
        .post("/subjects/users-value/versions", SR, v1.clone())
        .await
        .json()["id"]
        .clone();
    assert_eq!(
        gw.post("/subjects/users-value/versions", SR, v1.clone())
            .await
            .json()["id"],
        id1,
        "idempotent"
    );
    let id2 = gw
        .post("/subjects/users-value/versions", SR, v2.clone())
        .await
        .json()["id"]
        .clone();
    assert_ne!(id1, id2);
    gw.post("/subjects/users-value/versions", SR, breaking.clone())
        .await
        .assert_error(409, 409);
    let check = gw
        .post(
            "/compatibility/subjects/users-value/versions/latest",
            SR,
            breaking.clone(),
        )
        .await
        .json();
    assert_eq!(check["is_compatible"], false);

    assert_eq!(
        gw.get("/subjects/users-value/versions").await.json(),
        json!([1, 2])
    );
    let latest = gw.get("/subjects/users-value/versions/latest").await.json();
    assert_eq!(latest["version"], 2);
    assert_eq!(latest["id"], id2);
    let found = gw
        .post("/subjects/users-value", SR, v1.clone())
        .await
        .json();
    assert_eq!(found["version"], 1);
    assert_eq!(
        gw.get("/schemas/types").await.json(),
        json!(["AVRO", "JSON", "PROTOBUF"])
    );
    gw.get("/subjects/nobody/versions")
        .await
        .assert_error(404, 40401);
    gw.get("/subjects/users-value/versions/9")
        .await
        .assert_error(404, 40402);
    gw.get("/schemas/ids/424242").await.assert_error(404, 40403);

    let reply = gw
        .http
        .put(format!("{}/config/users-value", gw.url))
        .body(r#"{"compatibility": "NONE"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        gw.get("/config/users-value").await.json()["compatibilityLevel"],
        "NONE"
    );
    assert_eq!(
        gw.get("/config").await.json()["compatibilityLevel"],
        "BACKWARD"
    );
    let id3 = gw
        .post("/subjects/users-value/versions", SR, breaking)
        .await;
    assert_eq!(id3.status, 200, "{}", id3.text);

    // Removing the subject's own level brings back the global BACKWARD:
    // against every version (v1 has no email, v3 has it without default),
    // a schema like v1 with a new field and no default is incompatible.
    let reply = gw
        .http
        .delete(format!("{}/config/users-value", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    gw.get("/config/users-value").await.assert_error(404, 40408);
    let v4 = json!({"schema": r#"{"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}"#}).to_string();
    let check = gw
        .post("/compatibility/subjects/users-value/versions", SR, v4)
        .await
        .json();
    assert_eq!(check, json!({"is_compatible": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_survive_a_restart_and_two_instances_agree() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("_schemas", 1, 1).unwrap();
    let mut config = embedded_config(&[], 1);
    config.kafka.bootstrap_servers = cluster.bootstrap_servers();

    let a = TestGateway::start(config.clone()).await;
    let b = TestGateway::start(config.clone()).await;
    // Two instances register different schemas under one subject at once.
    let schema = |field: &str| {
        json!({"schema": format!(r#"{{"type": "record", "name": "R", "fields": [{{"name": "{field}", "type": "int", "default": 0}}]}}"#)}).to_string()
    };
    let (ra, rb) = tokio::join!(
        a.post("/subjects/shared-value/versions", SR, schema("a")),
        b.post("/subjects/shared-value/versions", SR, schema("b")),
    );
    let (ida, idb) = (ra.json()["id"].clone(), rb.json()["id"].clone());
    assert!(ida.is_u64() && idb.is_u64(), "{ra:?} {rb:?}");
    assert_ne!(ida, idb, "one id never names two schemas");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let va = a.get("/subjects/shared-value/versions").await.json();
    let vb = b.get("/subjects/shared-value/versions").await.json();
    assert_eq!(va, json!([1, 2]));
    assert_eq!(va, vb, "both instances fold the same log");
    a.stop().await.unwrap();
    b.stop().await.unwrap();

    let c = TestGateway::start(config).await;
    let schema_a = c.get(&format!("/schemas/ids/{ida}")).await;
    assert_eq!(schema_a.status, 200, "{}", schema_a.text);
    assert!(schema_a.json()["schema"]
        .as_str()
        .unwrap()
        .contains("\"a\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_records_are_validated_and_framed() {
    const JSONSCHEMA: &str = "application/vnd.kafka.jsonschema.v2+json";
    let t = topic("jsonschema");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let schema = r#"{"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}, "required": ["id"]}"#;
    let reply = gw
        .post(
            &format!("/topics/{t}"),
            JSONSCHEMA,
            json!({"value_schema": schema, "records": [{"value": {"id": 1, "name": "pen"}}]})
                .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let id = reply.json()["value_schema_id"].as_u64().unwrap();
    let message = gw
        .post(
            &format!("/topics/{t}"),
            JSONSCHEMA,
            json!({"value_schema_id": id, "records": [{"value": {"name": "no id"}}]}).to_string(),
        )
        .await
        .assert_error(422, 42206);
    assert!(
        message.contains("records[0].value") && message.contains("id"),
        "{message}"
    );
    // An Avro request cannot use a JSON schema's id.
    gw.post(
        &format!("/topics/{t}"),
        AVRO,
        json!({"value_schema_id": id, "records": [{"value": 1}]}).to_string(),
    )
    .await
    .assert_error(422, 42207);

    let stored = read_all(&gw.bootstrap, &t, 1, 1).await;
    let bytes = stored[0].value.as_ref().unwrap();
    assert_eq!(bytes[0], 0);
    assert_eq!(
        u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as u64,
        id
    );
    let value: serde_json::Value = serde_json::from_slice(&bytes[5..]).unwrap();
    assert_eq!(value, json!({"id": 1, "name": "pen"}));

    let described = gw.get(&format!("/schemas/ids/{id}")).await.json();
    assert_eq!(described["schemaType"], "JSON");
    // Under the default BACKWARD level a second version must read what the
    // first wrote: narrowing a type is refused, naming where...
    let subject = format!("/subjects/{t}-value/versions");
    let narrowed = r#"{"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}, "required": ["id"]}"#;
    let v2 = json!({"schemaType": "JSON", "schema": narrowed}).to_string();
    let message = gw
        .post(&subject, SR, v2.clone())
        .await
        .assert_error(409, 409);
    assert!(message.contains("/properties/id"), "{message}");
    let check = gw
        .post(
            &format!("/compatibility/subjects/{t}-value/versions/latest?verbose=true"),
            SR,
            v2,
        )
        .await
        .json();
    assert_eq!(check["is_compatible"], false);
    assert!(check["messages"][0]
        .as_str()
        .unwrap()
        .contains("/properties/id"));
    // ...widening one is accepted as version 2.
    let widened = r#"{"type": "object", "properties": {"id": {"type": "number"}, "name": {"type": "string"}}}"#;
    let v2 = json!({"schemaType": "JSON", "schema": widened}).to_string();
    let reply = gw.post(&subject, SR, v2).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_ne!(reply.json()["id"].as_u64(), Some(id));
    assert_eq!(gw.get(&subject).await.json(), json!([1, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protobuf_records_are_encoded_with_the_message_index() {
    const PROTOBUF: &str = "application/vnd.kafka.protobuf.v2+json";
    let t = topic("protobuf");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let schema = r#"syntax = "proto3"; package shop; message Order { int32 product_id = 1; string name = 2; }"#;
    let reply = gw
        .post(
            &format!("/topics/{t}"),
            PROTOBUF,
            json!({"value_schema": schema, "records": [{"value": {"product_id": 7, "name": "pen"}}]}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let id = reply.json()["value_schema_id"].as_u64().unwrap();
    gw.post(
        &format!("/topics/{t}"),
        PROTOBUF,
        json!({"value_schema_id": id, "records": [{"value": {"product_id": "x"}}]}).to_string(),
    )
    .await
    .assert_error(422, 42206);
    gw.post(
        &format!("/topics/{t}"),
        PROTOBUF,
        json!({"value_schema": "message {", "records": [{"value": {}}]}).to_string(),
    )
    .await
    .assert_error(422, 42205);

    let stored = read_all(&gw.bootstrap, &t, 1, 1).await;
    let bytes = stored[0].value.as_ref().unwrap();
    assert_eq!(bytes[0], 0);
    assert_eq!(
        u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as u64,
        id
    );
    assert_eq!(bytes[5], 0, "message-index path [0]");
    // Decode with the schema the registry serves.
    let described = gw.get(&format!("/schemas/ids/{id}")).await.json();
    assert_eq!(described["schemaType"], "PROTOBUF");
    let descriptor =
        gateway_codecs::protobuf::compile(described["schema"].as_str().unwrap(), &[]).unwrap();
    let message = prost_reflect::DynamicMessage::decode(descriptor, &bytes[6..]).unwrap();
    assert_eq!(
        message.get_field_by_name("product_id").unwrap().as_i32(),
        Some(7)
    );
    assert_eq!(
        message.get_field_by_name("name").unwrap().as_str(),
        Some("pen")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_and_subjects_are_soft_then_hard_deleted() {
    let gw = TestGateway::start(embedded_config(&[], 1)).await;
    let delete = |path: String| {
        let request = gw.http.delete(format!("{}{path}", gw.url));
        async move {
            let r = request.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let v1 = json!({"schema": USER}).to_string();
    let id = gw
        .post("/subjects/gone-value/versions", SR, v1.clone())
        .await
        .json()["id"]
        .clone();

    // A permanent delete needs a soft delete first.
    let (status, body) = delete("/subjects/gone-value/versions/1?permanent=true".into()).await;
    assert_eq!((status, body.contains("40407")), (404, true), "{body}");
    let (status, body) = delete("/subjects/gone-value/versions/1".into()).await;
    assert_eq!((status, body.as_str()), (200, "1"));
    gw.get("/subjects/gone-value/versions")
        .await
        .assert_error(404, 40401);
    assert_eq!(gw.get("/subjects").await.json(), json!([]));
    // Still readable by id: records written with it must stay decodable.
    assert_eq!(gw.get(&format!("/schemas/ids/{id}")).await.status, 200);
    // Registering again makes a new version.
    let again = gw
        .post("/subjects/gone-value/versions", SR, v1)
        .await
        .json();
    assert_eq!(again["id"], id);
    assert_eq!(
        gw.get("/subjects/gone-value/versions").await.json(),
        json!([2])
    );

    let (status, body) = delete("/subjects/gone-value".into()).await;
    assert_eq!((status, body.as_str()), (200, "[2]"));
    let (status, body) = delete("/subjects/gone-value?permanent=true".into()).await;
    assert_eq!((status, body.as_str()), (200, "[1,2]"));
    let (status, _) = delete("/subjects/gone-value".into()).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_registry_is_used_when_configured() {
    // Gateway `a` plays the external registry (its embedded one); gateway
    // `b` produces through it, to a's broker.
    let t = topic("external");
    let a = TestGateway::start(embedded_config(&[&t], 1)).await;
    let mut config = embedded_config(&[], 1);
    config.kafka.bootstrap_servers = a.bootstrap.clone();
    config.schema_registry.url = format!("{}/", a.url);
    config.schema_registry.basic_auth_user_info = "user:secret".into();
    let b = TestGateway::start(config).await;

    let reply = b
        .post(
            &format!("/topics/{t}"),
            AVRO,
            json!({"value_schema": USER, "records": [{"value": {"name": "via b"}}]}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let id = reply.json()["value_schema_id"].clone();
    assert_eq!(
        a.get("/subjects").await.json(),
        json!([format!("{t}-value")]),
        "registered in a"
    );
    let reply = b
        .post(
            &format!("/topics/{t}"),
            AVRO,
            json!({"value_schema_id": id, "records": [{"value": {"name": "by id"}}]}).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let breaking =
        r#"{"type": "record", "name": "User", "fields": [{"name": "email", "type": "string"}]}"#;
    b.post(
        &format!("/topics/{t}"),
        AVRO,
        json!({"value_schema": breaking, "records": [{"value": {"email": "x"}}]}).to_string(),
    )
    .await
    .assert_error(409, 409);
    b.get("/subjects").await.assert_error(404, 404);

    // A schema with references in the external registry: b fetches them
    // (transitively) to build its codec.
    let city =
        r#"{"type": "enum", "name": "City", "namespace": "geo", "symbols": ["DELFT", "LYON"]}"#;
    let place = r#"{"type": "record", "name": "Place", "namespace": "geo", "fields": [{"name": "city", "type": "City"}]}"#;
    let visit = r#"{"type": "record", "name": "Visit", "namespace": "geo", "fields": [{"name": "at", "type": "Place"}]}"#;
    register(&a, "geo-city", json!({"schema": city})).await;
    register(
        &a,
        "geo-place",
        json!({"schema": place, "references": [{"name": "geo.City", "subject": "geo-city", "version": 1}]}),
    )
    .await;
    let visit_id = register(
        &a,
        "geo-visit",
        json!({"schema": visit, "references": [{"name": "geo.Place", "subject": "geo-place", "version": 1}]}),
    )
    .await;
    let reply = b
        .post(
            &format!("/topics/{t}"),
            AVRO,
            json!({"value_schema_id": visit_id, "records": [{"value": {"at": {"city": "LYON"}}}]})
                .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    let stored = read_all(&a.bootstrap, &t, 1, 3).await;
    assert_eq!(
        decode(&a, stored[1].value.as_ref().unwrap()).await,
        Avro::Record(vec![("name".into(), Avro::String("by id".into()))])
    );
    let bytes = stored[2].value.as_ref().unwrap();
    assert_eq!(&bytes[1..5], &(visit_id as u32).to_be_bytes());
    // Avro binary: the record's one field, a record whose enum is index 1.
    assert_eq!(&bytes[5..], &[2]);
}

/// Registers `body` under `subject`; returns the id.
async fn register(gw: &TestGateway, subject: &str, body: serde_json::Value) -> u64 {
    let reply = gw
        .post(
            &format!("/subjects/{subject}/versions"),
            SR,
            body.to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["id"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_work_in_all_three_formats_and_survive_a_restart() {
    let (avro_topic, proto_topic, json_topic) =
        (topic("refs-avro"), topic("refs-proto"), topic("refs-json"));
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("_schemas", 1, 1).unwrap();
    for t in [&avro_topic, &proto_topic, &json_topic] {
        cluster.create_topic(t, 1, 1).unwrap();
    }
    let mut config = embedded_config(&[], 1);
    config.kafka.bootstrap_servers = cluster.bootstrap_servers();
    let gw = TestGateway::start(config.clone()).await;

    // Avro: a named type from another subject.
    let address = r#"{"type": "record", "name": "Address", "namespace": "shop",
        "fields": [{"name": "city", "type": "string"}]}"#;
    let order = r#"{"type": "record", "name": "Order", "namespace": "shop",
        "fields": [{"name": "id", "type": "int"}, {"name": "ship_to", "type": "Address"}]}"#;
    let address_id = register(&gw, "shop-address", json!({"schema": address})).await;
    let reference = json!([{"name": "shop.Address", "subject": "shop-address", "version": 1}]);
    let order_id = register(
        &gw,
        &format!("{avro_topic}-value"),
        json!({"schema": order, "references": reference}),
    )
    .await;
    assert_ne!(order_id, address_id);
    // The same schema without its references does not parse.
    gw.post(
        "/subjects/other/versions",
        SR,
        json!({"schema": order}).to_string(),
    )
    .await
    .assert_error(422, 42201);
    // Nor with a reference to a version that does not exist.
    let missing = json!([{"name": "shop.Address", "subject": "shop-address", "version": 7}]);
    let message = gw
        .post(
            "/subjects/other/versions",
            SR,
            json!({"schema": order, "references": missing}).to_string(),
        )
        .await
        .assert_error(422, 42201);
    assert!(message.contains("version 7"), "{message}");
    let described = gw.get(&format!("/schemas/ids/{order_id}")).await.json();
    assert_eq!(described["references"], reference);
    assert_eq!(
        gw.get("/subjects/shop-address/versions/1/referencedby")
            .await
            .json(),
        json!([order_id])
    );
    let reply = gw
        .post(
            &format!("/topics/{avro_topic}"),
            AVRO,
            json!({"value_schema_id": order_id,
                   "records": [{"value": {"id": 1, "ship_to": {"city": "Delft"}}}]})
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // Protobuf: an import from another subject.
    let common = r#"syntax = "proto3"; package shop.common; message Money { string currency = 1; int64 cents = 2; }"#;
    let invoice = r#"syntax = "proto3"; package shop; import "shop/common.proto";
        message Invoice { string number = 1; shop.common.Money total = 2; }"#;
    register(
        &gw,
        "shop-common",
        json!({"schema": common, "schemaType": "PROTOBUF"}),
    )
    .await;
    let invoice_id = register(
        &gw,
        &format!("{proto_topic}-value"),
        json!({"schema": invoice, "schemaType": "PROTOBUF",
               "references": [{"name": "shop/common.proto", "subject": "shop-common", "version": 1}]}),
    )
    .await;
    let reply = gw
        .post(
            &format!("/topics/{proto_topic}"),
            "application/vnd.kafka.protobuf.v2+json",
            json!({"value_schema_id": invoice_id,
                   "records": [{"value": {"number": "A1", "total": {"currency": "EUR", "cents": 250}}}]})
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // JSON Schema: a $ref to another subject's schema.
    let city =
        r#"{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"#;
    let customer = r#"{"type": "object", "properties": {"name": {"type": "string"},
        "address": {"$ref": "address.json"}}, "required": ["address"]}"#;
    register(
        &gw,
        "shop-city",
        json!({"schema": city, "schemaType": "JSON"}),
    )
    .await;
    let customer_id = register(
        &gw,
        &format!("{json_topic}-value"),
        json!({"schema": customer, "schemaType": "JSON",
               "references": [{"name": "address.json", "subject": "shop-city", "version": 1}]}),
    )
    .await;
    let json_path = format!("/topics/{json_topic}");
    let produce_json = |value: serde_json::Value| {
        gw.post(
            &json_path,
            "application/vnd.kafka.jsonschema.v2+json",
            json!({"value_schema_id": customer_id, "records": [{"value": value}]}).to_string(),
        )
    };
    let message = produce_json(json!({"address": {"city": 5}}))
        .await
        .assert_error(422, 42206);
    assert!(message.contains("/address/city"), "{message}");
    let reply = produce_json(json!({"name": "Ann", "address": {"city": "Delft"}})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // A referenced version cannot be deleted while it is referenced.
    let response = gw
        .http
        .delete(format!("{}/subjects/shop-address/versions/1", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    assert_eq!(
        response.json::<serde_json::Value>().await.unwrap()["error_code"],
        42206
    );
    gw.stop().await.unwrap();

    // A new instance reads the references back from `_schemas`, and
    // produces with them.
    let gw = TestGateway::start(config).await;
    assert_eq!(
        gw.get(&format!("/schemas/ids/{order_id}")).await.json()["references"],
        reference
    );
    let reply = gw
        .post(
            &format!("/topics/{avro_topic}"),
            AVRO,
            json!({"value_schema_id": order_id,
                   "records": [{"value": {"id": 2, "ship_to": {"city": "Lyon"}}}]})
            .to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // What is in Kafka decodes with the schemas and references served.
    let stored = read_all(&gw.bootstrap, &avro_topic, 1, 2).await;
    assert_eq!(stored.len(), 2);
    let bytes = stored[1].value.as_ref().unwrap();
    assert_eq!(&bytes[1..5], &(order_id as u32).to_be_bytes());
    let (schema, named) = apache_avro::Schema::parse_str_with_list(order, [address]).unwrap();
    let datum = apache_avro::from_avro_datum_schemata(
        &schema,
        named.iter().collect(),
        &mut &bytes[5..],
        None,
    )
    .unwrap();
    assert_eq!(
        datum,
        Avro::Record(vec![
            ("id".into(), Avro::Int(2)),
            (
                "ship_to".into(),
                Avro::Record(vec![("city".into(), Avro::String("Lyon".into()))])
            ),
        ])
    );
    let stored = read_all(&gw.bootstrap, &proto_topic, 1, 1).await;
    let bytes = stored[0].value.as_ref().unwrap();
    let descriptor = gateway_codecs::protobuf::compile(
        invoice,
        &[gateway_codecs::Referenced {
            name: "shop/common.proto".into(),
            schema: common.into(),
        }],
    )
    .unwrap();
    let message = prost_reflect::DynamicMessage::decode(descriptor, &bytes[6..]).unwrap();
    let total = message.get_field_by_name("total").unwrap();
    assert_eq!(
        total
            .as_message()
            .unwrap()
            .get_field_by_name("cents")
            .unwrap()
            .as_i64(),
        Some(250)
    );
    let stored = read_all(&gw.bootstrap, &json_topic, 1, 1).await;
    assert_eq!(stored.len(), 1, "the invalid record was not written");
}
