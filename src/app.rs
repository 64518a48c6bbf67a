//! Runs one command: connect, act, render, write; one deadline (`--timeout`)
//! over the whole of it, Ctrl-C as an outcome (exit 130), and the exit code.

use std::io::Write;

use jiff::Timestamp;

use crate::actions;
use crate::cluster::{Cluster, Scope};
use crate::error::{AppError, Exit};
use crate::model::analyze;
use crate::render::{self, Format, Styles, View};
use crate::report::ChainReport;
use crate::settings::{CommandSettings, Settings, StatusSettings};

/// Runs the command and returns its exit code; errors are written to `err` once.
pub async fn run(settings: Settings, out: &mut dyn Write, err: &mut dyn Write) -> Exit {
    let result = {
        let work = execute(&settings, out, &mut *err);
        let deadline = async {
            match settings.timeout {
                Some(t) => {
                    tokio::time::sleep(t).await;
                    Err(AppError::Timeout(t))
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = work => r,
            r = deadline => r,
            _ = tokio::signal::ctrl_c() => Err(AppError::Interrupted),
        }
    };
    let result = result.and_then(|exit| out.flush().map(|_| exit).map_err(AppError::Output));
    match result {
        Ok(exit) => exit,
        // Output piped into `head` and closed: not an error.
        Err(AppError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
        Err(AppError::Interrupted) => Exit::Interrupted,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            e.exit()
        }
    }
}

async fn execute(
    settings: &Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, AppError> {
    match &settings.command {
        CommandSettings::Status(s) => status(settings, s, out, err).await,
    }
}

fn exit_for(report: &ChainReport) -> Exit {
    if report.unhealthy() {
        Exit::Unhealthy
    } else if !report.warnings.is_empty() {
        Exit::Usage
    } else {
        Exit::Ok
    }
}

async fn status(
    settings: &Settings,
    st: &StatusSettings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube).await?;
    let scope = settings.namespaces.scope(cluster.default_namespace());
    let found = actions::status::status(&cluster, &scope, &st.names).await?;
    for warning in &found.report.warnings {
        writeln!(err, "warning: {}", render::sanitize(warning)).map_err(AppError::Output)?;
    }
    let view = |now: Timestamp| View {
        styles: Styles {
            color: settings.color,
        },
        now,
        width: settings.width,
        no_headers: st.no_headers,
        all_namespaces: scope == Scope::All,
    };
    if found.report.chains.is_empty() {
        let place = match &scope {
            Scope::Namespace(ns) => format!("in {ns} namespace"),
            Scope::All => "in any namespace".into(),
        };
        writeln!(err, "No Flux Kustomizations found {place}.").map_err(AppError::Output)?;
    }
    show(
        &found.report,
        st,
        &view(Timestamp::now()),
        settings.stdout_is_terminal,
        out,
    )?;
    if !st.watch {
        return Ok(exit_for(&found.report));
    }
    let mut last = found.report;
    let mut watch = cluster.watch(&scope, &found.snapshot);
    while let Some(snapshot) = watch.next().await {
        let report = analyze(&snapshot, &found.selection);
        if report != last {
            show(
                &report,
                st,
                &view(Timestamp::now()),
                settings.stdout_is_terminal,
                out,
            )?;
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
    let text = match (st.watch, st.format) {
        (true, Format::Json | Format::Yaml) => render::json_line(report),
        (_, format)
            if report.chains.is_empty() && !matches!(format, Format::Json | Format::Yaml) =>
        {
            Ok(String::new())
        }
        (_, format) => render::render(report, format, view),
    }
    .map_err(|e| AppError::Output(std::io::Error::other(e)))?;
    let redraw = st.watch && terminal && !matches!(st.format, Format::Json | Format::Yaml);
    if redraw {
        out.write_all(b"\x1b[H\x1b[2J").map_err(AppError::Output)?;
    }
    out.write_all(text.as_bytes()).map_err(AppError::Output)?;
    if st.watch && !redraw && !matches!(st.format, Format::Json | Format::Yaml) {
        out.write_all(b"\n").map_err(AppError::Output)?;
    }
    out.flush().map_err(AppError::Output)
}
