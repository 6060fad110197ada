//! The layers of ARCHITECTURE.md, checked from the code's own references:
//! every `crate::<module>` path in `src/<module>/` (a `use` or inline)
//! is an edge from that module to the named one. The graph of top-level
//! modules must have no cycle, and no module may reach a layer above its
//! own:
//!
//! 0. `config`, `metrics`: plain data and metric handles, nothing of ours;
//! 1. `error`: the error table (counts itself in `metrics`); `telemetry`:
//!    trace context and spans;
//! 2. `schemas`, `kafka`, `pipeline`, `consumers`, `cluster`, `auth`: the
//!    engine, in any order that has no cycle;
//! 3. `http`: routes, handlers and middleware, on top.
//!
//! `lib.rs` and `main.rs` assemble everything and are above all of them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: &[(&str, u8)] = &[
    ("config", 0),
    ("metrics", 0),
    ("error", 1),
    ("telemetry", 1),
    ("schemas", 2),
    ("kafka", 2),
    ("pipeline", 2),
    ("consumers", 2),
    ("cluster", 2),
    ("auth", 2),
    ("http", 3),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments and string literals, so a doc link or a
/// message naming `crate::x` is not an edge.
fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            let end = source[i + 2..]
                .find("*/")
                .map_or(bytes.len(), |e| i + 2 + e + 2);
            i = end;
        } else if bytes[i..].starts_with(b"'\"'") {
            i += 3;
        } else if bytes[i..].starts_with(b"'\\\"'") {
            i += 4;
        } else if bytes[i..].starts_with(b"r#\"") {
            let end = source[i + 3..]
                .find("\"#")
                .map_or(bytes.len(), |e| i + 3 + e + 2);
            i = end;
            out.push_str("\"\"");
        } else if bytes[i] == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

/// The top-level modules a file's code names: `crate::a::...` and each
/// first segment of `crate::{a::..., b, ...}`.
fn referenced(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = rest[at + "crate::".len()..].trim_start();
        if let Some(group) = after.strip_prefix('{') {
            // Top-level items of the group: split on commas at depth 0.
            let mut depth = 0;
            let mut item_start = 0;
            for (k, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        found.insert(ident(group[item_start..k].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(ident(group[item_start..k].trim()));
                        item_start = k + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(after));
        }
        rest = &rest[at + "crate::".len()..];
    }
    found.remove("");
    found
}

struct Graph {
    /// module -> (module it names -> the files that name it).
    edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let entry = edges.entry(module.clone()).or_default();
        for target in referenced(&code) {
            if target != module {
                entry
                    .entry(target)
                    .or_default()
                    .insert(relative.display().to_string());
            }
        }
    }
    Graph { edges }
}

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == module)
        .map(|(_, l)| *l)
        .unwrap_or_else(|| {
            panic!("src/{module} is not in a layer: add it to LAYERS here and to ARCHITECTURE.md")
        })
}

#[test]
fn every_module_is_in_a_layer() {
    for module in graph().edges.keys() {
        layer(module);
    }
}

#[test]
fn no_module_reaches_a_layer_above_its_own() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &graph.edges {
        for (to, files) in targets {
            if layer(to) > layer(from) || (layer(from) == 0 && from != to) {
                wrong.push(format!(
                    "{from} (layer {}) uses {to} (layer {}) in {files:?}",
                    layer(from),
                    layer(to)
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = graph();
    // Depth-first search; a grey node met again closes a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a Graph,
        colour: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match colour.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|n| *n == node).unwrap();
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            _ => {}
        }
        colour.insert(node, 1);
        path.push(node);
        if let Some(targets) = graph.edges.get(node) {
            for target in targets.keys() {
                if let Some(cycle) = visit(target, graph, colour, path) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        colour.insert(node, 2);
        None
    }
    let mut colour = BTreeMap::new();
    for node in graph.edges.keys() {
        if let Some(cycle) = visit(node, &graph, &mut colour, &mut Vec::new()) {
            let detail: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} in {:?}", w[0], w[1], graph.edges[&w[0]][&w[1]]))
                .collect();
            panic!(
                "module cycle {}:\n{}",
                cycle.join(" -> "),
                detail.join("\n")
            );
        }
    }
}

#[test]
fn the_reader_sees_the_references_it_is_meant_to() {
    // The parser itself: groups, nesting, comments and strings.
    let code = code_only(
        "use crate::{a::X, b::{c, d}, e};\n// crate::f\nlet s = \"crate::g\";\nlet q = '\"';\nlet r = r#\"\"crate::i\"\"#;\ncrate::h::call();",
    );
    let found: Vec<String> = referenced(&code).into_iter().collect();
    assert_eq!(found, ["a", "b", "e", "h"]);
    // Today's graph has its known edges (the test reads the real tree).
    let graph = graph();
    assert!(graph.edges["http"].contains_key("auth"));
    assert!(graph.edges["error"].contains_key("metrics"));
}
