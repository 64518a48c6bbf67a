//! The machine-readable report (`apiVersion: jobgate.dev/v1`, `kind:
//! ChainReport`): what `-o json|yaml` serialize and what every other view
//! renders. It is a stable, versioned contract (documented in the README):
//! fields are added, never renamed or removed, within `v1`.

use serde::Serialize;

/// A string as the model and the report hold it: up to 23 bytes inline, without an
/// allocation of its own, and a longer one shared, not copied, when cloned. Most of
/// what the model reads (names, namespaces, condition types, statuses and reasons,
/// timestamps) fits, and tens of thousands of objects are held at once: a `String`
/// each would be a million small allocations; the report's revisions, messages and
/// uids are the model's own.
pub type Text = smol_str::SmolStr;

/// The report's `apiVersion`.
pub const API_VERSION: &str = "jobgate.dev/v1";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub chains: Vec<Chain>,
    /// What could not be read; the report is partial when this is not empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Text>,
}

/// Every piece of text in a report that came from the cluster (names,
/// messages, revisions, log lines...), each passed to `f` by reference, or by
/// mutable reference with `mut`: one list of the fields for both, so a field
/// added to the report is added here once.
macro_rules! texts {
    ($report:expr, $f:expr $(, $m:ident)?) => {{
        let f = $f;
        for w in & $($m)? $report.warnings {
            f(w);
        }
        for chain in & $($m)? $report.chains {
            chain_texts!(chain, &mut *f $(, $m)?);
        }
    }};
}

/// [`texts!`] of one chain.
macro_rules! chain_texts {
    ($chain:expr, $f:expr $(, $m:ident)?) => {{
        let f = $f;
        let chain = $chain;
        {
            f(& $($m)? chain.name);
            for c in & $($m)? chain.cycle {
                f(c);
            }
            for s in & $($m)? chain.stages {
                f(& $($m)? s.namespace);
                f(& $($m)? s.name);
                for o in [
                    & $($m)? s.ready,
                    & $($m)? s.reason,
                    & $($m)? s.message,
                    & $($m)? s.last_transition_time,
                    & $($m)? s.revision,
                    & $($m)? s.source_revision,
                    & $($m)? s.last_handled_reconcile_at,
                    & $($m)? s.interval,
                    & $($m)? s.timeout,
                ]
                .into_iter()
                .flatten()
                {
                    f(o);
                }
                for d in & $($m)? s.depends_on {
                    f(& $($m)? d.namespace);
                    f(& $($m)? d.name);
                    if let Some(e) = & $($m)? d.ready_expr {
                        f(e);
                    }
                }
                if let Some(src) = & $($m)? s.source {
                    f(& $($m)? src.kind);
                    f(& $($m)? src.namespace);
                    f(& $($m)? src.name);
                }
                if let Some(b) = & $($m)? s.blocked_by {
                    f(& $($m)? b.stage);
                    for o in [& $($m)? b.job, & $($m)? b.reason, & $($m)? b.message]
                        .into_iter()
                        .flatten()
                    {
                        f(o);
                    }
                }
                for j in & $($m)? s.jobs {
                    f(& $($m)? j.namespace);
                    f(& $($m)? j.name);
                    f(& $($m)? j.uid);
                    for o in [
                        & $($m)? j.reason,
                        & $($m)? j.message,
                        & $($m)? j.start_time,
                        & $($m)? j.completion_time,
                        & $($m)? j.finished_at,
                        & $($m)? j.log_unavailable,
                    ]
                    .into_iter()
                    .flatten()
                    {
                        f(o);
                    }
                    for line in (& $($m)? j.log_tail).into_iter().flatten() {
                        f(line);
                    }
                }
            }
        }
    }};
}

/// Chains looked through for a text on one thread at least, when there are
/// more (a look is far cheaper than drawing, so the slices are larger).
const TEXT_CHAINS_PER_THREAD: usize = 1000;

impl ChainReport {
    /// Calls `f` on every piece of text in the report that came from the
    /// cluster: the one place a view makes all of it safe to print.
    pub fn for_each_text(&mut self, f: &mut impl FnMut(&mut Text)) {
        texts!(self, f, mut)
    }

    /// Whether `f` holds for any piece of text that came from the cluster
    /// (a view copies the report to make it safe only when one needs it).
    /// The chains are looked through on the machine's cores at once.
    pub fn any_text(&self, f: impl Fn(&str) -> bool + Sync) -> bool {
        self.warnings.iter().any(|w| f(w))
            || crate::parallel::parts(&self.chains, TEXT_CHAINS_PER_THREAD, |_, part| {
                part.iter().any(|c| c.any_text(&f))
            })
            .into_iter()
            .any(|found| found)
    }

    pub fn new(chains: Vec<Chain>, warnings: Vec<Text>) -> Self {
        ChainReport {
            api_version: API_VERSION,
            kind: "ChainReport",
            chains,
            warnings,
        }
    }

    /// True when any shown chain has a failed or blocked stage, or a failed
    /// Job whatever Flux has concluded about its stage yet (real Flux notices
    /// at its next health-check poll, seconds later).
    pub fn unhealthy(&self) -> bool {
        self.chains.iter().flat_map(|c| &c.stages).any(|s| {
            matches!(s.state, StageState::Failed | StageState::Blocked)
                || s.jobs.iter().any(|j| j.phase == JobPhase::Failed)
        })
    }
}

impl Chain {
    /// Whether `f` holds for any piece of text of this chain that came from
    /// the cluster.
    pub fn any_text(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        let mut found = false;
        chain_texts!(self, &mut |t: &Text| found = found || f(t));
        found
    }
}

