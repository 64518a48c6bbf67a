//! Randomized tests of the repository reader: whatever a checkout holds —
//! YAML cut anywhere, lines swapped, odd characters — `lint` renders it or
//! says where it cannot, and never panics.

use std::collections::BTreeMap;

use super::repo::{RepoError, documents, json_patch, render, strategic_merge};
use super::{diagnose, tests::example};
use crate::model::Selection;
use crate::rng::{PIECES, Rng};

const YAML_PIECES: &[&str] = &[
    "\n",
    "  ",
    "- ",
    ": ",
    "---\n",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "&a ",
    "*a",
    "<<: *a\n",
    "#",
    "|\n",
    ">-\n",
    "!!str ",
    "resources:\n  - ",
    "../",
    "patches:\n  - path: ",
    "images:\n  - name: ",
    "namespace: ",
    "kind: Job\n",
    "apiVersion: kustomize.toolkit.fluxcd.io/v1\n",
    "\t",
    "\u{feff}",
];

#[test]
fn mangled_repositories_render_or_fail_located_never_panic() {
    let mut rng = Rng(0x5eed_1a7e);
    let clean = example();
    let names: Vec<String> = clean.keys().cloned().collect();
    for _ in 0..600 {
        let mut files = clean.clone();
        for _ in 0..(1 + rng.next() % 3) {
            let name = rng.pick(&names).clone();
            let text = files.get(&name).cloned().unwrap_or_default();
            let at = (rng.next() as usize) % (text.len() + 1);
            let at = (0..=at)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            let insert = if rng.next().is_multiple_of(2) {
                rng.text(YAML_PIECES)
            } else {
                rng.text(PIECES)
            };
            let cut = (rng.next() % 8) as usize;
            let end = (at + cut..=text.len())
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(text.len());
            let mangled = format!("{}{insert}{}", &text[..at], &text[end..]);
            files.insert(name, mangled);
        }
        match render(&files, "") {
            Ok(subject) => {
                let d = diagnose(&subject, &Selection::default());
                assert!(d.findings.iter().all(|f| !f.message.is_empty()));
            }
            Err(RepoError::Yaml(e)) => {
                let lines = files.get(&e.file).map_or(0, |t| t.lines().count());
                assert!(
                    e.line >= 1 && e.line <= lines + 1,
                    "{e} is inside the file ({lines} lines)"
                );
                assert!(!e.message.contains('\n'), "one line: {e}");
            }
            Err(RepoError::NoKustomizations) => {}
        }
    }
}

#[test]
fn random_documents_split_where_they_start() {
    let mut rng = Rng(42);
    for _ in 0..3_000 {
        let text = rng.text(YAML_PIECES);
        if let Ok(docs) = documents("f.yaml", &text) {
            for d in docs {
                assert!(d.location.line >= 1 && d.location.line <= text.lines().count() + 1);
            }
        }
    }
}

#[test]
fn random_patches_never_panic() {
    let mut rng = Rng(9);
    let paths = ["", "/", "/a", "/a/0", "/a/-", "/a/9", "/b~1c", "/a/x", "/-"];
    let ops = ["add", "remove", "replace", "move", "copy", "test", "nope"];
    for _ in 0..5_000 {
        let mut target = serde_json::json!({"a": [1, {"name": "x"}], "b/c": {"d": null}});
        let op = serde_json::json!({
            "op": rng.pick(&ops), "path": rng.pick(&paths), "from": rng.pick(&paths), "value": rng.next() % 3,
        });
        let _ = json_patch(&mut target, &[op]);
        let patch: BTreeMap<&str, serde_json::Value> = [(
            *rng.pick(&["a", "b/c", "z"]),
            serde_json::json!([{"name": "x", "v": 1}]),
        )]
        .into();
        strategic_merge(
            &mut target,
            &serde_json::to_value(patch).unwrap_or_default(),
        );
    }
}
