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
//! Controllers act only on triggers (a change, or a timer they set): a loaded
//! scenario stays as loaded until something asks for a reconcile. Messages and
//! reasons follow kustomize-controller v1.9 and the Job controller.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

    fn is_source(&self, res: ResourceId) -> bool {
        self.sh.api.def(res).group == "source.toolkit.fluxcd.io"
    }

    // ---- source-controller ------------------------------------------------------

    fn repo_head(&self, kind: &str, ns: &str, name: &str) -> Option<String> {
        let repos = Self::lock(&self.repos);
        repos
            .iter()
            .find(|r| r.kind == kind && r.namespace == ns && r.name == name)
            .and_then(|r| r.revision.clone())
    }

    fn source_changed(self: &Arc<Self>, res: ResourceId, obj: &Value, old: Option<&Value>) {
        let token = obj["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"].as_str();
        if token.is_some() && token != obj["status"]["lastHandledReconcileAt"].as_str() {
            let (s, key, token) = (self.clone(), key_of(obj), token.map(String::from));
            tokio::spawn(async move { s.fetch_source(res, &key, token).await });
        }
        // A new artifact wakes the Kustomizations built from it (Flux watches sources).
        let rev = obj["status"]["artifact"]["revision"].as_str();
        if old.is_some_and(|o| o["status"]["artifact"]["revision"].as_str() != rev) {
            let kind = self.sh.api.def(res).kind.clone();
            let (ns, name) = key_of(obj);
            let (all, _) = self.sh.api.store.list(self.ids.ks, None);
            for ks in all {
                let r = &ks.value["spec"]["sourceRef"];
                let sns = r["namespace"].as_str().unwrap_or(ks.namespace());
                if r["kind"] == kind.as_str() && r["name"] == name.as_str() && sns == ns {
                    self.ensure_worker(key_of(&ks.value), true);
                }
            }
        }
    }

    /// One source-controller reconcile: serve the head revision, handle the token.
    async fn fetch_source(&self, res: ResourceId, key: &Key, token: Option<String>) {
        self.sh.api.clock.sleep(Duration::from_millis(500)).await;
        let Some(current) = self.sh.api.store.get(res, &key.0, &key.1) else {
            return;
        };
        let kind = self.sh.api.def(res).kind.clone();
        let now = self.sh.api.clock.rfc3339();
        let mut status = current.value["status"].clone();
        if let Some(head) = self.repo_head(&kind, &key.0, &key.1)
            && status["artifact"]["revision"].as_str() != Some(head.as_str())
        {
            let sha = head.rsplit(':').next().unwrap_or("").to_string();
            status["artifact"]["revision"] = json!(head);
            status["artifact"]["lastUpdateTime"] = json!(now);
            status["artifact"]["path"] = json!(format!(
                "{}/{}/{}/{sha}.tar.gz",
                kind.to_lowercase(),
                key.0,
                key.1
            ));
            let generation = current.value["metadata"]["generation"]
                .as_i64()
                .unwrap_or(1);
            let conds = conditions(&mut status);
            let msg = format!("stored artifact for revision '{head}'");
            set_condition(conds, "Ready", "True", "Succeeded", &msg, generation, &now);
            set_condition(
                conds,
                "ArtifactInStorage",
                "True",
                "Succeeded",
                &msg,
                generation,
                &now,
            );
            self.event(&current.value, "Normal", "NewArtifact", &msg, SC);
        }
        if let Some(t) = token {
            status["lastHandledReconcileAt"] = json!(t);
        }
        self.write_status(res, key, status, SC);
    }

    /// Commits to a repository: image tags replaced in every manifest; returns
    /// the new revision. Like source-controller, the sandbox sees the commit at
    /// the source's next fetch, one `spec.interval` later, unless a reconcile
    /// request fetches it sooner.
    pub fn push(
        self: &Arc<Self>,
        kind: &str,
        ns: &str,
        name: &str,
        image: &str,
    ) -> Result<String, String> {
        let revision = self.commit(kind, ns, name, image)?;
        let api = &self.sh.api;
        if let Some(res) = api.registry.find_kind("source.toolkit.fluxcd.io/v1", kind)
            && let Some(source) = api.store.get(res, ns, name)
        {
            let interval = source.value["spec"]["interval"]
                .as_str()
                .and_then(parse_duration)
                .unwrap_or(Duration::from_secs(60));
            let (sim, key) = (self.clone(), (ns.to_string(), name.to_string()));
            tokio::spawn(async move {
                sim.sh.api.clock.sleep(interval).await;
                sim.fetch_source(res, &key, None).await;
            });
        }
        Ok(revision)
    }

    fn commit(&self, kind: &str, ns: &str, name: &str, image: &str) -> Result<String, String> {
        let (repo_image, _) = image
            .rsplit_once(':')
            .ok_or("the image needs a tag (name:tag)")?;
        let n = {
            let mut c = Self::lock(&self.pushes);
            *c += 1;
            *c
        };
        // A commit id: 40 hex digits, different for every push.
        let sha: String = (0..5)
            .map(|i| format!("{:08x}", hash(&(n, i, ns, name)) as u32))
            .collect();
        let mut repos = Self::lock(&self.repos);
        let repo = repos
            .iter_mut()
            .find(|r| r.kind == kind && r.namespace == ns && r.name == name)
            .ok_or_else(|| format!("no simulated repository {kind}/{ns}/{name}"))?;
        let branch = repo
            .revision
            .as_deref()
            .and_then(|r| r.split('@').next())
            .unwrap_or("main")
            .to_string();
        fn retag(v: &mut Value, repo_image: &str, image: &str) {
            match v {
                Value::Object(m) => {
                    for (k, child) in m.iter_mut() {
                        if k == "image"
                            && child.as_str().is_some_and(|s| {
                                s.rsplit_once(':').map_or(s, |(r, _)| r) == repo_image
                            })
                        {
                            *child = json!(image);
                        } else {
                            retag(child, repo_image, image);
                        }
                    }
                }
                Value::Array(a) => a.iter_mut().for_each(|c| retag(c, repo_image, image)),
                _ => {}
            }
        }
        for objects in repo.manifests.values_mut() {
            objects.iter_mut().for_each(|o| retag(o, repo_image, image));
        }
        let revision = format!("{branch}@sha1:{sha}");
        repo.revision = Some(revision.clone());
        let commit = (
            kind.to_string(),
            ns.to_string(),
            name.to_string(),
            revision.clone(),
        );
        Self::lock(&self.commits).insert(commit, repo.manifests.clone());
        Ok(revision)
    }

    /// The environment a Job needed is repaired: its next runs follow their outcomes.
    pub fn fix_job(&self, ns: &str, name: &str) -> Result<(), String> {
        let mut scripts = Self::lock(&self.scripts);
        let script = scripts
            .iter_mut()
            .find(|s| s.namespace == ns && s.name == name)
            .ok_or_else(|| format!("no job script for {ns}/{name}"))?;
        script.broken = false;
        script.outcomes = vec!["succeed".into()];
        Ok(())
    }

    // ---- kustomize-controller -----------------------------------------------------

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

    /// One reconcile; returns when to run again, or `None` once the object is gone.
    async fn reconcile(&self, key: &Key) -> Option<Duration> {
        let api = &self.sh.api;
        let ks = api.store.get(self.ids.ks, &key.0, &key.1)?.value.clone();
        if ks["metadata"]["deletionTimestamp"].is_string() {
            // Finalize: drop our finalizer so the deletion completes.
            let body = json!({"metadata": {"finalizers": null}}).to_string();
            let _ = api.patch(
                self.ids.ks,
                &key.0,
                &key.1,
                PatchType::Merge,
                body.as_bytes(),
                false,
                &WriteOptions {
                    manager: KC.into(),
                    ..Default::default()
                },
            );
            return None;
        }
        let started = api.clock.now();
        let token = ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
            .as_str()
            .map(String::from);
        let generation = ks["metadata"]["generation"].as_i64().unwrap_or(1);
        let interval = ks["spec"]["interval"]
            .as_str()
            .and_then(parse_duration)
            .unwrap_or(Duration::from_secs(600));
        let mut status = ks["status"].clone();
        if !status.is_object() {
            status = json!({});
        }
        if let Some(t) = &token {
            status["lastHandledReconcileAt"] = json!(t);
        }
        if ks["spec"]["suspend"] == true {
            self.write_status(self.ids.ks, key, status, KC);
            return Some(interval);
        }
        let src_ref = &ks["spec"]["sourceRef"];
        let src_kind = src_ref["kind"]
            .as_str()
            .unwrap_or("GitRepository")
            .to_string();
        let src_ns = src_ref["namespace"].as_str().unwrap_or(&key.0).to_string();
        let src_name = src_ref["name"].as_str().unwrap_or("").to_string();
        let source = api
            .registry
            .find_kind("source.toolkit.fluxcd.io/v1", &src_kind)
            .and_then(|r| api.store.get(r, &src_ns, &src_name));
        let revision = source.as_ref().and_then(|s| {
            s.value["status"]["artifact"]["revision"]
                .as_str()
                .map(String::from)
        });
        let Some(revision) = revision else {
            let msg = match source {
                None => format!("Source '{src_kind}/{src_ns}/{src_name}' not found"),
                Some(_) => "Source is not ready, artifact not found".to_string(),
            };
            return Some(self.finish_failed(
                key,
                &mut status,
                generation,
                "ArtifactFailed",
                &msg,
                None,
                interval,
            ));
        };

        // dependsOn
        for dep in ks["spec"]["dependsOn"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let dns = dep["namespace"].as_str().unwrap_or(&key.0).to_string();
            let dname = dep["name"].as_str().unwrap_or("").to_string();
            let msg = match api.store.get(self.ids.ks, &dns, &dname) {
                None => Some(format!(
                    "dependency '{dns}/{dname}' not found: Kustomization.kustomize.toolkit.fluxcd.io \"{dname}\" not found"
                )),
                Some(d) => {
                    let d = &d.value;
                    let g = d["metadata"]["generation"].as_i64();
                    let ready = d["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c["type"] == "Ready"
                                && c["status"] == "True"
                                && c["observedGeneration"].as_i64() == g
                        })
                    }) && d["status"]["observedGeneration"].as_i64() == g;
                    let same_source = d["spec"]["sourceRef"]["kind"] == src_kind.as_str()
                        && d["spec"]["sourceRef"]["name"] == src_name.as_str()
                        && d["spec"]["sourceRef"]["namespace"].as_str().unwrap_or(&dns) == src_ns;
                    if !ready {
                        Some(format!("dependency '{dns}/{dname}' is not ready"))
                    } else if same_source
                        && d["status"]["lastAppliedRevision"].as_str() != Some(revision.as_str())
                    {
                        Some(format!(
                            "dependency '{dns}/{dname}' revision is not up to date"
                        ))
                    } else {
                        None
                    }
                }
            };
            if let Some(msg) = msg {
                let conds = conditions(&mut status);
                let now = api.clock.rfc3339();
                set_condition(
                    conds,
                    "Ready",
                    "False",
                    "DependencyNotReady",
                    &msg,
                    generation,
                    &now,
                );
                remove_condition(conds, "Reconciling");
                self.write_status(self.ids.ks, key, status, KC);
                self.event(&ks, "Normal", "DependencyNotReady", &msg, KC);
                return Some(self.timing.requeue_dependency);
            }
        }

        // kustomize-controller's reconcile(), once the dependencies are ready: the
        // flap every reconcile shows, even when nothing changes, then the fetch.
        let timeout_text = go_duration(
            ks["spec"]["timeout"]
                .as_str()
                .and_then(parse_duration)
                .unwrap_or(interval),
        );
        let conds = conditions(&mut status);
        let now = api.clock.rfc3339();
        mark_progressing(conds, "Reconciliation in progress", generation, &now);
        set_reconciling(
            conds,
            &format!("Fetching manifests for revision {revision} with a timeout of {timeout_text}"),
            generation,
            &now,
        );
        self.write_status(self.ids.ks, key, status.clone(), KC);
        api.clock.sleep(Duration::from_millis(200)).await;

        // Build: the path's manifests at this revision.
        let path = ks["spec"]["path"].as_str().unwrap_or("./").to_string();
        // The manifests of the fetched revision (of the branch head when unknown).
        let manifests = {
            let commit = (
                src_kind.clone(),
                src_ns.clone(),
                src_name.clone(),
                revision.clone(),
            );
            let at_revision = Self::lock(&self.commits).get(&commit).cloned();
            let tree = at_revision.or_else(|| {
                let repos = Self::lock(&self.repos);
                repos
                    .iter()
                    .find(|r| r.kind == src_kind && r.namespace == src_ns && r.name == src_name)
                    .map(|r| r.manifests.clone())
            });
            tree.and_then(|t| {
                t.get(&path)
                    .or_else(|| t.get(path.trim_end_matches('/')))
                    .cloned()
            })
        };
        let Some(manifests) = manifests else {
            let msg = format!(
                "kustomization path not found: stat /tmp/kustomization/{}: no such file or directory",
                path.trim_start_matches("./")
            );
            return Some(self.finish_failed(
                key,
                &mut status,
                generation,
                "BuildFailed",
                &msg,
                Some(&revision),
                interval,
            ));
        };
        // The real controller records the attempt before it applies anything: for
        // a moment the old objects (a failed Job about to be re-created) stand
        // beside an attempted revision they were not made by.
        status["lastAttemptedRevision"] = json!(revision);
        let conds = conditions(&mut status);
        let now = api.clock.rfc3339();
        set_reconciling(
            conds,
            &format!("Building manifests for revision {revision} with a timeout of {timeout_text}"),
            generation,
            &now,
        );
        self.write_status(self.ids.ks, key, status.clone(), KC);
        api.clock.sleep(Duration::from_millis(200)).await;
        let force_all = ks["spec"]["force"] == true;
        let target_ns = ks["spec"]["targetNamespace"].as_str().map(String::from);
        let mut entries = vec![];
        let mut applied: Vec<(ResourceId, Key, String)> = vec![];
        let mut changes = vec![];
        for mut obj in manifests {
            let Some(res) = api.registry.find_kind(
                obj["apiVersion"].as_str().unwrap_or(""),
                obj["kind"].as_str().unwrap_or(""),
            ) else {
                continue;
            };
            let def = api.def(res).clone();
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
            let ns = if def.namespaced {
                let ns = target_ns
                    .clone()
                    .or_else(|| obj["metadata"]["namespace"].as_str().map(String::from));
                // Flux does not default a namespace: the apply fails (seen on real Flux
                // with the guide's manifests, which have none and no targetNamespace).
                let Some(ns) = ns.filter(|n| !n.is_empty()) else {
                    let msg = format!(
                        // Real Flux ends its apply errors with a newline.
                        "{}/{name} namespace not specified: the server could not find the requested resource\n",
                        def.kind
                    );
                    return Some(self.finish_failed(
                        key,
                        &mut status,
                        generation,
                        "ReconciliationFailed",
                        &msg,
                        Some(&revision),
                        interval,
                    ));
                };
                ns
            } else {
                String::new()
            };
            if def.namespaced {
                obj["metadata"]["namespace"] = json!(ns);
            }
            obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = json!(key.1);
            obj["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"] = json!(key.0);
            let id = format!("{ns}_{name}_{}_{}", def.group, def.kind);
            let what = format!(
                "{}/{}{name}",
                def.kind,
                if ns.is_empty() {
                    String::new()
                } else {
                    format!("{ns}/")
                }
            );
            let forced = force_all
                || obj["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/force"] == "enabled";
            match self.apply_object(res, &ns, &name, &what, &obj, forced) {
                Ok(Some(change)) => changes.push(change),
                Ok(None) => {}
                Err(msg) => {
                    return Some(self.finish_failed(
                        key,
                        &mut status,
                        generation,
                        "ReconciliationFailed",
                        &msg,
                        Some(&revision),
                        interval,
                    ));
                }
            }
            entries.push(json!({ "id": id, "v": def.version }));
            applied.push((res, (ns, name), what));
        }
        if !changes.is_empty() {
            self.event(&ks, "Normal", "Progressing", &changes.join("\n"), KC);
        }
        // Prune what the previous inventory had and this one does not.
        if ks["spec"]["prune"] == true {
            for old in status["inventory"]["entries"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if entries.iter().any(|e| e["id"] == old["id"]) {
                    continue;
                }
                let id = old["id"].as_str().unwrap_or("");
                let parts: Vec<&str> = id.splitn(2, '_').collect();
                if let (Some(ns), Some(rest)) = (parts.first(), parts.get(1))
                    && let Some((rest, kind)) = rest.rsplit_once('_')
                    && let Some((name, group)) = rest.rsplit_once('_')
                {
                    let api_version = if group.is_empty() {
                        old["v"].as_str().unwrap_or("v1").to_string()
                    } else {
                        format!("{group}/{}", old["v"].as_str().unwrap_or("v1"))
                    };
                    if let Some(res) = api.registry.find_kind(&api_version, kind) {
                        let _ = api.delete(
                            res,
                            ns,
                            name,
                            &DeleteOptions {
                                propagation: Some(Propagation::Background),
                                ..Default::default()
                            },
                        );
                    }
                }
            }
        }
        status["inventory"] = json!({ "entries": entries });
        status["lastAttemptedRevision"] = json!(revision);

        // Health checks.
        if ks["spec"]["wait"] == true {
            let timeout = ks["spec"]["timeout"]
                .as_str()
                .and_then(parse_duration)
                .unwrap_or(interval);
            let conds = conditions(&mut status);
            let now = api.clock.rfc3339();
            let msg = format!(
                "Running health checks for revision {revision} with a timeout of {}",
                go_duration(timeout)
            );
            set_reconciling(conds, &msg, generation, &now);
            set_condition(
                conds,
                "Healthy",
                "Unknown",
                "Progressing",
                &msg,
                generation,
                &now,
            );
            self.write_status(self.ids.ks, key, status.clone(), KC);
            let check_started = api.clock.now();
            match self.health(&applied, timeout).await {
                Ok(()) => {
                    let took = api.clock.now().duration_since(check_started);
                    let conds = conditions(&mut status);
                    let now = api.clock.rfc3339();
                    let msg = format!(
                        "Health check passed in {}",
                        go_duration(Duration::from_secs_f64(took.as_secs_f64().max(0.0)))
                    );
                    set_condition(
                        conds,
                        "Healthy",
                        "True",
                        "Succeeded",
                        &msg,
                        generation,
                        &now,
                    );
                }
                Err(failure) => {
                    let took = api.clock.now().duration_since(check_started);
                    let took = go_duration(Duration::from_secs_f64(took.as_secs_f64().max(0.0)));
                    let (ready_msg, healthy_msg) = match failure {
                        Health::Failed(objs) => {
                            let m = format!(
                                "failed early due to stalled resources: [{}]",
                                objs.join(" ")
                            );
                            (format!("health check failed after {took}: {m}"), m)
                        }
                        Health::Timeout(objs) => {
                            let m = format!("timeout waiting for: [{}]", objs.join(" "));
                            (format!("health check failed after {took}: {m}"), m)
                        }
                    };
                    let conds = conditions(&mut status);
                    let now = api.clock.rfc3339();
                    set_condition(
                        conds,
                        "Healthy",
                        "False",
                        "HealthCheckFailed",
                        &healthy_msg,
                        generation,
                        &now,
                    );
                    return Some(self.finish_failed(
                        key,
                        &mut status,
                        generation,
                        "HealthCheckFailed",
                        &ready_msg,
                        Some(&revision),
                        interval,
                    ));
                }
            }
        }

        // Success.
        let fresh = api.store.get(self.ids.ks, &key.0, &key.1)?;
        let conds = conditions(&mut status);
        let now = api.clock.rfc3339();
        set_condition(
            conds,
            "Ready",
            "True",
            "ReconciliationSucceeded",
            &format!("Applied revision: {revision}"),
            generation,
            &now,
        );
        remove_condition(conds, "Reconciling");
        remove_condition(conds, "Stalled");
        status["lastAppliedRevision"] = json!(revision);
        status["observedGeneration"] = json!(generation);
        self.write_status(self.ids.ks, key, status, KC);
        let took = api.clock.now().duration_since(started);
        self.event(
            &fresh.value,
            "Normal",
            "ReconciliationSucceeded",
            &format!(
                "Reconciliation finished in {}, next run in {}",
                go_duration(Duration::from_secs_f64(took.as_secs_f64().max(0.0))),
                go_duration(interval)
            ),
            KC,
        );
        Some(interval)
    }

    /// Applies one object as kustomize-controller does (server-side apply,
    /// forced ownership); a Job whose immutable template changed is deleted and
    /// created again when `forced`, and is a dry-run failure otherwise.
    /// Returns the change to report, if any, or the failure message.
    fn apply_object(
        &self,
        res: ResourceId,
        ns: &str,
        name: &str,
        what: &str,
        obj: &Value,
        forced: bool,
    ) -> Result<Option<String>, String> {
        let api = &self.sh.api;
        let existed = api.store.get(res, ns, name);
        let body = obj.to_string();
        let opts = WriteOptions {
            manager: KC.into(),
            ..Default::default()
        };
        match api.patch(
            res,
            ns,
            name,
            PatchType::Apply,
            body.as_bytes(),
            true,
            &opts,
        ) {
            Ok(after) => Ok(match &existed {
                None => Some(format!("{what} created")),
                Some(before) if before.resource_version() != after.resource_version() => {
                    Some(format!("{what} configured"))
                }
                Some(_) => None,
            }),
            Err(e) if e.code == 422 && forced => {
                // In the sandbox a Background deletion is complete when it returns.
                let background = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    ..Default::default()
                };
                let _ = api.delete(res, ns, name, &background);
                api.patch(
                    res,
                    ns,
                    name,
                    PatchType::Apply,
                    body.as_bytes(),
                    true,
                    &opts,
                )
                .map(|_| Some(format!("{what} created")))
                .map_err(|e| format!("{what} apply failed ({}): {}", e.reason, e.message))
            }
            Err(e) if e.code == 422 => Err(format!(
                "{what} dry-run failed ({}): {}",
                e.reason, e.message
            )),
            Err(e) => Err(format!("{what} apply failed ({}): {}", e.reason, e.message)),
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the status fields a failure writes"
    )]
    fn finish_failed(
        &self,
        key: &Key,
        status: &mut Value,
        generation: i64,
        reason: &str,
        message: &str,
        attempted: Option<&str>,
        interval: Duration,
    ) -> Duration {
        let now = self.sh.api.clock.rfc3339();
        let conds = conditions(status);
        set_condition(conds, "Ready", "False", reason, message, generation, &now);
        let retrying = conds
            .iter()
            .find(|c| c["type"] == "Reconciling")
            .and_then(|c| c["message"].as_str())
            .unwrap_or("Reconciliation in progress")
            .to_string();
        set_condition(
            conds,
            "Reconciling",
            "True",
            "ProgressingWithRetry",
            &retrying,
            generation,
            &now,
        );
        if let Some(rev) = attempted {
            status["lastAttemptedRevision"] = json!(rev);
        }
        status["observedGeneration"] = json!(generation);
        self.write_status(self.ids.ks, key, status.clone(), KC);
        if let Some(ks) = self.sh.api.store.get(self.ids.ks, &key.0, &key.1) {
            self.event(&ks.value, "Warning", reason, message, KC);
        }
        interval
    }

    /// Waits until every applied object is healthy; fails fast on a failed Job.
    async fn health(
        &self,
        applied: &[(ResourceId, Key, String)],
        timeout: Duration,
    ) -> Result<(), Health> {
        let api = &self.sh.api;
        let mut changes = api.store.subscribe();
        let deadline = tokio::time::Instant::now() + api.clock.real(timeout);
        loop {
            let mut failed = vec![];
            let mut pending = vec![];
            for (res, (ns, name), what) in applied {
                let obj = api.store.get(*res, ns, name);
                let state = match obj {
                    None => "NotFound",
                    Some(o) => object_health(
                        *res == self.ids.jobs,
                        *res == self.ids.deployments,
                        &o.value,
                    ),
                };
                match state {
                    "Current" => {}
                    "Failed" => failed.push(format!("{what} status: 'Failed'")),
                    s => pending.push(format!("{what} status: '{s}'")),
                }
            }
            if !failed.is_empty() {
                return Err(Health::Failed(failed));
            }
            if pending.is_empty() {
                return Ok(());
            }
            tokio::select! {
                _ = changes.recv() => {}
                _ = tokio::time::sleep_until(deadline) => return Err(Health::Timeout(pending)),
            }
        }
    }

    // ---- Deployments ----------------------------------------------------------------

    fn ensure_deployment(self: &Arc<Self>, obj: &Value) {
        let generation = obj["metadata"]["generation"].as_i64();
        if generation == obj["status"]["observedGeneration"].as_i64() {
            return;
        }
        let (s, key) = (self.clone(), key_of(obj));
        tokio::spawn(async move {
            s.sh.api.clock.sleep(s.timing.deployment_ready).await;
            let Some(d) = s.sh.api.store.get(s.ids.deployments, &key.0, &key.1) else {
                return;
            };
            let replicas = d.value["spec"]["replicas"].as_i64().unwrap_or(1);
            let now = s.sh.api.clock.rfc3339();
            let status = json!({
                "observedGeneration": d.value["metadata"]["generation"], "replicas": replicas, "readyReplicas": replicas,
                "updatedReplicas": replicas, "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability.", "lastTransitionTime": now, "lastUpdateTime": now},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{}-6d4c8b7f9\" has successfully progressed.", key.1), "lastTransitionTime": now, "lastUpdateTime": now},
                ],
            });
            s.write_status(s.ids.deployments, &key, status, "kube-controller-manager");
        });
    }

    // ---- the Job controller -----------------------------------------------------------

    fn ensure_job(self: &Arc<Self>, obj: &Value) {
        let done = obj["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
            })
        });
        let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_string();
        let key = key_of(obj);
        if done || obj["spec"]["suspend"] == true {
            return;
        }
        {
            let mut running = Self::lock(&self.jobs_running);
            if running.get(&key) == Some(&uid) {
                return;
            }
            running.insert(key.clone(), uid.clone());
        }
        let s = self.clone();
        tokio::spawn(async move {
            s.run_job(&key, &uid).await;
            let mut running = Self::lock(&s.jobs_running);
            if running.get(&key) == Some(&uid) {
                running.remove(&key);
            }
        });
    }

    fn job_alive(&self, key: &Key, uid: &str) -> Option<Value> {
        self.sh
            .api
            .store
            .get(self.ids.jobs, &key.0, &key.1)
            .map(|j| j.value.clone())
            .filter(|j| j["metadata"]["uid"] == uid)
    }

    async fn run_job(&self, key: &Key, uid: &str) {
        let api = &self.sh.api;
        let script = Self::lock(&self.scripts)
            .iter()
            .find(|s| s.namespace == key.0 && s.name == key.1)
            .cloned()
            .unwrap_or(JobScript {
                namespace: key.0.clone(),
                name: key.1.clone(),
                run_seconds: 10.0,
                outcomes: vec!["succeed".into()],
                fail_when_image: None,
                log: String::new(),
                broken: false,
            });
        let Some(job) = self.job_alive(key, uid) else {
            return;
        };
        let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
        let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
        let deadline = job["spec"]["activeDeadlineSeconds"]
            .as_f64()
            .map(Duration::from_secs_f64);
        let images: Vec<String> = job["spec"]["template"]["spec"]["containers"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .filter_map(|c| c["image"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let bad_image = script
            .fail_when_image
            .as_deref()
            .is_some_and(|g| images.iter().any(|i| glob(g, i)));
        let start = api.clock.rfc3339();
        let start_instant = tokio::time::Instant::now();
        let mut st = json!({ "startTime": start, "active": 0, "succeeded": 0, "failed": 0, "ready": 0, "terminating": 0, "uncountedTerminatedPods": {} });
        let mut attempt = 0usize;
        let outcome = loop {
            if self.job_alive(key, uid).is_none() {
                return;
            }
            // One pod.
            let pod = format!("{}-{}", key.1, api.random_suffix());
            let container = job["spec"]["template"]["spec"]["containers"][0]["name"]
                .as_str()
                .unwrap_or("job")
                .to_string();
            let mut labels = job["spec"]["template"]["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            // As kube-apiserver defaults a Job's pod template: by name and by uid.
            labels["batch.kubernetes.io/job-name"] = json!(key.1);
            labels["job-name"] = json!(key.1);
            labels["batch.kubernetes.io/controller-uid"] = json!(uid);
            labels["controller-uid"] = json!(uid);
            let pod_obj = json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": { "name": pod, "namespace": key.0, "labels": labels,
                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": key.1, "uid": uid, "controller": true, "blockOwnerDeletion": true}] },
                "spec": { "containers": job["spec"]["template"]["spec"]["containers"], "restartPolicy": "Never", "nodeName": "sandbox-node" },
            });
            if api
                .create(
                    self.ids.pods,
                    Some(&key.0),
                    pod_obj,
                    &WriteOptions {
                        manager: JC.into(),
                        ..Default::default()
                    },
                )
                .is_err()
            {
                return;
            }
            self.event(
                &job,
                "Normal",
                "SuccessfulCreate",
                &format!("Created pod: {pod}"),
                JC,
            );
            st["active"] = json!(1);
            self.write_status(self.ids.jobs, key, st.clone(), JC);
            api.clock.sleep(self.timing.pod_start).await;
            let pkey = (key.0.clone(), pod.clone());
            self.write_status(self.ids.pods, &pkey, json!({"phase": "Running", "podIP": "10.244.0.30", "startTime": api.clock.rfc3339(),
                "containerStatuses": [{"name": container, "ready": true, "restartCount": 0, "image": images.first(), "state": {"running": {"startedAt": api.clock.rfc3339()}}}]}), "kubelet");
            st["ready"] = json!(1);
            self.write_status(self.ids.jobs, key, st.clone(), JC);
            if !script.log.is_empty() {
                api.store.append_log(&key.0, &pod, &script.log);
            }
            // Run, unless the deadline comes first.
            let run = api.clock.real(Duration::from_secs_f64(script.run_seconds));
            let left = deadline.map(|d| api.clock.real(d).saturating_sub(start_instant.elapsed()));
            let deadline_hit = left.is_some_and(|l| l < run);
            tokio::time::sleep(left.map_or(run, |l| l.min(run))).await;
            if self.job_alive(key, uid).is_none() {
                return;
            }
            let wanted = script
                .outcomes
                .get(attempt)
                .or(script.outcomes.last())
                .map(String::as_str)
                .unwrap_or("succeed");
            let ok = !deadline_hit && !bad_image && !script.broken && wanted != "fail";
            if !ok && !deadline_hit {
                api.store.append_log(
                    &key.0,
                    &pod,
                    if bad_image {
                        "ERROR: this release cannot run the migration\n"
                    } else {
                        "ERROR: migration failed\n"
                    },
                );
            }
            let (code, reason) = if ok { (0, "Completed") } else { (1, "Error") };
            let now = api.clock.rfc3339();
            self.write_status(self.ids.pods, &pkey, json!({"phase": if ok { "Succeeded" } else { "Failed" },
                "containerStatuses": [{"name": container, "ready": false, "restartCount": 0, "image": images.first(), "state": {"terminated": {"exitCode": code, "reason": reason, "finishedAt": now}}}]}), "kubelet");
            st["active"] = json!(0);
            st["ready"] = json!(0);
            attempt += 1;
            if deadline_hit {
                break "DeadlineExceeded";
            }
            if ok {
                st["succeeded"] = json!(st["succeeded"].as_i64().unwrap_or(0) + 1);
                if st["succeeded"].as_i64().unwrap_or(0) >= completions {
                    break "Complete";
                }
            } else {
                st["failed"] = json!(st["failed"].as_i64().unwrap_or(0) + 1);
                if st["failed"].as_i64().unwrap_or(0) > backoff_limit {
                    break "BackoffLimitExceeded";
                }
            }
            self.write_status(self.ids.jobs, key, st.clone(), JC);
            // The job controller's backoff before the next pod (10 s, doubling).
            api.clock
                .sleep(Duration::from_secs(10u64 << (attempt.min(5) - 1)))
                .await;
        };
        let now = api.clock.rfc3339();
        let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "reason": reason, "message": msg, "lastProbeTime": now, "lastTransitionTime": now});
        let (conditions, event) = match outcome {
            "Complete" => {
                st["completionTime"] = json!(now);
                let m = "Reached expected number of succeeded pods";
                (
                    vec![
                        cond("SuccessCriteriaMet", "CompletionsReached", m),
                        cond("Complete", "CompletionsReached", m),
                    ],
                    ("Normal", "Completed", "Job completed"),
                )
            }
            "DeadlineExceeded" => {
                let m = "Job was active longer than specified deadline";
                (
                    vec![
                        cond("FailureTarget", "DeadlineExceeded", m),
                        cond("Failed", "DeadlineExceeded", m),
                    ],
                    ("Warning", "DeadlineExceeded", m),
                )
            }
            _ => {
                let m = "Job has reached the specified backoff limit";
                (
                    vec![
                        cond("FailureTarget", "BackoffLimitExceeded", m),
                        cond("Failed", "BackoffLimitExceeded", m),
                    ],
                    ("Warning", "BackoffLimitExceeded", m),
                )
            }
        };
        st["conditions"] = json!(conditions);
        self.write_status(self.ids.jobs, key, st, JC);
        self.event(&job, event.0, event.1, event.2, JC);
        // ttlSecondsAfterFinished: the TTL controller deletes the Job and its pods.
        if let Some(ttl) = job["spec"]["ttlSecondsAfterFinished"].as_f64() {
            api.clock.sleep(Duration::from_secs_f64(ttl)).await;
            if self.job_alive(key, uid).is_some() {
                let del = DeleteOptions {
                    propagation: Some(Propagation::Background),
                    uid: Some(uid.to_string()),
                    ..Default::default()
                };
                let _ = api.delete(self.ids.jobs, &key.0, &key.1, &del);
            }
        }
    }
}

enum Health {
    Failed(Vec<String>),
    Timeout(Vec<String>),
}

/// kstatus-like health as Flux's readers see it: Current, InProgress or Failed.
fn object_health(is_job: bool, is_deployment: bool, obj: &Value) -> &'static str {
    let conds = obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let is_true = |t: &str| {
        conds
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    if is_job {
        if obj["spec"]["suspend"] == true || is_true("Complete") {
            return "Current";
        }
        if is_true("Failed") {
            return "Failed";
        }
        return "InProgress";
    }
    if is_deployment {
        let g = obj["metadata"]["generation"].as_i64();
        let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
        let ok = obj["status"]["observedGeneration"].as_i64() == g
            && obj["status"]["availableReplicas"].as_i64().unwrap_or(0) >= want;
        return if ok { "Current" } else { "InProgress" };
    }
    "Current"
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
