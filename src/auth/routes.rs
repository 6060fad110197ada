//! Every route's permissions, as Kafka's ACLs name them: produce is write
//! on the topic; consumers read on the group and on each topic; metadata
//! describe; topic administration create, delete or alter on the topic;
//! Schema Registry reads read on the subject, writes write on it, the
//! global level alter on the cluster.
//!
//! [`needs`] reads only the method and the path. Where the resource is in
//! the body (the topics a consumer subscribes to, assigns, seeks or
//! commits; the topic a v3 create names) or in the gateway's state (a
//! consumer instance's owner and its topics, the subjects of a schema id),
//! it says so, and the middleware looks.

use actix_web::http::Method;

use super::file::{Operation, Resource};
use crate::error::ErrorCode;

/// One permission a request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub operation: Operation,
    pub resource: Resource,
    /// Denied, answer as if the resource did not exist (with this code),
    /// so names do not leak; `None`: 403.
    pub hidden_as: Option<ErrorCode>,
}

impl Check {
    /// Read access to `resource`, denied with 403.
    pub fn read(resource: Resource) -> Check {
        Check {
            operation: Operation::Read,
            resource,
            hidden_as: None,
        }
    }
}

/// Where in a request body the topics it touches are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyTopics {
    /// `{"topics": [...]}` or `{"topic_pattern": "..."}`.
    Subscription,
    /// `{"partitions": [{"topic": ...}]}`.
    Partitions,
    /// `{"offsets": [{"topic": ...}]}` (an empty body commits what the
    /// instance consumed: its own topics).
    Offsets,
    /// v3 topic creation: `{"topic_name": ...}`, for `create`.
    TopicName,
}

/// Everything a request needs before its handler runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub checks: Vec<Check>,
    /// The body names topics that each need `read` (or `create` for
    /// [`BodyTopics::TopicName`]).
    pub body: Option<BodyTopics>,
    /// A consumer instance (group, name): it must be the principal's own.
    pub instance: Option<(String, String)>,
    /// Reading records: `read` on every topic the instance holds.
    pub instance_topics: bool,
    /// A schema id: some subject using it must be readable.
    pub schema_id: Option<String>,
}

impl Needs {
    fn one(operation: Operation, resource: Resource) -> Needs {
        Needs {
            checks: vec![Check {
                operation,
                resource,
                hidden_as: None,
            }],
            ..Needs::default()
        }
    }

    fn hidden(operation: Operation, resource: Resource, code: ErrorCode) -> Needs {
        Needs {
            checks: vec![Check {
                operation,
                resource,
                hidden_as: Some(code),
            }],
            ..Needs::default()
        }
    }
}

