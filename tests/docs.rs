//! The configuration reference cannot drift from the code:
//!
//! - `config/gateway.toml` lists every option of [`Config`] (every field of
//!   every section, found by serializing `Config::default()`), each with its
//!   default, and nothing else;
//! - `docs/configuration.md`, between its GENERATED markers, is rendered
//!   from that file (its comments are the descriptions). After changing an
//!   option, run `UPDATE_DOCS=1 cargo test --test docs` and commit the file.

use std::collections::BTreeMap;
use std::path::Path;

use kafka_gateway::config::{Config, ENV_PREFIX};

const BEGIN: &str = "<!-- BEGIN GENERATED";
const END: &str = "<!-- END GENERATED -->";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn reference_text() -> String {
    std::fs::read_to_string(root().join("config/gateway.toml")).unwrap()
}

/// Every leaf of a TOML tree by its dotted key; an empty table is a leaf.
fn flatten(prefix: &str, value: &toml::Value, out: &mut BTreeMap<String, toml::Value>) {
    match value {
        toml::Value::Table(table) if !table.is_empty() => {
            for (key, inner) in table {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, inner, out);
            }
        }
        leaf => {
            out.insert(prefix.to_string(), leaf.clone());
        }
    }
}

#[test]
fn gateway_toml_lists_every_option_with_its_default() {
    let mut defaults = BTreeMap::new();
    flatten(
        "",
        &toml::Value::try_from(Config::default()).unwrap(),
        &mut defaults,
    );
    let mut listed = BTreeMap::new();
    flatten(
        "",
        &toml::Value::Table(reference_text().parse().unwrap()),
        &mut listed,
    );
    let missing: Vec<&String> = defaults
        .keys()
        .filter(|k| !listed.contains_key(*k))
        .collect();
    let unknown: Vec<&String> = listed
        .keys()
        .filter(|k| !defaults.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "config/gateway.toml must list every option: missing {missing:?}, not options {unknown:?}"
    );
    for (key, default) in &defaults {
        assert_eq!(
            &listed[key], default,
            "config/gateway.toml gives {key} another value than its default"
        );
    }
    assert!(defaults.len() > 60, "{} options only?", defaults.len());
}

/// One documented group: keys sharing one comment, in file order.
struct Group {
    section: String,
    /// (key, the default as written).
    keys: Vec<(String, String)>,
    description: Vec<String>,
}

enum Block {
    Section {
        name: String,
        intro: Vec<String>,
    },
    Group(Group),
    /// A comment not attached to a key (examples, commented-out settings).
    Note(Vec<String>),
}

fn parse_reference(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut section: Option<String> = None;
    let mut comment: Vec<String> = Vec::new();
    // Whether the previous line was a key (so an uncommented key joins it).
    let mut after_key = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix('#') {
            comment.push(rest.strip_prefix(' ').unwrap_or(rest).to_string());
            after_key = false;
        } else if trimmed.is_empty() {
            if !comment.is_empty() && section.is_some() {
                blocks.push(Block::Note(std::mem::take(&mut comment)));
            }
            // The file's own header (before any section) is the doc's intro.
            comment.clear();
            after_key = false;
        } else if trimmed.starts_with('[') {
            let name = trimmed.trim_matches(|c| c == '[' || c == ']').to_string();
            blocks.push(Block::Section {
                name: name.clone(),
                intro: std::mem::take(&mut comment),
            });
            section = Some(name);
            after_key = false;
        } else {
            let (key, value) = trimmed
                .split_once('=')
                .unwrap_or_else(|| panic!("not a key line: {line}"));
            let entry = (key.trim().to_string(), value.trim().to_string());
            let section = section.clone().expect("keys are inside sections");
            match blocks.last_mut() {
                Some(Block::Group(group)) if after_key && comment.is_empty() => {
                    group.keys.push(entry)
                }
                _ => blocks.push(Block::Group(Group {
                    section,
                    keys: vec![entry],
                    description: std::mem::take(&mut comment),
                })),
            }
            after_key = true;
        }
    }
    blocks
}

fn env_name(section: &str, key: &str) -> String {
    format!("{ENV_PREFIX}{}_{}", section.replace('.', "_"), key).to_ascii_uppercase()
}

fn render(blocks: &[Block]) -> String {
    let mut out = String::new();
    for block in blocks {
        match block {
            Block::Section { name, intro } => {
                out.push_str(&format!("\n## `[{name}]`\n\n"));
                if !intro.is_empty() {
                    out.push_str(&intro.join(" "));
                    out.push_str("\n\n");
                }
            }
            Block::Group(group) => {
                let names: Vec<String> = group
                    .keys
                    .iter()
                    .map(|(k, _)| format!("`{}.{k}`", group.section))
                    .collect();
                out.push_str(&format!("### {}\n\n", names.join(", ")));
                for (key, default) in &group.keys {
                    out.push_str(&format!(
                        "- `{key} = {default}`; environment: `{}`\n",
                        env_name(&group.section, key)
                    ));
                }
                out.push('\n');
                if !group.description.is_empty() {
                    out.push_str(&group.description.join(" "));
                    out.push_str("\n\n");
                }
            }
            Block::Note(lines) => {
                out.push_str("```toml\n");
                for line in lines {
                    out.push_str(&format!("# {line}\n"));
                }
                out.push_str("```\n\n");
            }
        }
    }
    out
}

#[test]
fn config_reference_is_current() {
    let blocks = parse_reference(&reference_text());
    let generated = render(&blocks);
    let path = root().join("docs/configuration.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let begin = doc
        .find(BEGIN)
        .expect("docs/configuration.md has its BEGIN marker");
    let begin_end = begin + doc[begin..].find('\n').unwrap() + 1;
    let end = doc
        .find(END)
        .expect("docs/configuration.md has its END marker");
    let current = &doc[begin_end..end];
    if current != generated {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{}{}", &doc[..begin_end], generated, &doc[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        panic!(
            "docs/configuration.md is not what config/gateway.toml says; run \
             `UPDATE_DOCS=1 cargo test --test docs` and commit it"
        );
    }
    // Every option of the file is documented.
    let documented: usize = blocks
        .iter()
        .map(|b| match b {
            Block::Group(g) => g.keys.len(),
            _ => 0,
        })
        .sum();
    let mut listed = BTreeMap::new();
    flatten(
        "",
        &toml::Value::Table(reference_text().parse().unwrap()),
        &mut listed,
    );
    let tables = listed
        .values()
        .filter(|v| matches!(v, toml::Value::Table(_)))
        .count();
    assert_eq!(documented, listed.len() - tables);
}

#[test]
fn environment_names_in_the_reference_are_the_ones_the_loader_takes() {
    // One option of a section and one of a table inside a section, by the
    // names the reference prints.
    let env = vec![
        (env_name("kafka", "linger_ms"), "9".to_string()),
        (
            env_name("http.tls", "handshake_timeout_ms"),
            "1234".to_string(),
        ),
    ];
    let config = Config::from_toml_and_env("", env).unwrap();
    assert_eq!(config.kafka.linger_ms, 9);
    assert_eq!(config.http.tls.handshake_timeout_ms, 1234);
}
