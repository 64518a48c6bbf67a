//! What the commands say as they go, as data: each line of narration on
//! stderr is one [`Event`], rendered as text by `render::narration` or, with
//! `--progress json`, written as one JSON document per line so a CI system
//! can follow a rollout without scraping text. Like the report, a stable
//! contract: events and fields are added, never renamed or removed.

use serde::Serialize;

use crate::model::progress::Waiting;
use crate::report::StageState;

/// One thing a command reports while it works. Stages, sources and Jobs are
/// named `namespace/name` (sources `Kind/namespace/name`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum Event {
    /// Something the view leaves out, and why (not a partial view).
    #[serde(rename_all = "camelCase")]
    Note { message: String },
    /// Something could not be read: the view is partial.
    #[serde(rename_all = "camelCase")]
    Warning { message: String },
    /// A plain statement, e.g. that there is nothing to show.
    #[serde(rename_all = "camelCase")]
    Info { message: String },
    /// `reconcile.fluxcd.io/requestedAt` set on a stage.
    #[serde(rename_all = "camelCase")]
    Requested { stage: String },
    /// A blocked stage asked to reconcile as its dependencies became ready (`--nudge`).
    #[serde(rename_all = "camelCase")]
    Nudged { stage: String },
    /// The nudge was refused; Flux's own dependency poll goes on.
    #[serde(rename_all = "camelCase")]
    NudgeRefused { stage: String, error: String },
    /// `requestedAt` set on a stage's source (`--with-source`).
    #[serde(rename_all = "camelCase")]
    SourceRequested { source: String },
    /// The source handled the request; its artifact is at `revision`.
    #[serde(rename_all = "camelCase")]
    SourceFetched { source: String, revision: String },
    /// The stage's source is of a kind jobgate does not reconcile.
    #[serde(rename_all = "camelCase")]
    SourceSkipped { kind: String, stage: String },
    /// A followed stage is not there yet: its state and what it waits for
    /// (`why.for`: request, earlierRun, revision, jobs, artifact, flux).
    #[serde(rename_all = "camelCase")]
    Waiting {
        stage: String,
        state: StageState,
        why: Waiting,
    },
    /// A followed stage reached its goal.
    #[serde(rename_all = "camelCase")]
    StageReady { stage: String, revision: String },
    /// A followed stage failed, or is blocked by `cause`, which failed.
    #[serde(rename_all = "camelCase")]
    StageFailed {
        stage: String,
        /// The upstream stage that failed, when `stage` is blocked by it.
        #[serde(skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        reason: String,
        message: String,
    },
    /// One pod of a followed Job failed; the Job may retry.
    #[serde(rename_all = "camelCase")]
    JobAttemptFailed {
        stage: String,
        job: String,
        /// Failed pods so far.
        attempt: i64,
        /// Pods the Job may run in all (`backoffLimit` + 1).
        attempts: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        pod: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A rerun deleted a Job (it is gone from the cluster).
    #[serde(rename_all = "camelCase")]
    JobDeleted { job: String, uid: String },
    /// A rerun's delete was accepted, and a finalizer holds the Job.
    #[serde(rename_all = "camelCase")]
    JobDeleting {
        job: String,
        uid: String,
        finalizers: Vec<String>,
    },
    /// A Job in the inventory was not in the cluster before the rerun.
    #[serde(rename_all = "camelCase")]
    JobGone { job: String },
    /// A Job disappeared between the plan and its delete.
    #[serde(rename_all = "camelCase")]
    JobAlreadyGone { job: String },
    /// The last lines of the log of the Job a stage failed on.
    #[serde(rename_all = "camelCase")]
    JobLog { job: String, lines: Vec<String> },
    /// Why that Job shows no log.
    #[serde(rename_all = "camelCase")]
    JobLogUnavailable { job: String, why: String },
    /// A request answered 429/5xx, retried.
    #[serde(rename_all = "camelCase")]
    Retrying {
        request: String,
        status: u16,
        reason: String,
        after_seconds: f64,
        attempt: u32,
        of: u32,
    },
    /// A watch failed and is retried by the watcher.
    #[serde(rename_all = "camelCase")]
    WatchRetrying {
        watch: String,
        error: String,
        attempt: u32,
        failing_seconds: u64,
        give_up_seconds: u64,
    },
    /// `-v`: a log record: jobgate's requests and what they took (target
    /// `jobgate`), the client libraries' warnings, and with `-vv` their debug.
    #[serde(rename_all = "camelCase")]
    Log {
        level: String,
        target: String,
        message: String,
    },
    /// The command's error, once.
    #[serde(rename_all = "camelCase")]
    Error { message: String },
    /// A rerun stopped after deleting: what it did and the command that recovers.
    #[serde(rename_all = "camelCase")]
    Recovery { message: String },
    /// The command's exit code (the last event; `--progress json` only).
    #[serde(rename_all = "camelCase")]
    Exit { code: u8 },
}

impl Event {
    /// The stage the event is about, if one.
    pub fn stage(&self) -> Option<&str> {
        match self {
            Event::Requested { stage }
            | Event::Nudged { stage }
            | Event::NudgeRefused { stage, .. }
            | Event::SourceSkipped { stage, .. }
            | Event::Waiting { stage, .. }
            | Event::StageReady { stage, .. }
            | Event::StageFailed { stage, .. }
            | Event::JobAttemptFailed { stage, .. } => Some(stage),
            _ => None,
        }
    }
}
