//! Narration as text: the lines an [`Event`] reads as on stderr, in flux's
//! vocabulary (`►` asked, `◎` waiting, `✔` done, `✗` failed). The one place
//! narration is worded and made safe to print.

use super::{sanitize, short_revision};
use crate::events::Event;
use crate::model::progress::Waiting;

/// The event's lines (none for `Exit`, which only JSON consumers read), each
/// with what a terminal would interpret escaped.
pub fn lines(event: &Event) -> Vec<String> {
    let line = match event {
        Event::Note { message } => format!("note: {message}"),
        Event::Warning { message } => format!("warning: {message}"),
        Event::Info { message } => message.clone(),
        Event::Requested { stage } => format!("► {stage}: reconcile requested"),
        Event::Nudged { stage } => {
            format!("► {stage}: dependencies ready, reconcile requested (no dependency poll)")
        }
        Event::NudgeRefused { stage, error } => format!(
            "◎ {stage}: cannot nudge it ({error}); waiting for Flux's dependency poll instead"
        ),
        Event::SourceRequested { source } => format!("► {source}: reconcile requested"),
        Event::SourceFetched { source, revision } => {
            format!("✔ {source}: fetched {}", short_revision(revision))
        }
        Event::SourceSkipped { kind, stage } => format!(
            "◎ source kind {kind} is not one jobgate can reconcile; reconciling {stage} only"
        ),
        Event::Waiting { stage, state, why } => {
            format!("◎ {stage}: {}: {}", state.as_str(), waiting(why))
        }
        Event::StageReady { stage, revision } => {
            format!("✔ {stage}: ready at {}", short_revision(revision))
        }
        // Cause first, then its words: "blocked by X, whose Job J failed: R: M".
        Event::StageFailed {
            stage,
            cause,
            job,
            reason,
            message,
        } => match (cause, job) {
            (Some(cause), Some(job)) => {
                format!(
                    "✗ {stage}: blocked by {cause}, whose Job {job} failed: {reason}: {message}"
                )
            }
            (Some(cause), None) => format!("✗ {stage}: blocked by {cause}: {reason}: {message}"),
            (None, Some(job)) => format!("✗ {stage}: Job {job} failed: {reason}: {message}"),
            (None, None) => format!("✗ {stage}: {reason}: {message}"),
        },
        Event::JobAttemptFailed {
            stage,
            job,
            attempt,
            attempts,
            pod,
            exit_code,
            reason,
        } => {
            let mut s = format!("◎ {stage}: Job {job}: attempt {attempt}/{attempts} failed");
            match (exit_code, reason) {
                (Some(code), Some(r)) => s.push_str(&format!(": exit {code} ({r})")),
                (Some(code), None) => s.push_str(&format!(": exit {code}")),
                (None, Some(r)) => s.push_str(&format!(": {r}")),
                (None, None) => {}
            }
            if let Some(pod) = pod {
                s.push_str(&format!(" (pod {pod})"));
            }
            if attempt < attempts {
                s.push_str("; the Job retries");
            }
            s
        }
        Event::JobDeleted { job, uid } => format!("✔ deleted {} (uid {uid})", job_in(job)),
        Event::JobDeleting {
            job,
            uid,
            finalizers,
        } => format!(
            "◎ deleting {} (uid {uid}): held by finalizer {} until its controller releases it",
            job_in(job),
            finalizers.join(", ")
        ),
        Event::JobGone { job } => format!(
            "◎ {} is gone already (TTL, or deleted): the reconcile recreates it",
            job_in(job)
        ),
        Event::JobAlreadyGone { job } => format!("◎ {} was already gone", job_in(job)),
        Event::JobLog { job, lines } => {
            let mut out = vec![sanitize(&format!("  last lines of the log of Job {job}:"))];
            out.extend(lines.iter().map(|l| format!("  │ {}", sanitize(l))));
            return out;
        }
        Event::JobLogUnavailable { job, why } => format!("  no log of Job {job}: {why}"),
        Event::Retrying {
            request,
            status,
            reason,
            after_seconds,
            attempt,
            of,
        } => format!(
            "◎ the API server answered {status} {reason} to {request}: retrying in {} ({attempt}/{of})",
            seconds(*after_seconds)
        ),
        Event::WatchRetrying {
            watch,
            error,
            attempt,
            failing_seconds,
            give_up_seconds,
        } => format!(
            "◎ the watch of {watch} failed ({error}): retrying (attempt {attempt}, failing for {failing_seconds}s; jobgate gives up at {give_up_seconds}s)"
        ),
        Event::Log {
            level,
            target,
            message,
        } => match target.as_str() {
            "jobgate" => format!("jobgate: {message}"),
            _ => format!("{target}: {level}: {message}"),
        },
        Event::Error { message } => format!("error: {message}"),
        Event::Recovery { message } => message.clone(),
        Event::Exit { .. } => return vec![],
    };
    vec![sanitize(&line)]
}

/// What a stage waits for, in words.
pub fn waiting(why: &Waiting) -> String {
    match why {
        Waiting::Request { busy_with: Some(m) } => {
            format!("{m} (an earlier reconcile; Flux handles the request after it)")
        }
        Waiting::Request { busy_with: None } => {
            "waiting for Flux to pick up the reconcile request".into()
        }
        Waiting::EarlierRun {
            failure,
            attempted,
            target,
        } => {
            let named = target
                .as_deref()
                .map_or_else(|| "its source's revision".to_string(), short_revision);
            match attempted {
                Some(a) => format!(
                    "{} failed ({failure}); Flux has not applied {named} yet",
                    short_revision(a)
                ),
                None => format!("an earlier run failed ({failure}); Flux is applying {named}"),
            }
        }
        Waiting::Revision { at, target } => format!(
            "ready at {}, waiting for {}",
            at.as_deref()
                .map_or_else(|| "no revision".to_string(), short_revision),
            short_revision(target)
        ),
        Waiting::Jobs => "waiting for its Jobs".into(),
        Waiting::Artifact => "waiting for its source to have an artifact".into(),
        Waiting::Flux { message } => message.clone(),
    }
}

/// `apps/db-migration` → `job.batch/db-migration in apps`, as kubectl names it.
fn job_in(job: &str) -> String {
    match job.split_once('/') {
        Some((ns, name)) => format!("job.batch/{name} in {ns}"),
        None => format!("job.batch/{job}"),
    }
}

/// `2s`, `500ms`.
fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{}ms", (s * 1000.0).round() as u64)
    } else {
        format!("{}s", s.trunc() as u64)
    }
}
