//! The text view of `logs`: one header per pod, like `tail`'s between
//! files, then its containers' lines (prefixed with the container's name
//! when there are several), every line made safe for a terminal.

use crate::logs::{JobLogs, LogsReport, PodLogs};

/// The line that opens a pod's log: the Job, the pod, which attempt of how
/// many, and how it ended (or that it runs, or why it waits).
pub fn header(job: &JobLogs, pod: &PodLogs) -> String {
    let mut state = pod.phase.clone();
    match (pod.exit_code, &pod.reason) {
        (Some(code), Some(reason)) => state.push_str(&format!(", exit code {code} ({reason})")),
        (Some(code), None) => state.push_str(&format!(", exit code {code}")),
        (None, Some(reason)) => state.push_str(&format!(" ({reason})")),
        (None, None) => {}
    }
    format!(
        "==> Job {}/{}, pod {} (attempt {} of {}): {} <==",
        super::sanitize(&job.namespace),
        super::sanitize(&job.name),
        super::sanitize(&pod.name),
        pod.attempt,
        job.attempts,
        super::sanitize(&state)
    )
}

/// A log line as a terminal may show it: control characters (ANSI escapes
/// included) and bidirectional overrides escaped, tabs kept.
pub fn line(raw: &str) -> String {
    let raw = raw.strip_suffix('\r').unwrap_or(raw);
    if raw.contains('\t') {
        raw.split('\t')
            .map(super::sanitize)
            .collect::<Vec<_>>()
            .join("\t")
    } else {
        super::sanitize(raw)
    }
}

/// The prefix of a container's lines in a pod of several (`[name] `).
pub fn prefix(container: &str, several: bool) -> String {
    if several {
        format!("[{}] ", super::sanitize(container))
    } else {
        String::new()
    }
}

/// The whole report as text: Jobs in the stage's order, each pod newest
/// first. What could not be read is not here: it is narrated, on stderr.
pub fn text(report: &LogsReport) -> String {
    let mut out = String::new();
    for job in &report.jobs {
        for pod in &job.pods {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&header(job, pod));
            out.push('\n');
            let with_log: Vec<_> = pod.containers.iter().filter(|c| c.log.is_some()).collect();
            let several = pod.containers.len() > 1;
            for c in with_log {
                let p = prefix(&c.name, several);
                for l in c.log.as_deref().unwrap_or_default().lines() {
                    out.push_str(&p);
                    out.push_str(&line(l));
                    out.push('\n');
                }
            }
        }
    }
    out
}
