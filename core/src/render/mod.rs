//! Views of a [`ChainReport`]: pure functions of the report, the styles, the
//! time and the terminal width, returning text. Nothing here reads a clock,
//! a terminal or the environment; `main` decides those and passes them in.

pub mod findings;
pub mod logs;
mod mermaid;
pub mod narration;
mod table;
pub mod timeline;
mod tree;

use jiff::Timestamp;

use crate::report::{ChainReport, JobPhase, StageState};

/// The output formats of `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Wide,
    Tree,
    Json,
    Yaml,
    Mermaid,
    Name,
}

/// Colour, or none (the default: colour is opt-in by the caller).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Styles {
    pub color: bool,
}

/// What a renderer needs besides the report.
#[derive(Debug, Clone)]
pub struct View {
    pub styles: Styles,
    pub now: Timestamp,
    /// The terminal's width; `None` when not writing to a terminal.
    pub width: Option<usize>,
    pub no_headers: bool,
    /// Show a NAMESPACE column (`-A`).
    pub all_namespaces: bool,
    /// The namespace asked for (`-n`, or the context's): names in it are
    /// shown bare, names elsewhere qualified. `None`: each chain's own.
    pub namespace: Option<String>,
    /// Healthy chains one line each, the others in full (a terminal, unless
    /// `--expand`); the table view only.
    pub compact: bool,
}

/// Renders the report in a format; errors only for serialization. Text views
/// render a copy with every piece of cluster text sanitized first: the one
/// boundary between what the cluster says and a terminal. (The data formats
/// escape control characters themselves, and keep the text as it is.)
pub fn render(report: &ChainReport, format: Format, view: &View) -> Result<String, String> {
    if matches!(format, Format::Json | Format::Yaml) {
        return data(report, format);
    }
    // A copy only when something needs it: most reports are all plain text.
    let safe;
    let report = if report.any_text(needs_sanitizing) {
        let mut copy = report.clone();
        copy.for_each_text(&mut |s| {
            if needs_sanitizing(s) {
                *s = sanitize(s).into();
            }
        });
        safe = copy;
        &safe
    } else {
        report
    };
    Ok(match format {
        Format::Table => table::render(report, view, false),
        Format::Wide => table::render(report, view, true),
        Format::Tree => tree::render(report, view),
        Format::Mermaid => mermaid::render(report),
        _ => names(report),
    })
}

fn needs_sanitizing(s: &str) -> bool {
    // Printable ASCII, nearly every text, is decided a byte at a time.
    if s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return false;
    }
    s.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
    })
}

/// Any serializable value as an indented JSON document, or as YAML for every
/// other format (the machine formats of every command).
pub fn data(value: &impl serde::Serialize, format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        _ => serde_saphyr::to_string(value).map_err(|e| e.to_string()),
    }
}

/// [`data`], written to `out` as it is serialized: a report of thousands of
/// chains is never held as one string beside the report itself.
pub fn write_data(
    value: &impl serde::Serialize,
    format: Format,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            // serde_json writes each token on its own: buffered here, they are
            // copied in place, not each a call through `dyn Write`.
            let mut buffered = std::io::BufWriter::with_capacity(1 << 16, &mut *out);
            serde_json::to_writer_pretty(&mut buffered, value).map_err(|e| {
                match e.io_error_kind() {
                    // The writer's own failure (a closed pipe), kept as it was.
                    Some(kind) => std::io::Error::new(kind, e),
                    None => std::io::Error::other(e),
                }
            })?;
            std::io::Write::write_all(&mut buffered, b"\n")?;
            std::io::Write::flush(&mut buffered)
        }
        // YAML is written whole: serde-saphyr's writer would hide a closed pipe.
        _ => out.write_all(
            data(value, format)
                .map_err(std::io::Error::other)?
                .as_bytes(),
        ),
    }
}

