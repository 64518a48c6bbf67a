//! `status`: the view once, or with `--watch` again at every change (on a
//! terminal redrawn in place).

use std::io::Write;

use super::{exit_for, leave, let_go, unserializable, view};
use crate::actions;
use crate::cluster::{Cluster, Scope};
use crate::error::{AppError, Exit};
use crate::events::Event;
use crate::model::analyze;
use crate::narrate::Narrator;
use crate::render::{self, Format, View};
use crate::report::ChainReport;
use crate::settings::{Settings, StatusSettings};

pub(super) async fn status(
    settings: &Settings,
    st: &StatusSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let scope = settings.namespaces.scope(cluster.default_namespace());
    let found = actions::status::status(&cluster, &scope, &st.names).await?;
    for warning in &found.report.warnings {
        narrator.say(Event::Warning {
            message: warning.to_string(),
        });
    }
    for note in &found.snapshot.notes {
        narrator.say(Event::Note {
            message: note.clone(),
        });
    }
    let all_namespaces = scope == Scope::All;
    if found.report.chains.is_empty() {
        let place = match &scope {
            Scope::Namespace(ns) => format!("in {ns} namespace"),
            Scope::All => "in any namespace".into(),
        };
        narrator.say(Event::Info {
            message: format!("No Flux Kustomizations found {place}."),
        });
    }
    // Each view is drawn at its own time (SINCE is relative to now).
    let draw = |report: &ChainReport, out: &mut dyn Write| {
        let now = view(
            settings,
            st.no_headers,
            all_namespaces,
            scope.namespace(),
            st.compact,
        );
        show(report, st, &now, settings.stdout_is_terminal, out)
    };
    if !st.watch {
        // One view, of the report alone. JSON is written straight from it,
        // so the objects it was made from are left to the exit; any other
        // view is built in memory first, and the objects are let go as it
        // is (at 5,000 apps, a table is 5 MB of text).
        let actions::status::Status {
            report, snapshot, ..
        } = found;
        let _dropping = match st.format {
            Format::Json => {
                leave(snapshot);
                None
            }
            _ => Some(let_go(snapshot)),
        };
        draw(&report, out)?;
        let exit = exit_for(&report);
        leave(report);
        return Ok(exit);
    }
    draw(&found.report, out)?;
    let mut last = found.report;
    let mut watch = cluster.watch(&scope, &found.snapshot);
    while let Some(snapshot) = watch.next().await? {
        let report = analyze(&snapshot, &found.selection);
        if report != last {
            draw(&report, out)?;
            last = report;
        }
    }
    Ok(exit_for(&last))
}

/// Writes one view. In watch mode machine formats are JSON Lines, and a
/// terminal is redrawn in place.
fn show(
    report: &ChainReport,
    st: &StatusSettings,
    view: &View,
    terminal: bool,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let data = matches!(st.format, Format::Json | Format::Yaml);
    if data && !st.watch {
        render::write_data(report, st.format, out)?;
        return out.flush().map_err(AppError::Output);
    }
    let text = match (st.watch, st.format) {
        (true, Format::Json) => render::json_line(report),
        // A stream of YAML documents, as `kubectl get -w -o yaml` writes them.
        (true, Format::Yaml) => render::data(report, Format::Yaml).map(|y| format!("---\n{y}")),
        // Nothing to draw; stderr said so.
        _ if !data && report.chains.is_empty() => Ok(String::new()),
        _ => render::render(report, st.format, view),
    }
    .map_err(unserializable)?;
    let redraw = st.watch && terminal && !data;
    if redraw {
        out.write_all(b"\x1b[H\x1b[2J")?;
    }
    out.write_all(text.as_bytes())?;
    if st.watch && !redraw && !data {
        out.write_all(b"\n")?;
    }
    out.flush().map_err(AppError::Output)
}
