//! v3 administration against the real server: consumer groups and lag,
//! configs, brokers, replicas, reassignments, ACLs; every link the v3 API
//! advertises resolves; what the broker cannot do answers 501 (50101) at
//! once. First against the embedded broker (librdkafka's mock cluster,
//! which has OffsetFetch/OffsetCommit but no ListGroups, DescribeGroups,
//! DescribeConfigs, IncrementalAlterConfigs, DescribeCluster or ACL APIs),
//! then, ignored unless `tests/run.sh` sets KAFKA_GATEWAY_TEST_BOOTSTRAP,
//! against tansu.

mod common;

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

async fn cluster_id(gw: &TestGateway) -> String {
    gw.get("/v3/clusters").await.json()["data"][0]["cluster_id"]
        .as_str()
        .expect("a cluster id")
        .to_string()
}

async fn send(gw: &TestGateway, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = gw
        .http
        .request(method, format!("{}{path}", gw.url))
        .header("Accept", "application/json");
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    Reply::from(request.send().await.expect("request is answered")).await
}

/// Asserts a 501 with error_code 50101, answered well within an admin
/// timeout.
async fn assert_unsupported_at_once(
    gw: &TestGateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) {
    let started = Instant::now();
    let reply = send(gw, method.clone(), path, body).await;
    assert_eq!(reply.status, 501, "{method} {path}: {}", reply.text);
    assert_eq!(reply.json()["error_code"], 50101, "{method} {path}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{method} {path} took {:?}",
        started.elapsed()
    );
}

/// Every `self` and `related` link in `v`.
fn links(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("self" | "related", Value::String(url)) => out.push(url.clone()),
                    _ => links(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| links(i, out)),
        _ => {}
    }
}

/// Walks every link reachable from `start`; returns what was visited.
/// Nothing may answer 404 or 5xx, except the documented 501 (50101) and
/// a single partition's reassignment (404 when none runs, as Confluent).
async fn walk(gw: &TestGateway, start: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([format!("{}{start}", gw.url)]);
    while let Some(url) = queue.pop_front() {
        if !seen.insert(url.clone()) {
            continue;
        }
        assert!(seen.len() < 2000, "the link walk does not end");
        assert!(url.starts_with(&gw.url), "a link off the gateway: {url}");
        let reply = Reply::from(gw.http.get(&url).send().await.unwrap()).await;
        let allowed_404 = url.ends_with("/reassignment") && !url.contains("/partitions/-/");
        if reply.status == 501 {
            assert_eq!(reply.json()["error_code"], 50101, "{url}");
            continue;
        }
        if reply.status == 404 && allowed_404 {
            continue;
        }
        if reply.status == 404 && gone_meanwhile(gw, &url).await {
            // On a shared broker another test's group member may leave
            // between the listing that linked it and this request.
            continue;
        }
        assert!(
            reply.status < 400,
            "{url} answered {}: {}",
            reply.status,
            reply.text
        );
        let mut found = Vec::new();
        links(&reply.json(), &mut found);
        queue.extend(found);
    }
    seen
}

/// Whether the consumer group or group member that `url` names is no
/// longer in its collection's listing: it went away after being linked.
async fn gone_meanwhile(gw: &TestGateway, url: &str) -> bool {
    let Some((base, rest)) = url.split_once("/consumer-groups/") else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let (listing, name) = match parts.as_slice() {
        [group, "consumers", member, ..] => {
            (format!("{base}/consumer-groups/{group}/consumers"), *member)
        }
        [group, ..] => (format!("{base}/consumer-groups"), *group),
        [] => return false,
    };
    let reply = Reply::from(gw.http.get(&listing).send().await.unwrap()).await;
    if reply.status == 404 {
        // The whole group went: its listing of members is gone too.
        return listing.ends_with("/consumers");
    }
    let body = reply.json();
    let listed = body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|item| item["consumer_group_id"] == name || item["consumer_id"] == name);
    !listed
}

fn group_consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap()
}