/// A connected part of the dependsOn graph, stages in dependency order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chain {
    /// `namespace/name` of the first stage.
    pub name: Text,
    /// The worst state of its stages, a blocked one counted as the stage
    /// that blocks it; `unknown` when it looks healthy but some of its Jobs
    /// could not be read.
    pub state: StageState,
    pub stages: Vec<Stage>,
    /// Stages that depend on each other in a loop, as `namespace/name`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cycle: Vec<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    Pre,
    Deploy,
    Post,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Pre => "pre",
            Role::Deploy => "deploy",
            Role::Post => "post",
        }
    }
}

/// A stage's state, from the most to the least severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StageState {
    /// Stalled, or failing with retries on the current generation.
    Failed,
    /// Waiting on a dependency that is not ready.
    Blocked,
    /// Named as a dependency, but no such Kustomization exists.
    Missing,
    /// It exists, but does not decode (its message says why): its state is unknown.
    Unreadable,
    Suspended,
    /// Reconciling, or Ready not yet observed for this generation.
    Progressing,
    /// The controller has not reported on it yet.
    NeverReconciled,
    /// For a chain only: its stages look healthy, but some of its Jobs could
    /// not be read, so it is not known to be.
    Unknown,
    /// Ready, but not on the source's current revision.
    Ready,
    /// Ready and applied the source's current revision.
    UpToDate,
}

impl StageState {
    pub fn as_str(self) -> &'static str {
        match self {
            StageState::Failed => "Failed",
            StageState::Blocked => "Blocked",
            StageState::Missing => "Missing",
            StageState::Unreadable => "Unreadable",
            StageState::Suspended => "Suspended",
            StageState::Progressing => "Progressing",
            StageState::NeverReconciled => "NeverReconciled",
            StageState::Unknown => "Unknown",
            StageState::Ready => "Ready",
            StageState::UpToDate => "UpToDate",
        }
    }

    /// Ready for dependents: Flux's dependency check passes.
    pub fn is_ready(self) -> bool {
        matches!(self, StageState::Ready | StageState::UpToDate)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub namespace: Text,
    pub name: Text,
    pub role: Role,
    /// Present (and true) when Flux has never applied the stage, so its role
    /// is guessed from its path, name and place in the chain, not its Jobs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub role_guessed: bool,
    pub state: StageState,
    /// The Ready condition: status, reason and message as the controller wrote them.
    pub ready: Option<Text>,
    pub reason: Option<Text>,
    pub message: Option<Text>,
    pub last_transition_time: Option<Text>,
    pub revision: Option<Text>,
    pub source_revision: Option<Text>,
    /// `None` when the source's revision is unknown.
    pub up_to_date: Option<bool>,
    pub suspended: bool,
    pub depends_on: Vec<Dependency>,
    pub last_handled_reconcile_at: Option<Text>,
    pub source: Option<SourceRef>,
    pub interval: Option<Text>,
    pub timeout: Option<Text>,
    pub force: bool,
    pub wait: bool,
    /// For a blocked stage: the upstream stage (and Job) that holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<RootCause>,
    pub jobs: Vec<Job>,
}

impl Stage {
    pub fn key(&self) -> Text {
        smol_str::format_smolstr!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub namespace: Text,
    pub name: Text,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_expr: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    pub kind: Text,
    pub namespace: Text,
    pub name: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootCause {
    /// `namespace/name` of the stage at the root of the blockage.
    pub stage: Text,
    pub state: StageState,
    /// `namespace/name` of the failed (or running) Job in that stage, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<Text>,
    pub reason: Option<Text>,
    pub message: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub namespace: Text,
    pub name: Text,
    /// Empty when the Job is gone or unknown.
    pub uid: Text,
    pub phase: JobPhase,
    pub reason: Option<Text>,
    pub message: Option<Text>,
    pub start_time: Option<Text>,
    pub completion_time: Option<Text>,
    /// When the outcome was decided: `completionTime`, or the time the Job
    /// was marked failed (failed Jobs have no `completionTime`).
    pub finished_at: Option<Text>,
    pub active: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub completions: Option<i64>,
    /// For a failed Job: the last lines of its newest pod's log (`status` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_tail: Option<Vec<Text>>,
    /// For a failed Job without a log tail: why (no pod left, a kubelet out of
    /// reach, a missing permission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_unavailable: Option<Text>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JobPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Suspended,
    /// In the inventory, not in the cluster.
    Gone,
    /// Its namespace's Jobs could not be read.
    Unknown,
}

impl JobPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            JobPhase::Pending => "Pending",
            JobPhase::Running => "Running",
            JobPhase::Succeeded => "Succeeded",
            JobPhase::Failed => "Failed",
            JobPhase::Suspended => "Suspended",
            JobPhase::Gone => "Gone",
            JobPhase::Unknown => "Unknown",
        }
    }
}

/// What `rerun --dry-run` would do (`kind: RerunPlan`, same `apiVersion`):
/// the Jobs it would delete, then the reconcile that recreates them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RerunPlan {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// `namespace/name` of the Kustomization asked to reconcile after.
    pub stage: String,
    pub jobs: Vec<PlannedJob>,
}

impl RerunPlan {
    pub fn new(stage: String, jobs: Vec<PlannedJob>) -> Self {
        RerunPlan {
            api_version: API_VERSION,
            kind: "RerunPlan",
            stage,
            jobs,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedJob {
    pub namespace: String,
    pub name: String,
    /// The uid the delete is made conditional on; empty when the Job is gone.
    pub uid: String,
    pub phase: JobPhase,
    /// `delete`, or `none` for a Job already gone (the reconcile recreates it).
    pub action: PlannedAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PlannedAction {
    Delete,
    None,
}
