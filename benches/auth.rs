//! What authorization costs a produce request once its credential is
//! remembered: the route's needs, the ACL scan over a file of 22 ACLs (the
//! load test's), and the SHA-256 that keys the credential cache. Compare
//! with the ~24 µs of gateway CPU a single-record request takes
//! (loadtest/RESULTS.md).

use criterion::{criterion_group, criterion_main, Criterion};
use kafka_gateway::auth::routes::needs;
use kafka_gateway::auth::{AuthFile, Operation, Resource};
use sha2::{Digest, Sha256};

fn file() -> AuthFile {
    let hash =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$yUWwaJMhD6hT6Kes4Vd0eW2nCW1Rg1Yhq2B/XQnppNE";
    let mut text = format!("[[users]]\nname = \"loadtest\"\npassword_hash = \"{hash}\"\n");
    for i in 1..=20 {
        text += &format!(
            "[[acls]]\nprincipal = \"User:team-{i}\"\nresource = \"topic:team-{i}-*\"\noperations = [\"write\", \"read\"]\n"
        );
    }
    text += "[[acls]]\nprincipal = \"User:loadtest\"\nresource = \"topic:lt-*\"\noperations = [\"write\"]\n";
    text += "[[acls]]\nprincipal = \"User:loadtest\"\nresource = \"subject:lt-*\"\noperations = [\"read\", \"write\"]\n";
    AuthFile::parse(&text).unwrap()
}

fn bench(c: &mut Criterion) {
    let file = file();
    let method = actix_web::http::Method::POST;
    let path = "/topics/lt-a-1764620000-gw";
    let header = b"Basic bG9hZHRlc3Q6bG9hZHRlc3Qtc2VjcmV0";
    let mut group = c.benchmark_group("auth");
    group.bench_function("route_needs", |b| {
        b.iter(|| needs(&method, std::hint::black_box(path)))
    });
    group.bench_function("acl_allows_22_acls", |b| {
        let topic = Resource::topic("lt-a-1764620000-gw");
        b.iter(|| {
            file.allows(
                "User:loadtest",
                Operation::Write,
                std::hint::black_box(&topic),
            )
        })
    });
    group.bench_function("credential_cache_key", |b| {
        b.iter(|| -> [u8; 32] { Sha256::digest(std::hint::black_box(header)).into() })
    });
    group.bench_function("all_three", |b| {
        b.iter(|| {
            let key: [u8; 32] = Sha256::digest(header).into();
            let n = needs(&method, path);
            let ok = n
                .checks
                .iter()
                .all(|c| file.allows("User:loadtest", c.operation, &c.resource));
            (key, ok)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
