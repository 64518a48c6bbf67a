//! The pods of a stage's Jobs and what their logs hold, as data (`logs`):
//! which pods are a Job's runs (its uid, not only its name: a re-run's Job
//! has the name of the one it replaced), in which order, how each ended or
//! why it has not started, and the versioned report (`kind: LogsReport`)
//! every view of `logs` renders.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::flux::{PodSpec, nullable};
use crate::report::{API_VERSION, JobPhase};

/// The labels the Job controller puts on its pods: by name (Kubernetes
/// 1.27 and later, then the older spelling), and by the Job's uid.
pub const JOB_NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];
const CONTROLLER_UID_LABELS: [&str; 2] = ["batch.kubernetes.io/controller-uid", "controller-uid"];

/// A Pod: the fields `logs` and `events` read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: PodMeta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: PodSpec,
    #[serde(default, deserialize_with = "nullable")]
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodMeta {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(default)]
    pub creation_timestamp: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    pub owner_references: Vec<OwnerReference>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct OwnerReference {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub uid: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub phase: String,
    #[serde(default, deserialize_with = "nullable")]
    pub reason: String,
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
    #[serde(default, deserialize_with = "nullable")]
    pub init_container_statuses: Vec<ContainerStatus>,
    #[serde(default, deserialize_with = "nullable")]
    pub container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub restart_count: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub state: ContainerState,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ContainerState {
    #[serde(default)]
    pub waiting: Option<Waiting>,
    #[serde(default)]
    pub running: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub terminated: Option<Terminated>,
}

/// Why a container has not started (`ContainerCreating`, `ImagePullBackOff`...).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Waiting {
    #[serde(default, deserialize_with = "nullable")]
    pub reason: String,
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Terminated {
    #[serde(default, deserialize_with = "nullable")]
    pub exit_code: i32,
    #[serde(default, deserialize_with = "nullable")]
    pub reason: String,
    #[serde(default)]
    pub finished_at: Option<String>,
}

impl Pod {
    /// Whether the Job with this uid created it (its controller reference,
    /// or the controller-uid label where an owner reference was stripped).
    pub fn owned_by(&self, job_uid: &str) -> bool {
        !job_uid.is_empty()
            && (self
                .metadata
                .owner_references
                .iter()
                .any(|o| o.kind == "Job" && o.uid == job_uid)
                || CONTROLLER_UID_LABELS
                    .iter()
                    .any(|l| self.metadata.labels.get(*l).map(String::as_str) == Some(job_uid)))
    }

    /// Its containers that can have a log, init containers first (in the
    /// order of the spec, as `kubectl logs --all-containers`).
    pub fn containers(&self) -> Vec<&str> {
        self.spec
            .init_containers
            .iter()
            .chain(&self.spec.containers)
            .map(|c| c.name.as_str())
            .filter(|n| !n.is_empty())
            .collect()
    }

    fn statuses(&self) -> impl Iterator<Item = &ContainerStatus> {
        self.status
            .init_container_statuses
            .iter()
            .chain(&self.status.container_statuses)
    }

    /// Why this container has not started yet, if it has not.
    pub fn waiting(&self, container: &str) -> Option<&Waiting> {
        let status = self.statuses().find(|c| c.name == container);
        match status {
            Some(c) => c.state.waiting.as_ref().filter(|w| !w.reason.is_empty()),
            None => None,
        }
    }

    /// Whether this container has started at least once (a log may exist).
    pub fn started(&self, container: &str) -> bool {
        self.statuses().any(|c| {
            c.name == container
                && (c.state.running.is_some()
                    || c.state.terminated.is_some()
                    || c.restart_count > 0)
        })
    }

    /// How it ended: the first failed container's termination, else any's.
    pub fn ended(&self) -> Option<&Terminated> {
        self.status
            .container_statuses
            .iter()
            .filter_map(|c| c.state.terminated.as_ref())
            .max_by_key(|t| t.exit_code != 0)
    }

    /// Whether it is finished (no container of it runs again).
    pub fn finished(&self) -> bool {
        matches!(self.status.phase.as_str(), "Succeeded" | "Failed")
    }
}

/// The runs of the Job with this uid: its pods, oldest first (attempt 1 is
/// the first). Pods of an earlier Job of the same name are left out.
pub fn runs(pods: Vec<Pod>, job_uid: &str) -> Vec<Pod> {
    let mut runs: Vec<Pod> = pods.into_iter().filter(|p| p.owned_by(job_uid)).collect();
    runs.sort_by(|a, b| {
        a.metadata
            .creation_timestamp
            .cmp(&b.metadata.creation_timestamp)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    runs
}

/// What a container's log could not be read for, in a user's words.
pub fn not_started(pod: &str, container: &str, waiting: &Waiting) -> String {
    let mut s = format!(
        "container {container} of pod {pod} is waiting to start: {}",
        waiting.reason
    );
    if !waiting.message.is_empty() {
        s.push_str(&format!(" ({})", waiting.message));
    }
    match waiting.reason.as_str() {
        "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => s.push_str(
            ": its image cannot be pulled; check the image name and tag, and the pull secret",
        ),
        "CreateContainerConfigError" => s.push_str(&format!(
            ": a ConfigMap or Secret it reads is missing (see `{} events`)",
            crate::invocation::command()
        )),
        _ => {}
    }
    s
}

// ---- The report -------------------------------------------------------------

/// `logs -o json|yaml`: the Jobs of a stage, each run's pod, and each
/// container's log or why it could not be read. A versioned contract as the
/// chain report is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// The stage, `namespace/name`.
    pub stage: String,
    pub jobs: Vec<JobLogs>,
}

impl LogsReport {
    pub fn new(stage: String, jobs: Vec<JobLogs>) -> LogsReport {
        LogsReport {
            api_version: API_VERSION,
            kind: "LogsReport",
            stage,
            jobs,
        }
    }

    /// Every reason some log is missing (the view is then partial).
    pub fn unavailable(&self) -> Vec<String> {
        let mut out = vec![];
        for job in &self.jobs {
            out.extend(job.unavailable.iter().cloned());
            for pod in &job.pods {
                for c in &pod.containers {
                    out.extend(c.unavailable.iter().cloned());
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobLogs {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub phase: JobPhase,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// How many pods it ran that are still there (the attempts).
    pub attempts: usize,
    /// Newest first; only the newest unless `--all-pods`.
    pub pods: Vec<PodLogs>,
    /// Why it shows no pod at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodLogs {
    pub name: String,
    /// 1 for the Job's first pod still there.
    pub attempt: usize,
    pub phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub containers: Vec<ContainerLog>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerLog {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

impl PodLogs {
    /// A pod's header fields, its logs still to be read.
    pub fn of(pod: &Pod, attempt: usize) -> PodLogs {
        let ended = pod.ended();
        let waiting = pod
            .containers()
            .into_iter()
            .find_map(|c| pod.waiting(c))
            .map(|w| w.reason.clone());
        PodLogs {
            name: pod.metadata.name.clone(),
            attempt,
            phase: if pod.status.phase.is_empty() {
                "Unknown".into()
            } else {
                pod.status.phase.clone()
            },
            exit_code: ended.map(|t| t.exit_code).filter(|_| pod.finished()),
            reason: ended
                .filter(|_| pod.finished())
                .map(|t| t.reason.clone())
                .or(waiting)
                .or_else(|| Some(pod.status.reason.clone()))
                .filter(|r| !r.is_empty()),
            containers: vec![],
        }
    }
}

/// Why a Job shows no pod, with when it finished: its pods were deleted, or
/// removed with it by its TTL.
pub fn no_pods(job: &str, phase: JobPhase, finished_at: Option<&str>, ttl: Option<i64>) -> String {
    let when = match finished_at {
        Some(t) => format!(" ({} at {t})", phase.as_str()),
        None => format!(" ({})", phase.as_str()),
    };
    let why = match (phase, ttl) {
        (JobPhase::Pending, _) => "it has not created a pod yet".to_string(),
        (_, Some(ttl)) => format!(
            "they were deleted, or are being removed with the Job by its ttlSecondsAfterFinished ({ttl}s)"
        ),
        _ => "they were deleted (by hand, or by the cluster's pod garbage collection)".into(),
    };
    format!("Job {job}{when} has no pods left: {why}")
}

/// Why a Job of a stage's inventory shows nothing at all.
pub fn job_gone(job: &str) -> String {
    format!(
        "Job {job} is in the stage's inventory but not in the cluster: deleted with its pods (by its ttlSecondsAfterFinished, or by hand); Flux re-creates it at the stage's next reconcile"
    )
}

#[cfg(test)]
mod tests;
