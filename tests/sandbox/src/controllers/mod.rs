//! Simulated Flux and Kubernetes controllers, on the sandbox's clock:
//! - source-controller: serves each repository's head revision as the source's
//!   artifact, on its interval or a `requestedAt` request; [`Sim::push`] commits;
//! - kustomize-controller: reconciles on a changed `requestedAt`, a new
//!   generation, a new source artifact, or its interval; dependsOn with the real
//!   messages and requeue delay; server-side apply of the path's manifests;
//!   immutable Jobs recreated with `force`; prune; inventory; `wait` health
//!   checks with fail-fast and timeout; conditions, revisions, Events;
//! - the Job controller: pods that run and succeed or fail per script,
//!   `backoffLimit`, `activeDeadlineSeconds`, `ttlSecondsAfterFinished`, logs,
//!   conditions (with K8s 1.31's `SuccessCriteriaMet`/`FailureTarget`), Events;
//! - Deployments that become available after a delay.
//!
//! One file per controller: `source`, `kustomize`, `job` (Jobs and
//! Deployments); this one starts them and holds what they share.
//!
//! Controllers act only on triggers (a change, or a timer they set): a loaded
//! scenario stays as loaded until something asks for a reconcile. Messages and
//! reasons follow kustomize-controller v1.9 and the Job controller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod job;
mod kustomize;
mod source;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::apiserver::{DeleteOptions, Propagation, WriteOptions};
use crate::patch::PatchType;
use crate::resources::ResourceId;
use crate::scenario::{JobScript, Repository, Simulation};
use crate::server::Shared;
use crate::store::ChangeKind;

type Key = (String, String);
type Manifests = std::collections::BTreeMap<String, Vec<Value>>;

/// Delays of the simulation, in simulated time.
#[derive(Debug, Clone)]
pub struct Timing {
    /// kustomize-controller's `--requeue-dependency` (30 s by default).
    pub requeue_dependency: Duration,
    /// How long a Deployment takes to become available.
    pub deployment_ready: Duration,
    /// How long a pod stays Pending before it runs.
    pub pod_start: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            requeue_dependency: Duration::from_secs(30),
            deployment_ready: Duration::from_secs(5),
            pod_start: Duration::from_secs(1),
        }
    }
}

struct Ids {
    ks: ResourceId,
    jobs: ResourceId,
    pods: ResourceId,
    deployments: ResourceId,
    events: ResourceId,
}

/// The running simulation.
pub struct Sim {
    sh: Arc<Shared>,
    ids: Ids,
    timing: Timing,
    repos: Mutex<Vec<Repository>>,
    /// Each commit's manifests, by (kind, namespace, name, revision): Flux
    /// applies the fetched artifact's content, not whatever the branch has now.
    commits: Mutex<HashMap<(String, String, String, String), Manifests>>,
    scripts: Mutex<Vec<JobScript>>,
    workers: Mutex<HashMap<Key, mpsc::UnboundedSender<()>>>,
    jobs_running: Mutex<HashMap<Key, String>>,
    pushes: Mutex<u64>,
}