/// What a request for `path` with `method` needs. Unknown paths need
/// nothing beyond authentication (they answer 404).
pub fn needs(method: &Method, path: &str) -> Needs {
    let segments: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let write_or = |read: Operation| if get { read } else { Operation::Write };
    use Operation::*;
    match s.as_slice() {
        // v2 produce and metadata.
        ["topics"] => Needs::default(),
        ["topics", t] | ["topics", t, "partitions", _] if post => {
            Needs::one(Write, Resource::topic(*t))
        }
        ["topics", t, ..] => Needs::one(Describe, Resource::topic(*t)),
        ["brokers", ..] => Needs::one(Describe, Resource::cluster()),

        // v2 consumers.
        ["consumers", g] => Needs::one(Read, Resource::group(*g)),
        ["consumers", g, "instances", i, rest @ ..] => {
            let mut needs = Needs::one(Read, Resource::group(*g));
            needs.instance = Some((g.to_string(), i.to_string()));
            match (rest, post) {
                (["subscription"], true) => needs.body = Some(BodyTopics::Subscription),
                (["assignments"], true)
                | (["positions", "beginning" | "end"], true)
                | (["offsets"], false) => needs.body = Some(BodyTopics::Partitions),
                (["positions"], true) | (["offsets"], true) => {
                    needs.body = Some(BodyTopics::Offsets)
                }
                (["records"], false) => needs.instance_topics = true,
                _ => {}
            }
            needs
        }

        // Schema Registry.
        ["subjects"] => Needs::default(),
        ["subjects", subject, rest @ ..] => {
            let reads = get || (post && rest.is_empty());
            if reads {
                Needs::hidden(
                    Read,
                    Resource::subject(*subject),
                    ErrorCode::SubjectNotFound,
                )
            } else {
                Needs::one(Write, Resource::subject(*subject))
            }
        }
        ["schemas", "ids", id, ..] => Needs {
            schema_id: Some(id.to_string()),
            ..Needs::default()
        },
        ["schemas", ..] => Needs::default(),
        ["config"] => Needs::one(if get { Describe } else { Alter }, Resource::cluster()),
        ["config", subject] if get => Needs::hidden(
            Read,
            Resource::subject(*subject),
            ErrorCode::SubjectNotFound,
        ),
        ["config", subject] => Needs::one(Write, Resource::subject(*subject)),
        ["mode"] => Needs::one(if get { Describe } else { Alter }, Resource::cluster()),
        ["mode", subject] if get => Needs::hidden(
            Read,
            Resource::subject(*subject),
            ErrorCode::SubjectNotFound,
        ),
        ["mode", subject] => Needs::one(Write, Resource::subject(*subject)),
        ["compatibility", "subjects", subject, ..] => Needs::hidden(
            Read,
            Resource::subject(*subject),
            ErrorCode::SubjectNotFound,
        ),

        // v3, also under /kafka/v3.
        ["kafka", "v3", rest @ ..] | ["v3", rest @ ..] => match rest {
            ["clusters", _, "topics"] if post => Needs {
                body: Some(BodyTopics::TopicName),
                ..Needs::default()
            },
            ["clusters", _, "topics"] => Needs::default(),
            // Every topic's reassignments: the cluster's.
            ["clusters", _, "topics", "-", ..] => {
                Needs::one(if get { Describe } else { Alter }, Resource::cluster())
            }
            // Consumer groups: the list shows what the principal may
            // describe; a group's resources (members, lags) are describe on
            // the group.
            ["clusters", _, "consumer-groups"] => Needs::default(),
            ["clusters", _, "consumer-groups", g, ..] => {
                Needs::one(if get { Describe } else { Alter }, Resource::group(*g))
            }
            ["clusters", _, "topics", t] if method == Method::DELETE => {
                Needs::one(Delete, Resource::topic(*t))
            }
            ["clusters", _, "topics", t, "records" | "records:batch"] => {
                Needs::one(Write, Resource::topic(*t))
            }
            ["clusters", _, "topics", t, "configs" | "configs:alter", ..] => {
                Needs::one(if get { Describe } else { Alter }, Resource::topic(*t))
            }
            ["clusters", _, "topics", t, ..] => Needs::one(write_or(Describe), Resource::topic(*t)),
            // The cluster, its brokers, broker configs and ACLs: describe
            // to read, alter to change (as Kafka's DescribeAcls/CreateAcls,
            // DescribeConfigs/AlterConfigs on the cluster).
            ["clusters", ..] => Needs::one(if get { Describe } else { Alter }, Resource::cluster()),
            _ => Needs::default(),
        },
        _ => Needs::default(),
    }
}

