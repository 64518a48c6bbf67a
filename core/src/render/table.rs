//! The default view: one block per chain, stages in dependency order with
//! their Jobs nested beneath, and a line per failed or blocked stage saying why.

use comfy_table::{Cell, Color, ContentArrangement, Table, presets};

use super::{View, age, job_duration, job_since, sanitize, short_revision, symbol};
use crate::report::{Chain, ChainReport, Job, JobPhase, Stage, StageState};

fn state_color(state: StageState) -> Option<Color> {
    match state {
        StageState::Failed | StageState::Missing | StageState::Unreadable => Some(Color::Red),
        StageState::Blocked
        | StageState::Progressing
        | StageState::NeverReconciled
        | StageState::Suspended
        | StageState::Unknown => Some(Color::Yellow),
        StageState::UpToDate | StageState::Ready => Some(Color::Green),
    }
}

fn job_color(phase: JobPhase) -> Option<Color> {
    match phase {
        JobPhase::Failed | JobPhase::Gone => Some(Color::Red),
        JobPhase::Succeeded => Some(Color::Green),
        _ => Some(Color::Yellow),
    }
}

/// A cell of the report's text: [`super::render`] has sanitized the report
/// it draws, so a cell takes its text as it is (a table of 5,000 chains has
/// a quarter of a million cells).
fn cell(text: impl ToString, color: Option<Color>, view: &View) -> Cell {
    let c = Cell::new(text);
    match color {
        Some(color) if view.styles.color => c.fg(color),
        _ => c,
    }
}

fn stage_name(stage: &Stage, chain_ns: &str, view: &View) -> String {
    let here = view.namespace.as_deref().unwrap_or(chain_ns);
    if view.all_namespaces || stage.namespace == here {
        stage.name.to_string()
    } else {
        stage.key().to_string()
    }
}

/// The report as kubectl-style tables, one per chain; `wide` adds the stage
/// settings. More than one chain opens with a count of them by state; with
/// `view.compact` (a terminal) the healthy chains are one line each, in one
/// table, and only the others are drawn in full, below it.
pub fn render(report: &ChainReport, view: &View, wide: bool) -> String {
    let mut out = String::new();
    if report.chains.len() > 1 && !view.no_headers {
        out.push_str(&summary(&report.chains));
        out.push('\n');
    }
    let compact = view.compact && !wide;
    let (healthy, full): (Vec<&Chain>, Vec<&Chain>) = report
        .chains
        .iter()
        .partition(|c| compact && health(c) == Health::Healthy);
    if !healthy.is_empty() {
        render_compact(&mut out, &healthy, view);
    }
    render_chains(&mut out, &full, !healthy.is_empty(), view, wide);
    out
}

/// Chains in full, a blank line between them (and before the first when
/// `after` something). Each chain is its own table, and a cluster's
/// thousands are most of a text view's time: they are drawn on the
/// machine's cores at once, in slices of at least [`PER_THREAD`], in order.
fn render_chains(out: &mut String, chains: &[&Chain], after: bool, view: &View, wide: bool) {
    const PER_THREAD: usize = 500;
    let draw = |out: &mut String, from: usize, slice: &[&Chain]| {
        for (i, chain) in slice.iter().enumerate() {
            if from + i > 0 || after {
                out.push('\n');
            }
            render_chain(out, chain, view, wide);
        }
    };
    let parts = crate::parallel::parts(chains, PER_THREAD, |from, slice| {
        let mut part = String::new();
        draw(&mut part, from, slice);
        part
    });
    for part in parts {
        out.push_str(&part);
    }
}

/// How a chain counts in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Health {
    Failed,
    Blocked,
    Progressing,
    Suspended,
    Unknown,
    Healthy,
}

impl Health {
    fn as_str(self) -> &'static str {
        match self {
            Health::Failed => "failed",
            Health::Blocked => "blocked",
            Health::Progressing => "progressing",
            Health::Suspended => "suspended",
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
        }
    }
}

