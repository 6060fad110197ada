//! The auth file: users with argon2id password hashes, ACLs and quotas,
//! parsed and checked whole (every problem reported at once, with its
//! place), so that a bad edit never replaces a good file.
//!
//! ```toml
//! [[users]]
//! name = "alice"
//! password_hash = "$argon2id$v=19$..."
//!
//! [[acls]]
//! principal = "User:alice"           # User:<name>, User:<certificate CN>, User:*
//! resource = "topic:orders-*"        # topic:<glob>, group:<glob>, subject:<glob>, cluster
//! operations = ["write", "describe"] # read write describe create delete alter all
//!
//! [[quotas]]
//! principal = "User:carol"
//! produce_records_per_second = 50
//! produce_bytes_per_second = 0
//! ```

use std::collections::HashMap;

use serde::Deserialize;

/// What an ACL lets a principal do, as Kafka names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Read,
    Write,
    Describe,
    Create,
    Delete,
    Alter,
}

impl Operation {
    pub const ALL: [Operation; 6] = [
        Operation::Read,
        Operation::Write,
        Operation::Describe,
        Operation::Create,
        Operation::Delete,
        Operation::Alter,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The bounded metric label.
    pub fn label(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::Describe => "describe",
            Operation::Create => "create",
            Operation::Delete => "delete",
            Operation::Alter => "alter",
        }
    }
}

/// The kinds of resources ACLs name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    Topic,
    Group,
    Subject,
    Cluster,
}

/// One resource a request touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub kind: ResourceKind,
    /// Empty for the cluster.
    pub name: String,
}

impl Resource {
    pub fn topic(name: impl Into<String>) -> Resource {
        Resource {
            kind: ResourceKind::Topic,
            name: name.into(),
        }
    }
    pub fn group(name: impl Into<String>) -> Resource {
        Resource {
            kind: ResourceKind::Group,
            name: name.into(),
        }
    }
    pub fn subject(name: impl Into<String>) -> Resource {
        Resource {
            kind: ResourceKind::Subject,
            name: name.into(),
        }
    }
    pub fn cluster() -> Resource {
        Resource {
            kind: ResourceKind::Cluster,
            name: String::new(),
        }
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ResourceKind::Topic => write!(f, "topic {}", self.name),
            ResourceKind::Group => write!(f, "group {}", self.name),
            ResourceKind::Subject => write!(f, "subject {}", self.name),
            ResourceKind::Cluster => write!(f, "the cluster"),
        }
    }
}

/// One `[[acls]]` entry, parsed.
#[derive(Debug, Clone)]
struct Acl {
    /// `None` for `User:*`.
    principal: Option<String>,
    kind: ResourceKind,
    pattern: String,
    operations: u8,
}

/// Produce limits of one principal; 0 is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaLimits {
    pub records_per_second: u64,
    pub bytes_per_second: u64,
}