/// `%XX` escapes decoded, as the router decodes path parameters.
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(method: Method, path: &str) -> Option<(Operation, Resource, Option<ErrorCode>)> {
        needs(&method, path)
            .checks
            .into_iter()
            .next()
            .map(|c| (c.operation, c.resource, c.hidden_as))
    }

    #[test]
    fn every_route_maps_as_kafka_acls_do() {
        use Operation::*;
        let topic = |t: &str| Resource::topic(t);
        assert_eq!(
            first(Method::POST, "/topics/t"),
            Some((Write, topic("t"), None))
        );
        assert_eq!(
            first(Method::POST, "/topics/t/partitions/0"),
            Some((Write, topic("t"), None))
        );
        assert_eq!(
            first(Method::GET, "/topics/t"),
            Some((Describe, topic("t"), None))
        );
        assert_eq!(
            first(Method::GET, "/topics/t/partitions/0/offsets"),
            Some((Describe, topic("t"), None))
        );
        assert_eq!(first(Method::GET, "/topics"), None);
        assert_eq!(
            first(Method::GET, "/brokers"),
            Some((Describe, Resource::cluster(), None))
        );
        assert_eq!(
            first(Method::POST, "/consumers/g"),
            Some((Read, Resource::group("g"), None))
        );
        let sub = needs(&Method::POST, "/consumers/g/instances/i/subscription");
        assert_eq!(sub.instance, Some(("g".into(), "i".into())));
        assert_eq!(sub.body, Some(BodyTopics::Subscription));
        assert!(needs(&Method::GET, "/consumers/g/instances/i/records").instance_topics);
        assert_eq!(
            needs(&Method::POST, "/consumers/g/instances/i/offsets").body,
            Some(BodyTopics::Offsets)
        );
        assert_eq!(
            needs(&Method::POST, "/consumers/g/instances/i/positions/end").body,
            Some(BodyTopics::Partitions)
        );
        let subject = |s: &str| Resource::subject(s);
        let hidden = Some(ErrorCode::SubjectNotFound);
        assert_eq!(
            first(Method::GET, "/subjects/s-value/versions/latest"),
            Some((Read, subject("s-value"), hidden))
        );
        assert_eq!(
            first(Method::POST, "/subjects/s-value"),
            Some((Read, subject("s-value"), hidden))
        );
        assert_eq!(
            first(Method::POST, "/subjects/s-value/versions"),
            Some((Write, subject("s-value"), None))
        );
        assert_eq!(
            first(Method::DELETE, "/subjects/s-value"),
            Some((Write, subject("s-value"), None))
        );
        assert_eq!(
            first(Method::PUT, "/config"),
            Some((Alter, Resource::cluster(), None))
        );
        assert_eq!(
            first(Method::PUT, "/config/s"),
            Some((Write, subject("s"), None))
        );
        assert_eq!(
            first(Method::PUT, "/mode"),
            Some((Alter, Resource::cluster(), None))
        );
        assert_eq!(
            first(Method::GET, "/mode/s"),
            Some((Read, subject("s"), hidden))
        );
        assert_eq!(
            first(Method::DELETE, "/mode/s"),
            Some((Write, subject("s"), None))
        );
        assert_eq!(
            needs(&Method::GET, "/schemas/ids/7/subjects").schema_id,
            Some("7".into())
        );
        assert_eq!(first(Method::GET, "/schemas"), None);
        assert_eq!(
            first(Method::POST, "/compatibility/subjects/s/versions/latest"),
            Some((Read, subject("s"), hidden))
        );
        assert_eq!(
            needs(&Method::GET, "/schemas/ids/7/schema").schema_id,
            Some("7".into())
        );
        assert_eq!(
            first(Method::POST, "/v3/clusters/c/topics/t/records"),
            Some((Write, topic("t"), None))
        );
        assert_eq!(
            first(Method::POST, "/kafka/v3/clusters/c/topics/t/records:batch"),
            Some((Write, topic("t"), None))
        );
        assert_eq!(
            first(Method::DELETE, "/v3/clusters/c/topics/t"),
            Some((Delete, topic("t"), None))
        );
        assert_eq!(
            first(Method::GET, "/v3/clusters/c/topics/t/partitions"),
            Some((Describe, topic("t"), None))
        );
        assert_eq!(
            first(Method::PUT, "/v3/clusters/c/topics/t/configs/retention.ms"),
            Some((Alter, topic("t"), None))
        );
        assert_eq!(
            needs(&Method::POST, "/v3/clusters/c/topics").body,
            Some(BodyTopics::TopicName)
        );
        assert_eq!(first(Method::GET, "/v3/clusters/c/topics"), None);
        assert_eq!(
            first(Method::GET, "/v3/clusters"),
            Some((Describe, Resource::cluster(), None))
        );
        assert_eq!(first(Method::GET, "/nowhere"), None);
    }

    #[test]
    fn v3_admin_routes_map_as_kafka_acls_do() {
        use Operation::*;
        let topic = |t: &str| Resource::topic(t);
        let group = |g: &str| Resource::group(g);
        let cluster = Resource::cluster;
        for prefix in ["/v3", "/kafka/v3"] {
            let c = format!("{prefix}/clusters/c");
            type Case = (Method, String, Option<(Operation, Resource)>);
            let cases: Vec<Case> = vec![
                (Method::GET, format!("{c}/consumer-groups"), None),
                (
                    Method::GET,
                    format!("{c}/consumer-groups/g"),
                    Some((Describe, group("g"))),
                ),
                (
                    Method::GET,
                    format!("{c}/consumer-groups/g/consumers"),
                    Some((Describe, group("g"))),
                ),
                (
                    Method::GET,
                    format!("{c}/consumer-groups/g/consumers/m"),
                    Some((Describe, group("g"))),
                ),
                (
                    Method::GET,
                    format!("{c}/consumer-groups/g/consumers/m/assignments"),
                    Some((Describe, group("g"))),
                ),
                (
                    Method::GET,
                    format!("{c}/consumer-groups/g/consumers/m/assignments/t/partitions/0"),
                    Some((Describe, group("g"))),
                ),
                (
                    Method::GET,
                    format!("{c}/consumer-groups/g/lags"),
                    Some((Describe, group("g"))),
                ),
                (
                    Method::GET,
                    format!("{c}/consumer-groups/g/lags/t/partitions/0"),
                    Some((Describe, group("g"))),
                ),
                (
                    Method::GET,
                    format!("{c}/consumer-groups/g/lag-summary"),
                    Some((Describe, group("g"))),
                ),
                (
                    Method::GET,
                    format!("{c}/broker-configs"),
                    Some((Describe, cluster())),
                ),
                (
                    Method::GET,
                    format!("{c}/broker-configs/n"),
                    Some((Describe, cluster())),
                ),
                (
                    Method::PUT,
                    format!("{c}/broker-configs/n"),
                    Some((Alter, cluster())),
                ),
                (
                    Method::DELETE,
                    format!("{c}/broker-configs/n"),
                    Some((Alter, cluster())),
                ),
                (
                    Method::POST,
                    format!("{c}/broker-configs:alter"),
                    Some((Alter, cluster())),
                ),
                (
                    Method::GET,
                    format!("{c}/brokers/1"),
                    Some((Describe, cluster())),
                ),
                (
                    Method::GET,
                    format!("{c}/brokers/1/configs"),
                    Some((Describe, cluster())),
                ),
                (
                    Method::GET,
                    format!("{c}/brokers/1/configs/n"),
                    Some((Describe, cluster())),
                ),
                (
                    Method::PUT,
                    format!("{c}/brokers/1/configs/n"),
                    Some((Alter, cluster())),
                ),
                (
                    Method::DELETE,
                    format!("{c}/brokers/1/configs/n"),
                    Some((Alter, cluster())),
                ),
                (
                    Method::POST,
                    format!("{c}/brokers/1/configs:alter"),
                    Some((Alter, cluster())),
                ),
                (
                    Method::GET,
                    format!("{c}/brokers/1/partition-replicas"),
                    Some((Describe, cluster())),
                ),
                (
                    Method::GET,
                    format!("{c}/topics/t/configs"),
                    Some((Describe, topic("t"))),
                ),
                (
                    Method::GET,
                    format!("{c}/topics/t/configs/n"),
                    Some((Describe, topic("t"))),
                ),
                (
                    Method::PUT,
                    format!("{c}/topics/t/configs/n"),
                    Some((Alter, topic("t"))),
                ),
                (
                    Method::DELETE,
                    format!("{c}/topics/t/configs/n"),
                    Some((Alter, topic("t"))),
                ),
                (
                    Method::POST,
                    format!("{c}/topics/t/configs:alter"),
                    Some((Alter, topic("t"))),
                ),
                (
                    Method::GET,
                    format!("{c}/topics/t/partitions/0/replicas"),
                    Some((Describe, topic("t"))),
                ),
                (
                    Method::GET,
                    format!("{c}/topics/t/partitions/0/replicas/1"),
                    Some((Describe, topic("t"))),
                ),
                (
                    Method::GET,
                    format!("{c}/topics/t/partitions/-/reassignment"),
                    Some((Describe, topic("t"))),
                ),
                (
                    Method::GET,
                    format!("{c}/topics/t/partitions/0/reassignment"),
                    Some((Describe, topic("t"))),
                ),
                (
                    Method::GET,
                    format!("{c}/topics/-/partitions/-/reassignment"),
                    Some((Describe, cluster())),
                ),
                (
                    Method::GET,
                    format!("{c}/acls"),
                    Some((Describe, cluster())),
                ),
                (Method::POST, format!("{c}/acls"), Some((Alter, cluster()))),
                (
                    Method::DELETE,
                    format!("{c}/acls"),
                    Some((Alter, cluster())),
                ),
            ];
            for (method, path, want) in cases {
                assert_eq!(
                    first(method.clone(), &path).map(|(o, r, _)| (o, r)),
                    want,
                    "{method} {path}"
                );
            }
        }
    }

    #[test]
    fn path_segments_are_decoded() {
        assert_eq!(
            first(Method::GET, "/subjects/a%3Ab/versions"),
            Some((
                Operation::Read,
                Resource::subject("a:b"),
                Some(ErrorCode::SubjectNotFound)
            ))
        );
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
