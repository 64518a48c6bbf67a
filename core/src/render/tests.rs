//! Snapshots of every view of the canonical, failed and multi-app scenarios,
//! with the time and width fixed.

use super::*;
use crate::model::{Selection, analyze, snapshot_from_yaml};
use crate::report::ChainReport;

fn report(yaml: &str) -> ChainReport {
    analyze(
        &snapshot_from_yaml(yaml).expect("the scenario parses"),
        &Selection::default(),
    )
}

fn view() -> View {
    View {
        styles: Styles::default(),
        now: "2026-11-26T09:00:00Z".parse().unwrap(),
        width: None,
        no_headers: false,
        all_namespaces: false,
        namespace: None,
        compact: false,
    }
}

const FORMATS: &[(&str, Format)] = &[
    ("table", Format::Table),
    ("wide", Format::Wide),
    ("tree", Format::Tree),
    ("json", Format::Json),
    ("yaml", Format::Yaml),
    ("mermaid", Format::Mermaid),
    ("name", Format::Name),
];

fn snapshot_all(scenario: &str, yaml: &str, view: &View) {
    let report = report(yaml);
    for (name, format) in FORMATS {
        let text = render(&report, *format, view).unwrap();
        insta::assert_snapshot!(format!("{scenario}_{name}"), text);
    }
}

#[test]
fn canonical_views() {
    snapshot_all(
        "canonical",
        include_str!("../../../tests/sandbox/scenarios/canonical.yaml"),
        &view(),
    );
}

#[test]
fn failed_views() {
    snapshot_all(
        "failed",
        include_str!("../../../tests/sandbox/scenarios/failed.yaml"),
        &view(),
    );
}

#[test]
fn multi_app_views() {
    let v = View {
        all_namespaces: true,
        ..view()
    };
    snapshot_all(
        "multi_app",
        include_str!("../../../tests/sandbox/scenarios/multi-app.yaml"),
        &v,
    );
}

/// `-A` on a terminal: a count of the chains by state, the healthy ones a
/// line each, the others in full below them.
#[test]
fn a_terminal_shows_healthy_chains_compactly_under_a_summary() {
    let report = report(include_str!(
        "../../../tests/sandbox/scenarios/multi-app.yaml"
    ));
    let compact = View {
        all_namespaces: true,
        compact: true,
        width: Some(200),
        ..view()
    };
    let text = render(&report, Format::Table, &compact).unwrap();
    insta::assert_snapshot!("multi_app_compact", text);
    assert!(text.starts_with(&format!("{} chains: ", report.chains.len())));
    // Wide draws every chain in full whatever the terminal.
    let wide = render(&report, Format::Wide, &compact).unwrap();
    assert_eq!(
        wide.matches("CHAIN ").count(),
        report.chains.len(),
        "{wide}"
    );
}

#[test]
fn no_headers_colour_and_width() {
    let report = report(include_str!("../../../tests/sandbox/scenarios/failed.yaml"));
    let plain = render(
        &report,
        Format::Table,
        &View {
            no_headers: true,
            width: Some(60),
            ..view()
        },
    )
    .unwrap();
    assert!(
        !plain.contains("CHAIN") && !plain.contains("REVISION"),
        "{plain}"
    );
    assert!(
        plain
            .lines()
            .all(|l| l.chars().count() <= 60 || !l.starts_with("  ")),
        "explanations fit the width:\n{plain}"
    );
    assert!(!plain.contains('\u{1b}'), "no colour unless asked");
    let coloured = render(
        &report,
        Format::Table,
        &View {
            styles: Styles { color: true },
            ..view()
        },
    )
    .unwrap();
    assert!(
        coloured.contains("\u{1b}[38;5;9mFailed"),
        "failed in red:\n{coloured}"
    );
}

#[test]
fn terminal_text_is_sanitized() {
    assert_eq!(sanitize("ok\u{1b}[2Jgone"), "ok\\u{1b}[2Jgone");
    assert_eq!(sanitize("a\u{202e}b\nc"), "a\\u{202e}b c");
}

#[test]
fn revisions_shorten_like_flux() {
    assert_eq!(
        short_revision("main@sha1:9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"),
        "main@sha1:9f1e2d3c"
    );
    assert_eq!(
        short_revision("v1.2.0@sha256:4f1c0a6e7b2d9e8f3a5c"),
        "v1.2.0@sha256:4f1c0a6e"
    );
    assert_eq!(short_revision("sha256:4f1c0a6e7b2d9e8f"), "sha256:4f1c0a6e");
    assert_eq!(
        short_revision("main/9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"),
        "main/9f1e2d3c"
    );
    assert_eq!(short_revision("latest"), "latest");
}

#[test]
fn durations_read_like_kubectl() {
    use jiff::SignedDuration as D;
    for (secs, want) in [
        (5, "5s"),
        (310, "5m10s"),
        (600, "10m"),
        (3 * 3600 + 60, "3h1m"),
        (30 * 3600, "30h"),
        (50 * 3600, "2d2h"),
        (97 * 86400, "97d"),
        (-3, "0s"),
    ] {
        assert_eq!(human_duration(D::from_secs(secs)), want, "{secs}");
    }
}

/// Issue 15: thousands of chains are drawn on several threads at once; the
/// table is the same as if each chain were drawn alone, one after another.
#[test]
fn a_table_drawn_in_parallel_is_each_chain_in_order() {
    let items: String = (0..1_234)
        .map(|i| {
            format!(
                "- {{apiVersion: kustomize.toolkit.fluxcd.io/v1, kind: Kustomization, metadata: {{name: app-{i:04}, namespace: ns-{}}}, status: {{conditions: [{{type: Ready, status: '{}', reason: R{i}}}]}}}}\n",
                i % 7,
                if i % 5 == 0 { "False" } else { "True" }
            )
        })
        .collect();
    let yaml = format!("apiVersion: v1\nkind: List\nitems:\n{items}");
    let report = report(&yaml);
    assert_eq!(report.chains.len(), 1_234);
    for view in [
        view(),
        View {
            all_namespaces: true,
            ..view()
        },
    ] {
        let whole = render(&report, Format::Table, &view).unwrap();
        let (summary, _) = whole.split_once('\n').unwrap();
        let alone: Vec<String> = report
            .chains
            .iter()
            .map(|c| {
                let one = ChainReport::new(vec![c.clone()], report.warnings.clone());
                render(&one, Format::Table, &view).unwrap()
            })
            .collect();
        assert_eq!(whole, format!("{summary}\n{}", alone.join("\n")));
    }
}
