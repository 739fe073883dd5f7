//! Modules depend one way. Each top-level module of `src/` has a layer,
//! and may name (`crate::x`, in a `use` or inline, code or doc link) only
//! modules of lower layers: so no cycle can form, and the phases read in
//! one direction. `cargo test --test layers` checks it; the order is the
//! one `src/lib.rs` and the README describe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lowest first. Modules of one layer may not name each other.
const LAYERS: &[&[&str]] = &[
    &["cli", "error", "model"],
    &["sys"],
    &["pipeline"],
    &["workdir"],
    &["fetch", "stage"],
    &["rules"],
    &["gates", "aggregate", "split"],
    &["publish"],
    &["commands"],
];

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::<name>` in a text.
fn named(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // `siap::crate::` is not a thing; `some_crate::x` is not ours.
        let before = rest[..i].chars().last();
        if !name.is_empty() && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(name);
        }
        rest = after;
    }
    out
}

#[test]
fn modules_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(mine) = layer(&top) else {
            wrong.push(format!("{}: module `{top}` has no layer", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for other in named(&text) {
            if other == top {
                continue;
            }
            seen.entry(top.clone()).or_default().push(other.clone());
            match layer(&other) {
                Some(theirs) if theirs < mine => {}
                Some(_) => wrong.push(format!(
                    "{}: `{top}` names `crate::{other}`, which is not below it",
                    rel.display()
                )),
                None => wrong.push(format!(
                    "{}: `crate::{other}` is not a module with a layer",
                    rel.display()
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Not vacuous: the top layer names the phases below it.
    let commands = &seen["commands"];
    for phase in ["fetch", "stage", "rules", "gates", "aggregate", "publish"] {
        assert!(
            commands.iter().any(|m| m == phase),
            "commands never names {phase}"
        );
    }
}

/// The check itself finds what it is meant to find.
#[test]
fn names_are_found_in_uses_and_paths() {
    assert_eq!(
        named("use crate::stage::read; x = crate::fetch::Raw; /// [`crate::model`]"),
        ["stage", "fetch", "model"]
    );
    assert!(named("use other_crate::x; siap::stage").is_empty());
}
