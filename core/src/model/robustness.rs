//! Randomized tests of the parsers of cluster text: no input may panic, and
//! each keeps its invariants.

use super::flux::{Kustomization, parse_inventory_id, short_revision};
use crate::rng::{PIECES, Rng};

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
            snap.add_kustomizations([ks]);
            let _ = crate::model::analyze(&snap, &crate::model::Selection::default());
        }
    }
}
