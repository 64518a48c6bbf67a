//! Randomized tests of the views: whatever text the cluster holds, none of
//! it reaches a terminal raw.

use super::sanitize;
use crate::rng::{PIECES, Rng};

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

/// Text views printed a `dependsOn` name carrying `ESC]0;…BEL` and an
/// inventory id carrying `ESC[31m` raw: every piece of cluster text in any
/// report, whatever it holds, reaches a terminal escaped.
#[test]
fn no_cluster_text_reaches_the_terminal_raw_in_any_text_view() {
    use crate::render::{Format, Styles, View, render};
    let scenarios = [
        include_str!("../../../tests/sandbox/scenarios/canonical.yaml"),
        include_str!("../../../tests/sandbox/scenarios/failed.yaml"),
        include_str!("../../../tests/sandbox/scenarios/multi-app.yaml"),
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
                    let mut t = s.to_string();
                    t.insert_str(at.unwrap_or(s.len()), piece);
                    *s = t.into();
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

/// Narration carries cluster text too (stage names, messages, log lines):
/// every line an event renders to is as safe as the views.
#[test]
fn no_cluster_text_reaches_the_terminal_raw_in_narration() {
    use crate::events::Event;
    let mut rng = Rng(0xfeed);
    let hostile = [
        "\u{1b}]0;pwned\u{7}",
        "\u{1b}[2J",
        "\u{202e}",
        "\r",
        "\u{9b}",
    ];
    for _ in 0..5_000 {
        let mut text = || {
            let mut s = rng.text(PIECES);
            let piece = hostile[(rng.next() % hostile.len() as u64) as usize];
            s.push_str(piece);
            s
        };
        let events = [
            Event::Waiting {
                stage: text(),
                state: crate::report::StageState::Progressing,
                why: crate::model::progress::Waiting::Flux { message: text() },
            },
            Event::StageFailed {
                stage: text(),
                cause: Some(text()),
                job: Some(text()),
                reason: text(),
                message: text(),
            },
            Event::JobLog {
                job: text(),
                lines: vec![text(), text()],
            },
            Event::Error { message: text() },
        ];
        for event in &events {
            for line in super::narration::lines(event) {
                assert!(
                    !line
                        .chars()
                        .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
                    "{event:?} → {line:?}"
                );
            }
        }
    }
}

/// A view copies the report to sanitize it only when `any_text` sees a text
/// that needs it: hostile text in any one field alone is seen.
#[test]
fn hostile_text_in_any_one_field_alone_is_seen() {
    let snap = crate::model::snapshot_from_yaml(include_str!(
        "../../../tests/sandbox/scenarios/failed.yaml"
    ))
    .unwrap();
    let mut clean = crate::model::analyze(&snap, &crate::model::Selection::default());
    clean.chains[0].stages[0].jobs[0].log_tail = Some(vec!["a log line".into()]);
    let mut fields = 0;
    clean.for_each_text(&mut |_| fields += 1);
    assert!(fields > 20, "{fields}");
    assert!(!clean.any_text(|s| s.contains('\u{1b}')));
    for at in 0..fields {
        let mut report = clean.clone();
        let mut i = 0;
        report.for_each_text(&mut |s| {
            if i == at {
                *s = smol_str::format_smolstr!("{s}\u{1b}");
            }
            i += 1;
        });
        assert!(
            report.any_text(|s| s.contains('\u{1b}')),
            "field {at} of {fields}"
        );
    }
}
