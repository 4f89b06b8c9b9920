//! The relay's modules depend on each other one way (ARCHITECTURE.md, "Layers in the relay"):
//! handlers → domain → spec/slots/ledger → db. This reads every `crate::` path in `src/` (in
//! `use` lines and inline), makes the graph of top-level modules (a folder is one module; the
//! crate root, which declares them all and holds the shared state, is left out), and fails on
//! any circle or on a bottom-layer module that reaches up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The bottom layers: they may use each other but nothing above them.
const BOTTOM: [&str; 7] = ["spec", "slots", "ledger", "db", "error", "config", "clock"];

/// Source files under `dir`, with the top-level module each belongs to.
fn sources(dir: &Path, module: Option<&str>, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            sources(&path, Some(module.unwrap_or(&name)), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = module.map_or(name, str::to_owned);
            out.push((module, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The first path segments named after `crate::` (or `$crate::`) in `text`, comments left out.
fn crate_paths(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let ident = |from: usize| -> String {
        code[from..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = code[at..].find("crate::") {
        let start = at + found;
        at = start + "crate::".len();
        let before = start.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            continue;
        }
        if bytes.get(at) == Some(&b'{') {
            // A group: the first segment of each top-level item.
            let (mut depth, mut item_start) = (0, at + 1);
            for (i, b) in code[at..].bytes().enumerate() {
                let i = at + i;
                match b {
                    b'{' => depth += 1,
                    b'}' | b',' if depth == 1 => {
                        out.push(ident_trim(&code[item_start..i]));
                        item_start = i + 1;
                        if b == b'}' {
                            break;
                        }
                    }
                    b'}' => depth -= 1,
                    _ => {}
                }
            }
        } else {
            out.push(ident(at));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn ident_trim(item: &str) -> String {
    item.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Module → the modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        None,
        &mut files,
    );
    let modules: BTreeSet<String> = files
        .iter()
        .map(|(m, _)| m.clone())
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &files {
        if !modules.contains(module) {
            continue;
        }
        let uses = graph.entry(module.clone()).or_default();
        for name in crate_paths(text) {
            if modules.contains(&name) && name != *module {
                uses.insert(name);
            }
        }
    }
    graph
}

/// A circle through `graph`, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut circle = path[i..].to_vec();
            circle.push(node.to_owned());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_parser_reads_groups_inline_paths_and_skips_comments() {
    let text = "use crate::{AppState, clock, slots::{self, GiveBack}};\n\
                use crate::spec::Kind; // crate::tasks in a comment\n\
                let x = crate::ledger::balance(conn, &a);\n\
                &[$($crate::db::Value::from($v)),*]\n\
                use datahub_crate::nothing;";
    assert_eq!(
        crate_paths(text),
        ["AppState", "clock", "slots", "spec", "ledger", "db"]
    );
    let circle: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"])]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
            .collect();
    assert_eq!(find_circle(&circle).unwrap(), ["a", "b", "c", "a"]);
}

#[test]
fn relay_modules_form_no_circle() {
    let graph = graph();
    for (module, uses) in &graph {
        eprintln!(
            "{module} → {}",
            uses.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(graph.contains_key("tasks") && graph.contains_key("spec"));
    assert_eq!(
        find_circle(&graph),
        None,
        "an import circle among the relay's modules"
    );
}

#[test]
fn the_bottom_layers_reach_nothing_above_them() {
    for (module, uses) in graph() {
        if !BOTTOM.contains(&module.as_str()) {
            continue;
        }
        let above: Vec<&String> = uses
            .iter()
            .filter(|u| !BOTTOM.contains(&u.as_str()))
            .collect();
        assert!(above.is_empty(), "{module} uses {above:?}, above its layer");
    }
}