/// One compact JSON document (for JSON Lines in watch mode).
pub fn json_line(report: &ChainReport) -> Result<String, String> {
    serde_json::to_string(report)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

fn names(report: &ChainReport) -> String {
    let mut out = String::new();
    for stage in report
        .chains
        .iter()
        .flat_map(|c| &c.stages)
        .filter(|s| s.state != StageState::Missing)
    {
        out.push_str(&format!(
            "kustomization.kustomize.toolkit.fluxcd.io/{}\n",
            sanitize(&stage.name)
        ));
    }
    out
}

/// Escapes what a terminal would interpret: control characters and the
/// bidirectional overrides that can disguise text (as fd does).
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{061c}' => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

pub use crate::model::flux::short_revision;

/// kubectl's human duration (`45s`, `5m10s`, `3h`, `2d4h`, `97d`).
pub fn human_duration(d: jiff::SignedDuration) -> String {
    let secs = d.as_secs();
    if secs < 0 {
        return "0s".into();
    }
    let (mins, hours, days) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        s if s < 120 => format!("{s}s"),
        _ if mins < 10 => match secs % 60 {
            0 => format!("{mins}m"),
            s => format!("{mins}m{s}s"),
        },
        _ if hours < 3 => format!("{mins}m"),
        _ if hours < 8 => match mins % 60 {
            0 => format!("{hours}h"),
            m => format!("{hours}h{m}m"),
        },
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => match hours % 24 {
            0 => format!("{days}d"),
            h => format!("{days}d{h}h"),
        },
        _ if days < 365 * 2 => format!("{days}d"),
        _ => format!("{}y{}d", days / 365, days % 365),
    }
}

/// Time since an RFC 3339 timestamp, or `-`.
pub fn age(now: Timestamp, ts: Option<&str>) -> String {
    match ts.and_then(|t| t.parse::<Timestamp>().ok()) {
        Some(t) => human_duration(now.duration_since(t)),
        None => "-".into(),
    }
}

/// How long ago a Job finished, or started while it runs (the SINCE column,
/// as a stage's is since its Ready condition last changed).
pub fn job_since(now: Timestamp, job: &crate::report::Job) -> String {
    match (&job.finished_at, job.phase) {
        (Some(end), _) => age(now, Some(end)),
        (None, JobPhase::Running | JobPhase::Pending) => age(now, job.start_time.as_deref()),
        _ => "-".into(),
    }
}

/// A Job's run time: start to completion, or to now while it runs.
pub fn job_duration(now: Timestamp, job: &crate::report::Job) -> String {
    let start = job
        .start_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok());
    let end = job
        .finished_at
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok());
    match (start, end) {
        (Some(s), Some(e)) => human_duration(e.duration_since(s)),
        (Some(s), None) if matches!(job.phase, JobPhase::Running | JobPhase::Pending) => {
            human_duration(now.duration_since(s))
        }
        _ => "-".into(),
    }
}

/// The symbol narration uses for a state (flux's vocabulary: ✔ ✗ ◎).
/// A stage's role as the views show it: `pre?` when it is a guess (Flux has
/// never applied the stage, so its Jobs are not known yet).
pub fn role(stage: &crate::report::Stage) -> String {
    let mark = if stage.role_guessed { "?" } else { "" };
    format!("{}{mark}", stage.role.as_str())
}

pub fn symbol(state: StageState) -> &'static str {
    match state {
        StageState::UpToDate | StageState::Ready => "✔",
        StageState::Failed | StageState::Missing | StageState::Unreadable => "✗",
        StageState::Unknown => "?",
        _ => "◎",
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod robustness;

/// `rerun --dry-run` as text: a line per Job, then the reconcile.
pub fn rerun_plan(plan: &crate::report::RerunPlan) -> String {
    use crate::report::PlannedAction;
    let mut out = String::new();
    for j in &plan.jobs {
        let line = match j.action {
            PlannedAction::None => format!(
                "job.batch/{} in {} is gone already (TTL, or deleted): nothing to delete",
                j.name, j.namespace
            ),
            PlannedAction::Delete => format!(
                "job.batch/{} in {} (uid {}, {}) would be deleted",
                j.name,
                j.namespace,
                j.uid,
                j.phase.as_str()
            ),
        };
        out.push_str(&sanitize(&line));
        out.push('\n');
    }
    out.push_str(&sanitize(&format!(
        "then kustomization {} would be asked to reconcile, so that Flux recreates them",
        plan.stage
    )));
    out.push('\n');
    out
}
