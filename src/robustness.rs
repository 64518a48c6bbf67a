//! Randomized tests of everything that parses text from the cluster or the
//! user (a seeded generator, so failures reproduce): no input may panic, and
//! each parser keeps its invariants. cargo-fuzz would need a nightly toolchain;
//! these run in the ordinary suite.

use crate::model::flux::{Kustomization, parse_inventory_id, short_revision};
use crate::render::sanitize;
use crate::settings::parse_duration;

/// xorshift64*: small, seeded, good enough to vary inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }

    /// A string from pieces that matter to the parsers, plus odd characters.
    fn text(&mut self, pieces: &[&str]) -> String {
        let len = self.next() % 12;
        (0..len).map(|_| self.pick(pieces).to_string()).collect()
    }
}

const PIECES: &[&str] = &[
    "_",
    "__",
    ":",
    "@",
    "/",
    ".",
    "-",
    "sha1:",
    "sha256:",
    "batch",
    "Job",
    "apps",
    "é",
    "ß",
    "漢",
    "\u{202e}",
    "\u{1b}[2J",
    "\n",
    "\t",
    "0",
    "9f1e2d3c4b5a",
    "main",
    "",
    "h",
    "m",
    "s",
    "ms",
    "1e400",
    "999999999999",
    ".5",
];

#[test]
fn inventory_ids_never_panic_and_keep_their_parts() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let id = rng.text(PIECES);
        if let Some(r) = parse_inventory_id(&id) {
            assert!(!r.name.is_empty() && !r.kind.is_empty(), "{id:?} → {r:?}");
            assert!(
                id.starts_with(&format!("{}_", r.namespace))
                    && id.ends_with(&format!("_{}", r.kind)),
                "{id:?} → {r:?}"
            );
        }
    }
}

#[test]
fn revisions_shorten_to_a_prefix_whatever_the_text() {
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let rev = rng.text(PIECES);
        let short = short_revision(&rev);
        assert!(rev.starts_with(&short), "{rev:?} → {short:?}");
    }
}

#[test]
fn sanitized_text_has_no_control_or_bidi_characters() {
    let mut rng = Rng(7);
    for _ in 0..20_000 {
        let out = sanitize(&rng.text(PIECES));
        assert!(
            !out.chars().any(|c| c.is_control()
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)),
            "{out:?}"
        );
    }
}

#[test]
fn durations_from_the_command_line_never_panic() {
    let mut rng = Rng(99);
    for _ in 0..20_000 {
        let _ = parse_duration(&rng.text(PIECES));
    }
    assert!(parse_duration("1e400s").is_err());
    assert!(parse_duration("999999999999999999999h").is_err());
}

#[test]
fn kustomizations_decode_from_any_json_shape() {
    let mut rng = Rng(2024);
    let values = [
        "null",
        "1",
        "-1",
        "\"x\"",
        "true",
        "[]",
        "{}",
        "[null]",
        "{\"a\":1}",
        "1e999",
        "\"\\u0000\"",
    ];
    let fields = [
        "metadata",
        "spec",
        "status",
        "dependsOn",
        "inventory",
        "entries",
        "conditions",
        "generation",
        "name",
        "sourceRef",
    ];
    for _ in 0..20_000 {
        // Nested objects with the field names the decoder looks for and values of every type.
        let mut json = String::from("{");
        for i in 0..(rng.next() % 4) {
            if i > 0 {
                json.push(',');
            }
            let inner = format!("{{\"{}\":{}}}", rng.pick(&fields), rng.pick(&values));
            let value = if rng.next().is_multiple_of(2) {
                inner
            } else {
                rng.pick(&values).to_string()
            };
            json.push_str(&format!("\"{}\":{value}", rng.pick(&fields)));
        }
        json.push('}');
        // Decoding may fail; it must not panic, and what decodes can be analyzed.
        if let Ok(ks) = serde_json::from_str::<Kustomization>(&json) {
            let mut snap = crate::model::Snapshot::default();
            snap.kustomizations.push(ks);
            let _ = crate::model::analyze(&snap, &crate::model::Selection::default());
        }
    }
}

/// Text views printed a `dependsOn` name carrying `ESC]0;…BEL` and an
/// inventory id carrying `ESC[31m` raw: every piece of cluster text in any
/// report, whatever it holds, reaches a terminal escaped.
#[test]
fn no_cluster_text_reaches_the_terminal_raw_in_any_text_view() {
    use crate::render::{Format, Styles, View, render};
    let scenarios = [
        include_str!("../tests/sandbox/scenarios/canonical.yaml"),
        include_str!("../tests/sandbox/scenarios/failed.yaml"),
        include_str!("../tests/sandbox/scenarios/multi-app.yaml"),
    ];
    let hostile = [
        "\u{1b}]0;pwned\u{7}",
        "\u{1b}[2J",
        "\u{1b}[31m",
        "\u{202e}",
        "\u{2066}",
        "\r",
        "\u{0}",
        "\u{9b}",
        "\u{7f}",
    ];
    let view = View {
        styles: Styles { color: false },
        now: jiff::Timestamp::UNIX_EPOCH,
        width: Some(100),
        no_headers: false,
        all_namespaces: true,
        namespace: None,
        compact: true,
    };
    let mut rng = Rng(0x5eed);
    for text in scenarios {
        let snap = crate::model::snapshot_from_yaml(text).unwrap();
        let clean = crate::model::analyze(&snap, &crate::model::Selection::default());
        for _ in 0..200 {
            let mut report = clean.clone();
            report.for_each_text(&mut |s| {
                if rng.next().is_multiple_of(2) {
                    let at = s
                        .char_indices()
                        .map(|(i, _)| i)
                        .nth((rng.next() % 4) as usize);
                    let piece = hostile[(rng.next() % hostile.len() as u64) as usize];
                    s.insert_str(at.unwrap_or(s.len()), piece);
                }
            });
            for format in [
                Format::Table,
                Format::Wide,
                Format::Tree,
                Format::Mermaid,
                Format::Name,
            ] {
                let out = render(&report, format, &view).unwrap();
                let raw = out.chars().find(|&c| {
                    (c.is_control() && c != '\n')
                        || ('\u{202a}'..='\u{202e}').contains(&c)
                        || ('\u{2066}'..='\u{2069}').contains(&c)
                });
                assert_eq!(raw, None, "{format:?} printed {raw:?} raw:\n{out}");
            }
        }
    }
}