/// The parsed auth file.
#[derive(Debug, Default)]
pub struct AuthFile {
    /// User name → PHC string.
    users: HashMap<String, String>,
    acls: Vec<Acl>,
    /// Principal (`User:*` included) → limits.
    quotas: HashMap<String, QuotaLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    acls: Vec<RawAcl>,
    #[serde(default)]
    quotas: Vec<RawQuota>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password_hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAcl {
    principal: String,
    resource: String,
    operations: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    principal: String,
    #[serde(default)]
    produce_records_per_second: u64,
    #[serde(default)]
    produce_bytes_per_second: u64,
}

/// Operations that, granted, also grant `describe` (Kafka's rule).
const IMPLY_DESCRIBE: [Operation; 4] = [
    Operation::Read,
    Operation::Write,
    Operation::Delete,
    Operation::Alter,
];

impl AuthFile {
    /// Parses and checks the file's text; the error lists every problem.
    pub fn parse(text: &str) -> Result<AuthFile, String> {
        let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        let mut file = AuthFile::default();
        for (i, user) in raw.users.into_iter().enumerate() {
            if user.name.is_empty() || user.name.contains(':') {
                problems.push(format!("users[{i}].name: must be non-empty, without ':'"));
            }
            match argon2::PasswordHash::new(&user.password_hash) {
                Ok(hash) if hash.algorithm.as_str() == "argon2id" => {}
                Ok(_) => problems.push(format!(
                    "users[{i}].password_hash: must be an argon2id hash (kafka-gateway hash-password)"
                )),
                Err(e) => problems.push(format!(
                    "users[{i}].password_hash: not a PHC string ({e}); make one with kafka-gateway hash-password"
                )),
            }
            if file
                .users
                .insert(user.name.clone(), user.password_hash)
                .is_some()
            {
                problems.push(format!("users[{i}].name: {:?} is listed twice", user.name));
            }
        }
        for (i, acl) in raw.acls.into_iter().enumerate() {
            let principal = match parse_principal(&acl.principal) {
                Ok(p) => p,
                Err(e) => {
                    problems.push(format!("acls[{i}].principal: {e}"));
                    continue;
                }
            };
            let (kind, pattern) = match acl.resource.split_once(':') {
                Some(("topic", p)) if !p.is_empty() => (ResourceKind::Topic, p.to_string()),
                Some(("group", p)) if !p.is_empty() => (ResourceKind::Group, p.to_string()),
                Some(("subject", p)) if !p.is_empty() => (ResourceKind::Subject, p.to_string()),
                None if acl.resource == "cluster" => (ResourceKind::Cluster, String::new()),
                _ => {
                    problems.push(format!(
                        "acls[{i}].resource: {:?} must be topic:<glob>, group:<glob>, subject:<glob> or cluster",
                        acl.resource
                    ));
                    continue;
                }
            };
            let mut operations = 0u8;
            for op in &acl.operations {
                let bits = match op.as_str() {
                    "all" => Operation::ALL.iter().fold(0, |b, o| b | o.bit()),
                    name => match Operation::ALL.iter().find(|o| o.label() == name) {
                        Some(o) => o.bit(),
                        None => {
                            problems.push(format!(
                                "acls[{i}].operations: {op:?} is not one of read, write, describe, create, delete, alter, all"
                            ));
                            0
                        }
                    },
                };
                operations |= bits;
            }
            if acl.operations.is_empty() {
                problems.push(format!("acls[{i}].operations: must not be empty"));
            }
            file.acls.push(Acl {
                principal,
                kind,
                pattern,
                operations,
            });
        }
        for (i, quota) in raw.quotas.into_iter().enumerate() {
            if let Err(e) = parse_principal(&quota.principal) {
                problems.push(format!("quotas[{i}].principal: {e}"));
                continue;
            }
            let limits = QuotaLimits {
                records_per_second: quota.produce_records_per_second,
                bytes_per_second: quota.produce_bytes_per_second,
            };
            if file
                .quotas
                .insert(quota.principal.clone(), limits)
                .is_some()
            {
                problems.push(format!(
                    "quotas[{i}].principal: {:?} has two quotas",
                    quota.principal
                ));
            }
        }
        if problems.is_empty() {
            Ok(file)
        } else {
            Err(problems.join("; "))
        }
    }

    /// The PHC hash of a user, if the file lists it.
    pub fn password_hash(&self, user: &str) -> Option<&str> {
        self.users.get(user).map(String::as_str)
    }

    /// Whether some ACL lets `principal` do `operation` on `resource`.
    /// What none allows is denied.
    pub fn allows(&self, principal: &str, operation: Operation, resource: &Resource) -> bool {
        let wanted = if operation == Operation::Describe {
            IMPLY_DESCRIBE
                .iter()
                .fold(operation.bit(), |b, o| b | o.bit())
        } else {
            operation.bit()
        };
        self.acls.iter().any(|acl| {
            acl.operations & wanted != 0
                && acl.kind == resource.kind
                && acl.principal.as_deref().is_none_or(|p| p == principal)
                && (acl.kind == ResourceKind::Cluster || glob(&acl.pattern, &resource.name))
        })
    }