fn health(chain: &Chain) -> Health {
    let failed_job = chain
        .stages
        .iter()
        .flat_map(|s| &s.jobs)
        .any(|j| j.phase == JobPhase::Failed);
    match chain.state {
        _ if failed_job => Health::Failed,
        StageState::Failed | StageState::Missing | StageState::Unreadable => Health::Failed,
        StageState::Blocked => Health::Blocked,
        StageState::Progressing | StageState::NeverReconciled => Health::Progressing,
        StageState::Suspended => Health::Suspended,
        StageState::Unknown => Health::Unknown,
        StageState::Ready | StageState::UpToDate => Health::Healthy,
    }
}

/// `12 chains: 10 healthy, 1 progressing, 1 failed`, healthy first.
fn summary(chains: &[Chain]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for c in chains {
        *counts.entry(health(c)).or_insert(0usize) += 1;
    }
    let mut parts: Vec<String> = counts
        .get(&Health::Healthy)
        .map(|n| format!("{n} healthy"))
        .into_iter()
        .collect();
    parts.extend(
        counts
            .iter()
            .filter(|(h, _)| **h != Health::Healthy)
            .map(|(h, n)| format!("{n} {}", h.as_str())),
    );
    format!("{} chains: {}", chains.len(), parts.join(", "))
}

/// Healthy chains, one line each: their state, stages, Jobs succeeded (and
/// gone: a finished Job removed by its TTL), revision (when
/// the stages agree on one) and the time since the newest Ready change.
fn render_compact(out: &mut String, chains: &[&Chain], view: &View) {
    let mut table = new_table(view);
    if !view.no_headers {
        table.set_header(["CHAIN", "STATE", "STAGES", "JOBS", "REVISION", "SINCE"]);
    }
    for chain in chains {
        let jobs: Vec<&Job> = chain.stages.iter().flat_map(|s| &s.jobs).collect();
        let done = jobs
            .iter()
            .filter(|j| j.phase == JobPhase::Succeeded)
            .count();
        let mut revisions = chain.stages.iter().map(|s| s.revision.as_deref());
        let first = revisions.next().flatten();
        let revision = match first {
            Some(r) if revisions.all(|o| o == Some(r)) => short_revision(r),
            Some(_) => "mixed".into(),
            None => "-".into(),
        };
        let newest = chain
            .stages
            .iter()
            .filter_map(|s| s.last_transition_time.as_deref())
            .filter_map(|t| t.parse::<jiff::Timestamp>().ok())
            .max()
            .map(|t| t.to_string());
        table.add_row(vec![
            cell(chain.name.as_str(), None, view),
            cell(
                format!("{} {}", symbol(chain.state), chain.state.as_str()),
                state_color(chain.state),
                view,
            ),
            cell(chain.stages.len().to_string(), None, view),
            cell(
                match jobs.iter().filter(|j| j.phase == JobPhase::Gone).count() {
                    0 => format!("{done}/{}", jobs.len()),
                    gone => format!("{done}/{} ({gone} gone)", jobs.len()),
                },
                None,
                view,
            ),
            cell(revision, None, view),
            cell(age(view.now, newest.as_deref()), None, view),
        ]);
    }
    push_table(out, &mut table);
}

fn new_table(view: &View) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty();
    if view.styles.color {
        table.enforce_styling();
    }
    table
}

