//! Reading the logs of a Job's pods. Pods are found by the Job's label; a
//! log that cannot be read says why (no pod left, a kubelet out of reach, a
//! missing permission) instead of vanishing.

use std::fmt;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};

use super::retry::Verb;
use super::{Cluster, ClusterError};

/// Why a Job shows no log tail: one sentence, for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoLog {
    /// Its pods could not be listed.
    PodsUnlisted(String),
    /// No pod of it is left.
    NoPod,
    /// The pod's log could not be read (the apiserver's words: a kubelet it
    /// cannot dial, a forbidden `pods/log`, a container not started).
    Unreadable { pod: String, why: String },
    /// The pod wrote nothing.
    Empty { pod: String },
}

impl fmt::Display for NoLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoLog::PodsUnlisted(why) => write!(f, "its pods could not be listed: {why}"),
            NoLog::NoPod => write!(f, "no pod of it is left (deleted, or removed with the Job)"),
            NoLog::Unreadable { pod, why } => {
                write!(f, "the log of pod {pod} could not be read: {why}")
            }
            NoLog::Empty { pod } => write!(f, "pod {pod} wrote nothing to its log"),
        }
    }
}

/// An API error in the apiserver's own words (for a proxied log read, the
/// message names the real cause, e.g. the kubelet's dial error).
fn words(e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.message.is_empty() => s.message,
        e => e.to_string(),
    }
}

impl Cluster {
    /// The last `lines` lines of the log of a Job's newest pod, or why there are none.
    pub async fn job_log_tail(&self, ns: &str, job: &str, lines: i64) -> Result<String, NoLog> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let params = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
        let mut list = self
            .retrying(&format!("list pods of Job {ns}/{job}"), Verb::Read, || {
                pods.list(&params)
            })
            .await
            .map_err(|e| NoLog::PodsUnlisted(words(e)))?
            .items;
        list.sort_by(|a, b| {
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp)
                .then(a.metadata.name.cmp(&b.metadata.name))
        });
        let newest = list
            .last()
            .and_then(|p| p.metadata.name.clone())
            .ok_or(NoLog::NoPod)?;
        let params = LogParams {
            tail_lines: Some(lines),
            ..Default::default()
        };
        let log = self
            .retrying(
                &format!("get the log of pod {ns}/{newest}"),
                Verb::Read,
                || pods.logs(&newest, &params),
            )
            .await
            .map_err(|e| NoLog::Unreadable {
                pod: newest.clone(),
                why: words(e),
            })?;
        if log.trim().is_empty() {
            return Err(NoLog::Empty { pod: newest });
        }
        Ok(log)
    }

    /// The newest failed pod of the Job with this uid (pods by the Job's name
    /// label, kept when the Job with this uid owns them, so an earlier run's
    /// pods are not mistaken for this one's), with how its container ended.
    /// `None` when it cannot be told (pods gone or not readable): the failure
    /// is said without them.
    pub async fn failed_pod(&self, ns: &str, job: &str, uid: &str) -> Option<FailedPod> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let params = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
        let list = self
            .retrying(&format!("list pods of Job {ns}/{job}"), Verb::Read, || {
                pods.list(&params)
            })
            .await
            .ok()?
            .items;
        let owned = |p: &Pod| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid)
        };
        let pod = list
            .into_iter()
            .filter(|p| owned(p))
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
            .max_by(|a, b| {
                a.metadata
                    .creation_timestamp
                    .cmp(&b.metadata.creation_timestamp)
                    .then(a.metadata.name.cmp(&b.metadata.name))
            })?;
        let status = pod.status.as_ref();
        let ended = status
            .and_then(|s| s.container_statuses.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|c| c.state.as_ref().and_then(|s| s.terminated.as_ref()))
            .max_by_key(|t| t.exit_code != 0);
        Some(FailedPod {
            name: pod.metadata.name.clone().unwrap_or_default(),
            exit_code: ended.map(|t| t.exit_code),
            reason: ended
                .and_then(|t| t.reason.clone())
                .or_else(|| status.and_then(|s| s.reason.clone()))
                .filter(|r| !r.is_empty()),
        })
    }
}

/// How a failed pod of a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedPod {
    pub name: String,
    /// Its container's exit code (the first that failed).
    pub exit_code: Option<i32>,
    /// Kubernetes' word for it (`Error`, `OOMKilled`, `DeadlineExceeded`).
    pub reason: Option<String>,
}

/// What to read of one container's log.
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    pub container: String,
    pub tail: Option<i64>,
    pub since: Option<std::time::Duration>,
    /// The previous run of a restarted container.
    pub previous: bool,
}

impl LogRequest {
    fn params(&self, follow: bool) -> LogParams {
        LogParams {
            container: Some(self.container.clone()).filter(|c| !c.is_empty()),
            tail_lines: self.tail,
            since_seconds: self.since.map(|d| d.as_secs().max(1) as i64),
            previous: self.previous,
            follow,
            ..Default::default()
        }
    }
}

/// Why one container's log could not be read, as a user reads it: a
/// forbidden `pods/log` names the permission.
fn unreadable(ns: &str, e: kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "reading it is forbidden ({}): it needs `get` on `pods/log` in namespace {ns} (examples/rbac.yaml has the role)",
            s.message
        ),
        e => words(e),
    }
}

impl Cluster {
    /// The pods of the Job with this uid, oldest first: listed by the Job
    /// controller's name label (the older `job-name` where the newer finds
    /// none), kept when that Job owns them.
    pub async fn job_pods(
        &self,
        ns: &str,
        job: &str,
        uid: &str,
    ) -> Result<Vec<crate::logs::Pod>, ClusterError> {
        for label in crate::logs::JOB_NAME_LABELS {
            let selector = format!("{label}={job}");
            let listed = self
                .list_selected::<crate::logs::Pod>(super::list::PODS, Some(ns), Some(&selector))
                .await?;
            let runs = crate::logs::runs(listed.items, uid);
            if !runs.is_empty() {
                return Ok(runs);
            }
        }
        Ok(vec![])
    }

    /// One container's log, or why it could not be read.
    pub async fn container_log(
        &self,
        ns: &str,
        pod: &str,
        req: &LogRequest,
    ) -> Result<String, String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let params = req.params(false);
        let started = std::time::Instant::now();
        let log = self
            .retrying(
                &format!("get the log of pod {ns}/{pod}"),
                Verb::Read,
                || pods.logs(pod, &params),
            )
            .await
            .map_err(|e| unreadable(ns, e));
        self.log(
            started,
            &format!("read the log of pod {ns}/{pod} ({})", req.container),
        );
        log
    }

    /// A container's log as it is written, line by line, until the
    /// container ends (the apiserver closes the stream), or why it cannot be.
    pub async fn follow_log(
        &self,
        ns: &str,
        pod: &str,
        req: &LogRequest,
    ) -> Result<impl futures::Stream<Item = Result<String, String>> + use<>, String> {
        use futures::{AsyncBufReadExt, StreamExt};
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let params = req.params(true);
        let ns_owned = ns.to_string();
        let reader = self
            .retrying(
                &format!("follow the log of pod {ns}/{pod}"),
                Verb::Read,
                || pods.log_stream(pod, &params),
            )
            .await
            .map_err(|e| unreadable(&ns_owned, e))?;
        tracing::debug!("following the log of pod {ns}/{pod} ({})", req.container);
        Ok(reader
            .lines()
            .map(|l| l.map_err(|e| format!("the log stream broke off: {e}"))))
    }
}