/// Commits `offset` for the partition without joining the group (a simple
/// consumer, as Kafka calls it).
fn commit_simple(bootstrap: &str, group: &str, topic: &str, partition: i32, offset: i64) {
    let consumer = group_consumer(bootstrap, group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .unwrap();
    consumer.commit(&tpl, CommitMode::Sync).unwrap();
}

/// Produces `n` records, one request each (so each is its own batch).
async fn produce(gw: &TestGateway, topic: &str, partition: i32, n: usize) {
    for i in 0..n {
        let reply = gw
            .post(
                &format!("/topics/{topic}/partitions/{partition}"),
                JSON,
                json!({"records": [{"value": {"i": i}}]}).to_string(),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_link_resolves_on_the_embedded_broker() {
    let t = topic("links");
    let gw = TestGateway::start(embedded_config(&[&t], 2)).await;
    let cluster = cluster_id(&gw).await;
    // A group with offsets, so lag resources exist too.
    produce(&gw, &t, 0, 3).await;
    commit_simple(&gw.bootstrap, "walker", &t, 0, 1);
    for prefix in ["/v3", "/kafka/v3"] {
        let seen = walk(&gw, &format!("{prefix}/clusters")).await;
        for expected in [
            "/acls",
            "/brokers/1",
            "/brokers/1/configs",
            "/brokers/1/partition-replicas",
            "/broker-configs",
            "/consumer-groups",
            "/topics/-/partitions/-/reassignment",
            &format!("/topics/{t}/configs"),
            &format!("/topics/{t}/partitions/-/reassignment"),
            &format!("/topics/{t}/partitions/1/replicas"),
            &format!("/topics/{t}/partitions/1/replicas/1"),
            &format!("/topics/{t}/partitions/1/reassignment"),
        ] {
            let url = format!("{}{prefix}/clusters/{cluster}{expected}", gw.url);
            assert!(seen.contains(&url), "{url} not reached: {seen:#?}");
        }
    }
    // And the lag resources, reached from a group's lags.
    let seen = walk(
        &gw,
        &format!("/v3/clusters/{cluster}/consumer-groups/walker/lags"),
    )
    .await;
    assert!(seen
        .iter()
        .any(|u| u.ends_with(&format!("/consumer-groups/walker/lags/{t}/partitions/0"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_embedded_broker_cannot_do_answers_501_at_once() {
    let t = topic("unsupported");
    let gw = TestGateway::start(embedded_config(&[&t], 1)).await;
    let c = format!("/v3/clusters/{}", cluster_id(&gw).await);
    use reqwest::Method;
    let acl = json!({"resource_type": "TOPIC", "resource_name": "x", "pattern_type": "LITERAL",
                     "principal": "User:alice", "host": "*", "operation": "READ", "permission": "ALLOW"});
    let cases = [
        (Method::GET, format!("{c}/topics/{t}/configs"), None),
        (
            Method::GET,
            format!("{c}/topics/{t}/configs/retention.ms"),
            None,
        ),
        (
            Method::PUT,
            format!("{c}/topics/{t}/configs/retention.ms"),
            Some(json!({"value": "1000"})),
        ),
        (
            Method::DELETE,
            format!("{c}/topics/{t}/configs/retention.ms"),
            None,
        ),
        (
            Method::POST,
            format!("{c}/topics/{t}/configs:alter"),
            Some(json!({"data": [{"name": "retention.ms", "value": "1"}]})),
        ),
        (Method::GET, format!("{c}/brokers/1/configs"), None),
        (
            Method::POST,
            format!("{c}/brokers/1/configs:alter"),
            Some(json!({"data": [{"name": "log.retention.ms", "operation": "DELETE"}]})),
        ),
        (Method::GET, format!("{c}/broker-configs"), None),
        (
            Method::PUT,
            format!("{c}/broker-configs/log.retention.ms"),
            Some(json!({"value": "1"})),
        ),
        (Method::GET, format!("{c}/consumer-groups"), None),
        (Method::GET, format!("{c}/consumer-groups/g"), None),
        (
            Method::GET,
            format!("{c}/consumer-groups/g/consumers"),
            None,
        ),
        (Method::GET, format!("{c}/acls"), None),
        (Method::POST, format!("{c}/acls"), Some(acl)),
        (
            Method::DELETE,
            format!("{c}/acls?resource_type=TOPIC"),
            None,
        ),
        (
            Method::POST,
            format!("{c}/topics"),
            Some(json!({"topic_name": "new-topic"})),
        ),
        (Method::DELETE, format!("{c}/topics/{t}"), None),
    ];
    for (method, path, body) in cases {
        assert_unsupported_at_once(&gw, method.clone(), &path, body.clone()).await;
        // Under /kafka/v3 too.
        assert_unsupported_at_once(&gw, method, &format!("/kafka{path}"), body).await;
    }
    // Bad input is still answered as such, before the broker is asked.
    let reply = send(
        &gw,
        Method::POST,
        &format!("{c}/topics/{t}/configs:alter"),
        Some(json!({"data": [{"name": "a", "operation": "APPEND", "value": "x"}]})),
    )
    .await;
    reply.assert_error(422, 422);
    let reply = send(&gw, Method::GET, &format!("{c}/acls?operation=EAT"), None).await;
    reply.assert_error(400, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lags_of_a_simple_consumer_on_the_embedded_broker() {
    let t = topic("lag");
    let gw = TestGateway::start(embedded_config(&[&t], 2)).await;
    let c = format!("/v3/clusters/{}", cluster_id(&gw).await);
    produce(&gw, &t, 0, 7).await;
    produce(&gw, &t, 1, 4).await;
    commit_simple(&gw.bootstrap, "simple", &t, 0, 2);
    commit_simple(&gw.bootstrap, "simple", &t, 1, 4);

    let lags = gw.get(&format!("{c}/consumer-groups/simple/lags")).await;
    assert_eq!(lags.status, 200, "{}", lags.text);
    let lags = lags.json();
    assert_eq!(lags["kind"], "KafkaConsumerLagList");
    let data = lags["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{lags}");
    assert_eq!(data[0]["kind"], "KafkaConsumerLag");
    assert_eq!(data[0]["consumer_group_id"], "simple");
    assert_eq!(data[0]["topic_name"], t.as_str());
    assert_eq!(
        (
            &data[0]["partition_id"],
            &data[0]["current_offset"],
            &data[0]["log_end_offset"],
            &data[0]["lag"]
        ),
        (&json!(0), &json!(2), &json!(7), &json!(5))
    );
    assert_eq!(data[1]["lag"], 0);
    // No members: nobody is assigned.
    assert_eq!(data[0]["consumer_id"], Value::Null);

    let one = gw
        .get(&format!("{c}/consumer-groups/simple/lags/{t}/partitions/0"))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json(), data[0]);

    let summary = gw
        .get(&format!("{c}/consumer-groups/simple/lag-summary"))
        .await;
    assert_eq!(summary.status, 200, "{}", summary.text);
    let summary = summary.json();
    assert_eq!(summary["kind"], "KafkaConsumerGroupLagSummary");
    assert_eq!(summary["max_lag"], 5);
    assert_eq!(summary["total_lag"], 5);
    assert_eq!(summary["max_lag_topic_name"], t.as_str());
    assert_eq!(summary["max_lag_partition_id"], 0);
    assert_eq!(summary["max_lag_consumer_id"], Value::Null);
    assert!(summary["max_lag_partition"]["related"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/topics/{t}/partitions/0")));

    // A group with nothing committed, and a partition without an offset.
    gw.get(&format!("{c}/consumer-groups/nobody/lags"))
        .await
        .assert_error(404, 404);
    gw.get(&format!("{c}/consumer-groups/simple/lags/{t}/partitions/9"))
        .await
        .assert_error(404, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokers_replicas_and_reassignments_on_the_embedded_broker() {
    let t = topic("replicas");
    let mut config = embedded_config(&[&t], 2);
    config.embedded.brokers = 3;
    let gw = TestGateway::start(config).await;
    let c = format!("/v3/clusters/{}", cluster_id(&gw).await);

    let brokers = gw.get(&format!("{c}/brokers")).await.json();
    assert_eq!(brokers["data"].as_array().unwrap().len(), 3);
    let broker = gw.get(&format!("{c}/brokers/2")).await;
    assert_eq!(broker.status, 200, "{}", broker.text);
    let broker = broker.json();
    assert_eq!(broker["kind"], "KafkaBroker");
    assert_eq!(broker["broker_id"], 2);
    assert_eq!(broker["host"], "127.0.0.1");
    assert!(broker["port"].as_i64().unwrap() > 0);
    gw.get(&format!("{c}/brokers/99"))
        .await
        .assert_error(404, 404);
    gw.get(&format!("{c}/brokers/x"))
        .await
        .assert_error(404, 404);

    let replicas = gw
        .get(&format!("{c}/topics/{t}/partitions/0/replicas"))
        .await
        .json();
    assert_eq!(replicas["kind"], "KafkaReplicaList");
    let data = replicas["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data.iter().filter(|r| r["is_leader"] == true).count(), 1);
    let leader = data.iter().find(|r| r["is_leader"] == true).unwrap();
    let id = leader["broker_id"].as_i64().unwrap();
    let one = gw
        .get(&format!("{c}/topics/{t}/partitions/0/replicas/{id}"))
        .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(&one.json(), leader);
    gw.get(&format!("{c}/topics/{t}/partitions/0/replicas/42"))
        .await
        .assert_error(404, 404);
    gw.get(&format!("{c}/topics/{t}/partitions/7/replicas"))
        .await
        .assert_error(404, 40402);

    let on_broker = gw
        .get(&format!("{c}/brokers/{id}/partition-replicas"))
        .await
        .json();
    assert!(on_broker["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["topic_name"] == t.as_str() && r["partition_id"] == 0));

    for path in [
        format!("{c}/topics/-/partitions/-/reassignment"),
        format!("{c}/topics/{t}/partitions/-/reassignment"),
    ] {
        let list = gw.get(&path).await;
        assert_eq!(list.status, 200, "{}", list.text);
        assert_eq!(list.json()["kind"], "KafkaReassignmentList");
        assert_eq!(list.json()["data"], json!([]));
    }
    gw.get(&format!("{c}/topics/{t}/partitions/0/reassignment"))
        .await
        .assert_error(404, 404);
    gw.get(&format!("{c}/topics/nope/partitions/-/reassignment"))
        .await
        .assert_error(404, 40401);

    // No DescribeCluster on the mock: no controller link, and no delay.
    let started = Instant::now();
    let cluster = gw.get(&c).await.json();
    assert_eq!(cluster["controller"], Value::Null);
    assert!(started.elapsed() < Duration::from_secs(2));
}

// Against a real broker (tansu), started by tests/run.sh.

fn real_bootstrap() -> String {
    std::env::var("KAFKA_GATEWAY_TEST_BOOTSTRAP")
        .expect("KAFKA_GATEWAY_TEST_BOOTSTRAP names the real broker; run tests/run.sh")
}

async fn real_gateway() -> TestGateway {
    let mut config = embedded_config(&[], 1);
    config.kafka.bootstrap_servers = real_bootstrap();
    TestGateway::start(config).await
}

async fn create_real_topic(gw: &TestGateway, c: &str, t: &str, partitions: i32) {
    let reply = send(
        gw,
        reqwest::Method::POST,
        &format!("{c}/topics"),
        Some(json!({"topic_name": t, "partitions_count": partitions, "replication_factor": 1})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker: run tests/run.sh"]
async fn consumer_group_lag_on_a_real_broker() {
    let gw = real_gateway().await;
    let bootstrap = real_bootstrap();
    let c = format!("/v3/clusters/{}", cluster_id(&gw).await);
    let t = topic("lag");
    let group = topic("group");
    create_real_topic(&gw, &c, &t, 1).await;
    const N: usize = 10;
    const M: usize = 4;
    produce(&gw, &t, 0, N).await;

    // A real member of the group: subscribe, read M records, commit them,
    // and stay in the group while the gateway looks.
    let consumer = group_consumer(&bootstrap, &group);
    consumer.subscribe(&[&t]).unwrap();
    let mut read = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    while read < M && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            read += 1;
            last = Some(rdkafka::Message::offset(&m));
        }
    }
    assert_eq!(read, M, "records read");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&t, 0, Offset::Offset(last.unwrap() + 1))
        .unwrap();
    consumer.commit(&tpl, CommitMode::Sync).unwrap();
    // Keep the membership alive in the background.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let keeper = std::thread::spawn(move || {
        while stop_rx.try_recv().is_err() {
            let _ = consumer.poll(Duration::from_millis(100));
        }
    });

    let lags = gw.get(&format!("{c}/consumer-groups/{group}/lags")).await;
    assert_eq!(lags.status, 200, "{}", lags.text);
    let lags = lags.json();
    let lag = &lags["data"][0];
    assert_eq!(lag["current_offset"], M as i64, "{lags}");
    assert_eq!(lag["log_end_offset"], N as i64, "{lags}");
    assert_eq!(lag["lag"], (N - M) as i64);
    let summary = gw
        .get(&format!("{c}/consumer-groups/{group}/lag-summary"))
        .await
        .json();
    assert_eq!(summary["total_lag"], (N - M) as i64, "{summary}");
    assert_eq!(summary["max_lag"], (N - M) as i64);
    assert_eq!(summary["max_lag_topic_name"], t.as_str());

    let g = gw.get(&format!("{c}/consumer-groups/{group}")).await;
    assert_eq!(g.status, 200, "{}", g.text);
    let g = g.json();
    assert_eq!(g["kind"], "KafkaConsumerGroup");
    assert_eq!(g["consumer_group_id"], group.as_str());
    assert_eq!(g["is_simple"], false);
    assert!(g["coordinator"]["related"]
        .as_str()
        .unwrap()
        .contains("/brokers/"));
    let listed = gw.get(&format!("{c}/consumer-groups")).await.json();
    assert!(listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["consumer_group_id"] == group.as_str()));

    // Every link from the group resolves: its consumers, their
    // assignments and the assignments' lags (where the broker reports
    // members; tansu 0.6 reports them without assignments).
    walk(&gw, &format!("{c}/consumer-groups/{group}")).await;
    let consumers = gw
        .get(&format!("{c}/consumer-groups/{group}/consumers"))
        .await
        .json();
    assert_eq!(consumers["kind"], "KafkaConsumerList");
    for m in consumers["data"].as_array().unwrap() {
        assert_eq!(m["kind"], "KafkaConsumer");
        let id = m["consumer_id"].as_str().unwrap();
        let assignments = gw
            .get(&format!(
                "{c}/consumer-groups/{group}/consumers/{id}/assignments"
            ))
            .await;
        assert_eq!(assignments.status, 200, "{}", assignments.text);
        assert_eq!(assignments.json()["kind"], "KafkaConsumerAssignmentList");
    }
    gw.get(&format!("{c}/consumer-groups/{group}/consumers/nobody"))
        .await
        .assert_error(404, 404);
    gw.get(&format!("{c}/consumer-groups/{}", topic("none")))
        .await
        .assert_error(404, 404);

    let _ = stop_tx.send(());
    keeper.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker: run tests/run.sh"]
async fn topic_config_alter_on_a_real_broker() {
    let gw = real_gateway().await;
    let c = format!("/v3/clusters/{}", cluster_id(&gw).await);
    let t = topic("configs");
    create_real_topic(&gw, &c, &t, 1).await;
    use reqwest::Method;
    let path = format!("{c}/topics/{t}/configs/retention.ms");
    let reply = send(&gw, Method::PUT, &path, Some(json!({"value": "123456"}))).await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    let read = gw.get(&path).await;
    assert_eq!(read.status, 200, "{}", read.text);
    let read = read.json();
    assert_eq!(read["kind"], "KafkaTopicConfig");
    assert_eq!(read["value"], "123456");
    assert_eq!(read["topic_name"], t.as_str());

    let reply = send(
        &gw,
        Method::POST,
        &format!("{c}/topics/{t}/configs:alter"),
        Some(json!({"data": [
            {"name": "retention.ms", "value": "654321"},
            {"name": "cleanup.policy", "value": "compact", "operation": "SET"},
        ]})),
    )
    .await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    let all = gw.get(&format!("{c}/topics/{t}/configs")).await.json();
    let value = |name: &str| {
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == name)
            .map(|x| x["value"].clone())
    };
    assert_eq!(value("retention.ms"), Some(json!("654321")), "{all}");
    assert_eq!(value("cleanup.policy"), Some(json!("compact")), "{all}");
    gw.get(&format!("{c}/topics/{t}/configs/no.such.config"))
        .await
        .assert_error(404, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real broker: run tests/run.sh"]
async fn what_tansu_cannot_do_answers_501_at_once() {
    let gw = real_gateway().await;
    let c = format!("/v3/clusters/{}", cluster_id(&gw).await);
    use reqwest::Method;
    // tansu 0.6 advertises CreateAcls but not DeleteAcls; its CreateAcls
    // answer would abort librdkafka, so ACL writes are refused up front.
    let acl = json!({"resource_type": "TOPIC", "resource_name": "x", "pattern_type": "LITERAL",
                     "principal": "User:alice", "host": "*", "operation": "READ", "permission": "ALLOW"});
    assert_unsupported_at_once(&gw, Method::POST, &format!("{c}/acls"), Some(acl)).await;
    assert_unsupported_at_once(&gw, Method::DELETE, &format!("{c}/acls"), None).await;
    assert_unsupported_at_once(
        &gw,
        Method::PUT,
        &format!("{c}/broker-configs/log.retention.ms"),
        Some(json!({"value": "1"})),
    )
    .await;
    // DescribeAcls it has (and knows no ACLs); the gateway is still up.
    let acls = gw.get(&format!("{c}/acls")).await;
    assert_eq!(acls.status, 200, "{}", acls.text);
    assert_eq!(acls.json()["kind"], "KafkaAclList");
    // DescribeCluster it has: the controller is linked, and resolves.
    let cluster = gw.get(&c).await.json();
    let controller = cluster["controller"]["related"].as_str().unwrap();
    let broker = Reply::from(gw.http.get(controller).send().await.unwrap()).await;
    assert_eq!(broker.status, 200, "{}", broker.text);
    assert!(broker.json()["port"].as_i64().unwrap() > 0);
    walk(&gw, "/v3/clusters").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_kafka_permissions() {
    use kafka_gateway::config::AuthMethod;
    let t = topic("perm");
    let dir = std::env::temp_dir().join(format!("gw-v3-admin-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let hash = |p: &str| kafka_gateway::auth::hash_password(p).unwrap();
    let auth = format!(
        r#"
        [[users]]
        name = "alice"
        password_hash = "{alice}"
        [[users]]
        name = "admin"
        password_hash = "{admin}"
        [[acls]]
        principal = "User:alice"
        resource = "group:team-*"
        operations = ["describe"]
        [[acls]]
        principal = "User:alice"
        resource = "topic:*"
        operations = ["describe", "write"]
        [[acls]]
        principal = "User:admin"
        resource = "cluster"
        operations = ["all"]
        [[acls]]
        principal = "User:admin"
        resource = "topic:*"
        operations = ["all"]
        "#,
        alice = hash("alice-secret"),
        admin = hash("admin-secret"),
    );
    let file = dir.join("auth.toml");
    std::fs::write(&file, auth).unwrap();
    let mut config = embedded_config(&[&t], 1);
    config.auth.method = AuthMethod::Basic;
    config.auth.file = file.to_string_lossy().into_owned();
    let gw = TestGateway::start(config).await;
    commit_simple(&gw.bootstrap, "team-a", &t, 0, 0);
    commit_simple(&gw.bootstrap, "other", &t, 0, 0);
    let as_user = |method: reqwest::Method, path: String, user: (&'static str, &'static str)| {
        let request = gw
            .http
            .request(method, format!("{}{path}", gw.url))
            .basic_auth(user.0, Some(user.1))
            .header("Content-Type", "application/json")
            .body(json!({"value": "1"}).to_string());
        async move { Reply::from(request.send().await.unwrap()).await }
    };
    let alice = ("alice", "alice-secret");
    let admin = ("admin", "admin-secret");
    let cluster = as_user(reqwest::Method::GET, "/v3/clusters".into(), admin)
        .await
        .json()["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    for prefix in ["/v3", "/kafka/v3"] {
        let c = format!("{prefix}/clusters/{cluster}");
        use reqwest::Method;
        let reply = as_user(
            Method::GET,
            format!("{c}/consumer-groups/team-a/lags"),
            alice,
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        for (method, path) in [
            (Method::GET, format!("{c}/consumer-groups/other/lags")),
            (
                Method::GET,
                format!("{c}/consumer-groups/other/lag-summary"),
            ),
            (Method::GET, format!("{c}/acls")),
            (Method::POST, format!("{c}/acls")),
            (Method::GET, format!("{c}/brokers/1/configs")),
            (
                Method::PUT,
                format!("{c}/brokers/1/configs/log.retention.ms"),
            ),
            (Method::GET, format!("{c}/broker-configs")),
            (Method::PUT, format!("{c}/topics/{t}/configs/retention.ms")),
            (
                Method::GET,
                format!("{c}/topics/-/partitions/-/reassignment"),
            ),
        ] {
            let reply = as_user(method.clone(), path.clone(), alice).await;
            assert_eq!(reply.status, 403, "{method} {path}: {}", reply.text);
        }
        // Permitted, the broker's own limits answer.
        let reply = as_user(Method::GET, format!("{c}/acls"), admin).await;
        assert_eq!(reply.status, 501, "{}", reply.text);
        let reply = as_user(
            Method::PUT,
            format!("{c}/topics/{t}/configs/retention.ms"),
            admin,
        )
        .await;
        assert_eq!(reply.status, 501, "{}", reply.text);
    }
    let _ = std::fs::remove_dir_all(dir);
}