/// The table's lines, three spaces between columns, none after the last.
fn push_table(out: &mut String, table: &mut Table) {
    let columns = table.column_count();
    for (i, column) in table.column_iter_mut().enumerate() {
        column.set_padding((0, if i + 1 == columns { 0 } else { 3 }));
    }
    for line in table.to_string().lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn render_chain(out: &mut String, chain: &Chain, view: &View, wide: bool) {
    let chain_ns = chain
        .stages
        .first()
        .map(|s| s.namespace.as_str())
        .unwrap_or("");
    if !view.no_headers {
        let title = format!(
            "CHAIN {}  {} {}",
            sanitize(&chain.name),
            symbol(chain.state),
            chain.state.as_str()
        );
        out.push_str(&title);
        out.push('\n');
    }
    let mut table = new_table(view);
    let mut header: Vec<&str> = vec![];
    if view.all_namespaces {
        header.push("NAMESPACE");
    }
    header.extend([
        "NAME",
        "ROLE",
        "READY",
        "STATE",
        "REASON",
        "REVISION",
        "UP-TO-DATE",
        "DURATION",
        "SINCE",
    ]);
    if wide {
        header.extend(["SOURCE", "INTERVAL", "TIMEOUT", "FORCE", "WAIT"]);
    }
    if !view.no_headers {
        table.set_header(header.clone());
    }
    for stage in &chain.stages {
        table.add_row(stage_row(stage, chain_ns, view, wide));
        for (j, job) in stage.jobs.iter().enumerate() {
            table.add_row(job_row(stage, job, j + 1 == stage.jobs.len(), view));
        }
    }
    push_table(out, &mut table);
    for line in explanations(chain) {
        out.push_str(&truncate(&format!("  {line}"), view.width));
        out.push('\n');
    }
}

/// A stage's row: its name (qualified outside the namespace asked for), role,
/// readiness, state, revision and SINCE; `wide` adds its settings.
fn stage_row(stage: &Stage, chain_ns: &str, view: &View, wide: bool) -> Vec<Cell> {
    let mut row = vec![];
    if view.all_namespaces {
        row.push(cell(stage.namespace.as_str(), None, view));
    }
    row.extend([
        cell(stage_name(stage, chain_ns, view), None, view),
        cell(super::role(stage), None, view),
        cell(stage.ready.as_deref().unwrap_or("-"), None, view),
        cell(stage.state.as_str(), state_color(stage.state), view),
        cell(stage.reason.as_deref().unwrap_or("-"), None, view),
        cell(
            stage
                .revision
                .as_deref()
                .map(short_revision)
                .unwrap_or_else(|| "-".into()),
            None,
            view,
        ),
        cell(
            match stage.up_to_date {
                Some(true) => "Yes",
                Some(false) => "No",
                None => "-",
            },
            None,
            view,
        ),
        cell("", None, view),
        cell(
            age(view.now, stage.last_transition_time.as_deref()),
            None,
            view,
        ),
    ]);
    if wide {
        let source = stage.source.as_ref().map_or_else(
            || "-".to_string(),
            |s| {
                if s.namespace == stage.namespace {
                    format!("{}/{}", s.kind, s.name)
                } else {
                    format!("{}/{}/{}", s.kind, s.namespace, s.name)
                }
            },
        );
        row.extend([
            cell(source, None, view),
            cell(stage.interval.as_deref().unwrap_or("-"), None, view),
            cell(stage.timeout.as_deref().unwrap_or("-"), None, view),
            cell(if stage.force { "true" } else { "false" }, None, view),
            cell(if stage.wait { "true" } else { "false" }, None, view),
        ]);
    }
    row
}

/// A Job's row under its stage: `├─ job/NAME`, completions, phase, why it
/// did not simply succeed, DURATION and SINCE.
fn job_row(stage: &Stage, job: &Job, last: bool, view: &View) -> Vec<Cell> {
    let branch = if last { "└─" } else { "├─" };
    let name = if job.namespace == stage.namespace {
        job.name.to_string()
    } else {
        format!("{}/{}", job.namespace, job.name)
    };
    let completions = match job.phase {
        JobPhase::Gone | JobPhase::Unknown => "-".to_string(),
        _ => format!("{}/{}", job.succeeded, job.completions.unwrap_or(1)),
    };
    let mut row = vec![];
    if view.all_namespaces {
        row.push(cell(job.namespace.as_str(), None, view));
    }
    row.extend([
        cell(format!("{branch} job/{name}"), None, view),
        cell("", None, view),
        cell(completions, None, view),
        cell(job.phase.as_str(), job_color(job.phase), view),
        // A reason says why a Job did not simply succeed.
        cell(
            if job.phase == JobPhase::Succeeded {
                ""
            } else {
                job.reason.as_deref().unwrap_or("")
            },
            None,
            view,
        ),
        cell("", None, view),
        cell("", None, view),
        cell(job_duration(view.now, job), None, view),
        cell(job_since(view.now, job), None, view),
    ]);
    row
}

/// Why each failed or blocked stage is so, in one line each.
pub(super) fn explanations(chain: &Chain) -> Vec<String> {
    let mut lines = vec![];
    for stage in &chain.stages {
        match stage.state {
            StageState::Failed => {
                let job = stage.jobs.iter().find(|j| j.phase == JobPhase::Failed);
                match job {
                    Some(j) => job_failure(stage, j, &mut lines),
                    None => lines.push(format!(
                        "✗ {}: {}",
                        stage.key(),
                        sanitize(stage.message.as_deref().unwrap_or("failed"))
                    )),
                }
            }
            StageState::Blocked => {
                let why = match &stage.blocked_by {
                    Some(cause) if cause.reason.as_deref() == Some("DependencyCycle") => {
                        "blocked by a dependsOn cycle".to_string()
                    }
                    Some(cause) if cause.state == StageState::Missing => {
                        format!("blocked by {}, which does not exist", cause.stage)
                    }
                    Some(cause) if cause.state == StageState::Unreadable => {
                        format!("blocked by {}, which cannot be read", cause.stage)
                    }
                    Some(cause) => {
                        let mut s =
                            format!("blocked by {} ({})", cause.stage, cause.state.as_str());
                        if let Some(job) = &cause.job {
                            s.push_str(&format!(": Job {job}"));
                        }
                        if let Some(reason) = &cause.reason {
                            s.push_str(&format!(": {reason}"));
                        }
                        s
                    }
                    None => format!(
                        "waiting for Flux to re-check its dependencies ({})",
                        stage.message.as_deref().unwrap_or("dependency not ready")
                    ),
                };
                lines.push(format!("◎ {}: {}", stage.key(), sanitize(&why)));
            }
            StageState::Missing => lines.push(format!(
                "✗ {}: {}",
                stage.key(),
                "named in dependsOn, but no such Kustomization exists"
            )),
            StageState::Unreadable => lines.push(format!(
                "✗ {}: {}",
                stage.key(),
                stage.message.as_deref().unwrap_or("cannot be read")
            )),
            _ => {}
        }
        // A failed Job says so, with its log, whatever Flux has concluded about
        // its stage yet (its health check notices seconds later).
        if stage.state != StageState::Failed {
            for job in stage.jobs.iter().filter(|j| j.phase == JobPhase::Failed) {
                job_failure(stage, job, &mut lines);
            }
        }
    }
    if !chain.cycle.is_empty() {
        lines.push(format!("✗ dependsOn cycle: {}", chain.cycle.join(" → ")));
    }
    lines
}

/// A failed Job: its reason, then its log tail, or why it has none.
fn job_failure(stage: &Stage, job: &Job, lines: &mut Vec<String>) {
    let why = [job.reason.as_deref(), job.message.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    lines.push(format!(
        "✗ {}: {}",
        stage.key(),
        sanitize(&if why.is_empty() {
            format!("Job {}/{} failed", job.namespace, job.name)
        } else {
            format!("Job {}/{} failed: {why}", job.namespace, job.name)
        })
    ));
    for line in job.log_tail.iter().flatten() {
        lines.push(format!("    │ {}", sanitize(line)));
    }
    if let Some(no_log) = &job.log_unavailable {
        lines.push(format!("    no log: {}", sanitize(no_log)));
    }
}

fn truncate(line: &str, width: Option<usize>) -> String {
    match width {
        Some(w) if line.chars().count() > w && w > 1 => {
            let mut s: String = line.chars().take(w - 1).collect();
            s.push('…');
            s
        }
        _ => line.to_string(),
    }
}