    /// The quota of `principal`: its own, else `User:*`'s.
    pub fn quota(&self, principal: &str) -> Option<QuotaLimits> {
        self.quotas
            .get(principal)
            .or_else(|| self.quotas.get("User:*"))
            .copied()
            .filter(|q| q.records_per_second > 0 || q.bytes_per_second > 0)
    }
}

/// `User:<name>` → `Some(name-with-prefix)`, `User:*` → `None`.
fn parse_principal(text: &str) -> Result<Option<String>, String> {
    match text.strip_prefix("User:") {
        Some("*") => Ok(None),
        Some(name) if !name.is_empty() => Ok(Some(text.to_string())),
        _ => Err(format!("{text:?} must be User:<name> or User:*")),
    }
}

/// Shell-style matching: `*` is any run of characters, `?` one character;
/// everything else is literal.
pub fn glob(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$yUWwaJMhD6hT6Kes4Vd0eW2nCW1Rg1Yhq2B/XQnppNE";

    #[test]
    fn globs_match_as_shells_do() {
        assert!(glob("orders-*", "orders-eu"));
        assert!(glob("orders-*", "orders-"));
        assert!(!glob("orders-*", "order"));
        assert!(glob("*", ""));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(glob("*-value", "orders-value"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }

    #[test]
    fn acls_allow_what_they_name_and_nothing_else() {
        let file = AuthFile::parse(&format!(
            r#"
            [[users]]
            name = "alice"
            password_hash = "{HASH}"
            [[acls]]
            principal = "User:alice"
            resource = "topic:orders-*"
            operations = ["write"]
            [[acls]]
            principal = "User:*"
            resource = "group:shared"
            operations = ["read"]
            [[acls]]
            principal = "User:admin"
            resource = "cluster"
            operations = ["all"]
            "#
        ))
        .unwrap();
        let alice = "User:alice";
        assert!(file.allows(alice, Operation::Write, &Resource::topic("orders-eu")));
        // Write implies describe, as in Kafka.
        assert!(file.allows(alice, Operation::Describe, &Resource::topic("orders-eu")));
        assert!(!file.allows(alice, Operation::Read, &Resource::topic("orders-eu")));
        assert!(!file.allows(alice, Operation::Write, &Resource::topic("payments")));
        assert!(!file.allows(alice, Operation::Write, &Resource::group("orders-eu")));
        assert!(file.allows("User:bob", Operation::Read, &Resource::group("shared")));
        assert!(!file.allows("User:bob", Operation::Read, &Resource::group("other")));
        assert!(file.allows("User:admin", Operation::Alter, &Resource::cluster()));
        assert!(!file.allows(alice, Operation::Describe, &Resource::cluster()));
        assert_eq!(file.password_hash("alice"), Some(HASH));
        assert_eq!(file.password_hash("bob"), None);
    }

    #[test]
    fn quotas_fall_back_to_the_wildcard() {
        let file = AuthFile::parse(
            r#"
            [[quotas]]
            principal = "User:carol"
            produce_records_per_second = 50
            [[quotas]]
            principal = "User:*"
            produce_bytes_per_second = 1000
            "#,
        )
        .unwrap();
        assert_eq!(file.quota("User:carol").unwrap().records_per_second, 50);
        assert_eq!(file.quota("User:dave").unwrap().bytes_per_second, 1000);
    }

    #[test]
    fn every_problem_is_named_with_its_place() {
        let err = AuthFile::parse(
            r#"
            [[users]]
            name = "a"
            password_hash = "plain-text"
            [[acls]]
            principal = "alice"
            resource = "topic:x"
            operations = ["read"]
            [[acls]]
            principal = "User:a"
            resource = "table:x"
            operations = ["read"]
            [[acls]]
            principal = "User:a"
            resource = "topic:x"
            operations = ["fly"]
            "#,
        )
        .unwrap_err();
        for place in [
            "users[0].password_hash",
            "acls[0].principal",
            "acls[1].resource",
            "acls[2].operations",
        ] {
            assert!(err.contains(place), "{place} missing from {err}");
        }
        assert!(AuthFile::parse("[[users]]\nnam = 1\n").is_err());
    }
}