fn parse_duration(s: &str) -> Option<Duration> {
    // Flux writes Go durations: 1h0m0s, 5m0s, 30s, 1m.
    let mut total = 0f64;
    let mut num = String::new();
    for c in s.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'h' | 'm' | 's' => {
                let n: f64 = num.parse().ok()?;
                num.clear();
                total += n * match c {
                    'h' => 3600.0,
                    'm' => 60.0,
                    _ => 1.0,
                };
            }
            _ => return None,
        }
    }
    if !num.is_empty() {
        return None;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Go's `time.Duration.String()`: `24.118406722s`, `1m0.5s`, `1h0m0s`.
fn go_duration(d: Duration) -> String {
    let total = d.as_secs();
    let seconds = {
        let s = format!("{}.{:09}", total % 60, d.subsec_nanos());
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    let (h, m) = (total / 3600, (total % 3600) / 60);
    match (h, m) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

fn glob(pattern: &str, s: &str) -> bool {
    crate::faults::glob(pattern, s)
}

/// Sets a condition, keeping its transition time when the status is unchanged.
fn set_condition(
    conds: &mut Vec<Value>,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: i64,
    now: &str,
) {
    let previous = conds.iter().position(|c| c["type"] == type_);
    let transition = match previous {
        Some(i) if conds[i]["status"] == status => conds[i]["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let c = json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "observedGeneration": generation, "lastTransitionTime": transition,
    });
    match previous {
        Some(i) => conds[i] = c,
        None => conds.push(c),
    }
}

/// Reconciling=True and Ready=Unknown, both `Progressing`: what every
/// reconcile shows while it runs (the flap clients must tolerate).
fn mark_progressing(conds: &mut Vec<Value>, message: &str, generation: i64, now: &str) {
    set_reconciling(conds, message, generation, now);
    set_condition(
        conds,
        "Ready",
        "Unknown",
        "Progressing",
        message,
        generation,
        now,
    );
}

/// Reconciling=True with a progress message, Ready left as it is (the
/// controller's `MarkReconciling` between its status patches).
fn set_reconciling(conds: &mut Vec<Value>, message: &str, generation: i64, now: &str) {
    set_condition(
        conds,
        "Reconciling",
        "True",
        "Progressing",
        message,
        generation,
        now,
    );
}

/// The status's conditions, edited in place (an empty list if it had none).
fn conditions(status: &mut Value) -> &mut Vec<Value> {
    let slot = &mut status["conditions"];
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut()
        .expect("conditions were just made a list")
}

fn remove_condition(conds: &mut Vec<Value>, type_: &str) {
    conds.retain(|c| c["type"] != type_);
}

fn key_of(obj: &Value) -> Key {
    (
        obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        obj["metadata"]["name"].as_str().unwrap_or("").to_string(),
    )
}

const KC: &str = "kustomize-controller";
const SC: &str = "source-controller";
const JC: &str = "job-controller";

impl Sim {
    /// Starts the controllers for a sandbox whose scenario has a simulation.
    pub(crate) fn start(sh: Arc<Shared>, simulation: Simulation, timing: Timing) -> Arc<Sim> {
        let reg = &sh.api.registry;
        let find = |g: &str, p: &str| reg.find(g, "v1", p).expect("built in");
        let ids = Ids {
            ks: find("kustomize.toolkit.fluxcd.io", "kustomizations"),
            jobs: find("batch", "jobs"),
            pods: find("", "pods"),
            deployments: find("apps", "deployments"),
            events: find("", "events"),
        };
        let sim = Arc::new(Sim {
            sh: sh.clone(),
            ids,
            timing,
            repos: Mutex::new(simulation.repositories),
            scripts: Mutex::new(simulation.jobs),
            workers: Mutex::new(HashMap::new()),
            jobs_running: Mutex::new(HashMap::new()),
            commits: Mutex::new(HashMap::new()),
            pushes: Mutex::new(0),
        });
        // A repository's head is, unless given, what its source has already fetched.
        for repo in Self::lock(&sim.repos)
            .iter_mut()
            .filter(|r| r.revision.is_none())
        {
            let res = reg.find_kind("source.toolkit.fluxcd.io/v1", &repo.kind);
            repo.revision = res
                .and_then(|r| sh.api.store.get(r, &repo.namespace, &repo.name))
                .and_then(|o| {
                    o.value["status"]["artifact"]["revision"]
                        .as_str()
                        .map(String::from)
                });
        }
        for repo in Self::lock(&sim.repos).iter() {
            if let Some(rev) = &repo.revision {
                let commit = (
                    repo.kind.clone(),
                    repo.namespace.clone(),
                    repo.name.clone(),
                    rev.clone(),
                );
                Self::lock(&sim.commits).insert(commit, repo.manifests.clone());
            }
        }
        // Every existing Kustomization gets a worker that waits for its interval.
        let (existing, _) = sh.api.store.list(sim.ids.ks, None);
        for ks in existing {
            sim.ensure_worker(key_of(&ks.value), false);
        }
        // Subscribe now, not in the task: a change made before the task first
        // runs must not be lost.
        let changes = sh.api.store.subscribe();
        let s = sim.clone();
        tokio::spawn(async move { s.dispatch(changes).await });
        sim
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Routes store changes to the controllers that care.
    async fn dispatch(
        self: Arc<Self>,
        mut changes: tokio::sync::broadcast::Receiver<Arc<crate::store::Change>>,
    ) {
        let mut shutdown = self.sh.shutdown.clone();
        loop {
            let change = tokio::select! {
                c = changes.recv() => c,
                _ = shutdown.changed() => return,
            };
            let change = match change {
                Ok(c) => c,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            let obj = &change.object.value;
            let res = change.resource;
            if change.kind == ChangeKind::Deleted {
                continue;
            }
            if res == self.ids.ks {
                let wanted = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
                    .as_str()
                    != obj["status"]["lastHandledReconcileAt"].as_str()
                    && obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
                        .is_string();
                let new_generation = obj["metadata"]["generation"].as_i64()
                    != obj["status"]["observedGeneration"].as_i64();
                self.ensure_worker(
                    key_of(obj),
                    wanted || new_generation || change.kind == ChangeKind::Added,
                );
            } else if res == self.ids.jobs {
                self.ensure_job(obj);
            } else if res == self.ids.deployments {
                self.ensure_deployment(obj);
            } else if self.is_source(res) {
                self.source_changed(res, obj, change.old.as_ref().map(|o| &o.value));
            }
        }
    }

    fn ensure_worker(self: &Arc<Self>, key: Key, wake: bool) {
        let mut workers = Self::lock(&self.workers);
        if let Some(tx) = workers.get(&key) {
            if wake {
                let _ = tx.send(());
            }
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        if wake {
            let _ = tx.send(());
        }
        workers.insert(key.clone(), tx);
        let s = self.clone();
        tokio::spawn(async move {
            // Until woken, the next run is the interval after the last one.
            let mut next = s.interval_of(&key);
            loop {
                let woken = tokio::select! {
                    w = rx.recv() => w.is_some(),
                    _ = s.sh.api.clock.sleep(next) => true,
                };
                if !woken {
                    break;
                }
                while rx.try_recv().is_ok() {}
                match s.reconcile(&key).await {
                    Some(d) => next = d,
                    None => break,
                }
            }
            Self::lock(&s.workers).remove(&key);
        });
    }

    fn interval_of(&self, key: &Key) -> Duration {
        self.sh
            .api
            .store
            .get(self.ids.ks, &key.0, &key.1)
            .and_then(|k| {
                k.value["spec"]["interval"]
                    .as_str()
                    .and_then(parse_duration)
            })
            .unwrap_or(Duration::from_secs(600))
    }

    fn write_status(&self, res: ResourceId, key: &Key, status: Value, manager: &str) {
        let body = json!({ "status": status }).to_string();
        let opts = WriteOptions {
            manager: manager.into(),
            status: true,
            ..Default::default()
        };
        let _ = self.sh.api.patch(
            res,
            &key.0,
            &key.1,
            PatchType::Merge,
            body.as_bytes(),
            false,
            &opts,
        );
    }

    fn event(&self, obj: &Value, type_: &str, reason: &str, message: &str, component: &str) {
        let (ns, name) = key_of(obj);
        let ns = if ns.is_empty() {
            "default".to_string()
        } else {
            ns
        };
        let now = self.sh.api.clock.rfc3339();
        let ev = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": { "name": format!("{name}.{:x}", hash(&(now.as_str(), reason, message))), "namespace": ns },
            "involvedObject": {
                "apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": name, "namespace": obj["metadata"]["namespace"],
                "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"],
            },
            "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now,
            "source": { "component": component }, "reportingComponent": component,
        });
        let _ = self.sh.api.create(
            self.ids.events,
            Some(&ns),
            ev,
            &WriteOptions {
                manager: component.into(),
                ..Default::default()
            },
        );
    }
}

fn hash<T: std::hash::Hash>(v: &T) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1h0m0s"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(24_500)), "24.5s");
        assert_eq!(go_duration(Duration::from_millis(60_520)), "1m0.52s");
    }

    #[test]
    fn set_condition_keeps_transition_times() {
        let mut c = vec![];
        set_condition(&mut c, "Ready", "True", "A", "a", 1, "t1");
        set_condition(&mut c, "Ready", "True", "B", "b", 2, "t2");
        assert_eq!(c[0]["lastTransitionTime"], "t1");
        set_condition(&mut c, "Ready", "False", "C", "c", 2, "t3");
        assert_eq!(c[0]["lastTransitionTime"], "t3");
    }
}
