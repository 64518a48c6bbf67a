//! Scenarios: what a sandbox starts with. A scenario is a YAML file
//! (`scenarios/*.yaml`) listing objects with their status, pod logs and faults,
//! or the generated scale scenario (`--apps N`).

use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::Fault;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PodLog {
    pub namespace: String,
    pub pod: String,
    pub log: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Spec {
    #[serde(default = "default_namespace")]
    default_namespace: String,
    /// Install Flux's CRDs (false: a cluster without Flux).
    #[serde(default = "yes")]
    flux: bool,
    #[serde(default)]
    objects: Vec<Value>,
    #[serde(default)]
    pod_logs: Vec<PodLog>,
    #[serde(default)]
    faults: Vec<Fault>,
    #[serde(default)]
    simulation: Option<Simulation>,
}

/// What the simulated controllers need beyond the objects: the content of the
/// sources (manifests per path) and how each Job's pods behave.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Simulation {
    #[serde(default)]
    pub repositories: Vec<Repository>,
    #[serde(default)]
    pub jobs: Vec<JobScript>,
}

/// A source's content at its current revision: the manifests of each path.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Repository {
    #[serde(default = "git_repository_kind")]
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// The head revision; defaults to the source object's artifact revision.
    #[serde(default)]
    pub revision: Option<String>,
    /// Path (as in a Kustomization's `spec.path`) → objects.
    pub manifests: std::collections::BTreeMap<String, Vec<Value>>,
}

fn git_repository_kind() -> String {
    "GitRepository".into()
}

/// How the pods of a Job behave, matched by namespace and name.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobScript {
    pub namespace: String,
    pub name: String,
    /// Simulated seconds a pod runs.
    #[serde(default = "twenty")]
    pub run_seconds: f64,
    /// Outcome of each attempt (`succeed` or `fail`); the last one repeats.
    #[serde(default = "succeed")]
    pub outcomes: Vec<String>,
    /// Every attempt fails while a container image matches this glob (a bad release).
    #[serde(default)]
    pub fail_when_image: Option<String>,
    /// What each pod logs; a failing pod adds an error line.
    #[serde(default)]
    pub log: String,
    /// Every attempt fails until the environment is fixed (`Sandbox::fix_job`,
    /// `POST /sandbox/v1/fix`): a failure no manifest change can cure.
    #[serde(default)]
    pub broken: bool,
    /// The container never starts, waiting for this reason (`ImagePullBackOff`,
    /// `CreateContainerConfigError`...): the pod stays Pending.
    #[serde(default)]
    pub waiting: Option<String>,
}

fn twenty() -> f64 {
    20.0
}

fn succeed() -> Vec<String> {
    vec!["succeed".into()]
}

#[derive(Debug, Clone, Deserialize)]
struct File {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    metadata: Value,
    spec: Spec,
}

fn default_namespace() -> String {
    "default".into()
}

fn yes() -> bool {
    true
}

/// What a sandbox is loaded with.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The namespace the written kubeconfig's context selects.
    pub default_namespace: String,
    pub flux: bool,
    pub objects: Vec<Value>,
    pub pod_logs: Vec<PodLog>,
    pub faults: Vec<Fault>,
    /// The simulated controllers' script; `None`: no controllers run.
    pub simulation: Option<Simulation>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("canonical", include_str!("../scenarios/canonical.yaml")),
    ("failed", include_str!("../scenarios/failed.yaml")),
    ("no-flux", include_str!("../scenarios/no-flux.yaml")),
    ("multi-app", include_str!("../scenarios/multi-app.yaml")),
];

impl Scenario {
    /// An empty cluster with Flux installed and a `default` namespace.
    pub fn empty() -> Self {
        Scenario {
            name: "empty".into(),
            description: "An empty cluster with Flux's CRDs installed".into(),
            default_namespace: "default".into(),
            flux: true,
            objects: vec![
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
            ],
            pod_logs: vec![],
            faults: vec![],
            simulation: None,
        }
    }

    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    pub fn builtin(name: &str) -> Option<Self> {
        let (_, yaml) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        Some(Self::from_yaml(yaml).expect("built-in scenarios are valid"))
    }

    /// A built-in scenario's name, or the path of a scenario file.
    pub fn resolve(name_or_path: &str) -> anyhow::Result<Self> {
        if let Some(s) = Self::builtin(name_or_path) {
            return Ok(s);
        }
        let path = Path::new(name_or_path);
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read scenario {}: {e}", path.display()))?;
            return Self::from_yaml(&text)
                .map_err(|e| anyhow::anyhow!("scenario {}: {e}", path.display()));
        }
        anyhow::bail!(
            "no scenario named {name_or_path:?}: use one of {} or the path of a scenario file",
            Self::builtin_names().join(", ")
        )
    }

    pub fn from_yaml(text: &str) -> anyhow::Result<Self> {
        let file: File = serde_saphyr::from_str(text)?;
        if file.api_version != "sandbox.jobgate.dev/v1" || file.kind != "Scenario" {
            anyhow::bail!("expected apiVersion sandbox.jobgate.dev/v1, kind Scenario");
        }
        let mut objects = vec![];
        for obj in file.spec.objects {
            // A `kind: List` expands to its items, as kubectl does.
            if obj["kind"] == "List" {
                objects.extend(obj["items"].as_array().cloned().unwrap_or_default());
            } else {
                objects.push(obj);
            }
        }
        Ok(Scenario {
            name: file.metadata["name"]
                .as_str()
                .unwrap_or("unnamed")
                .to_string(),
            description: file.metadata["annotations"]["description"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            default_namespace: file.spec.default_namespace,
            flux: file.spec.flux,
            objects,
            pod_logs: file.spec.pod_logs,
            faults: file.spec.faults,
            simulation: file.spec.simulation,
        })
    }

    /// `apps` applications, each a pre → deploy → post chain with a GitRepository
    /// and two completed Jobs, spread over namespaces of 100 apps.
    pub fn scale(apps: usize) -> Self {
        Self::shaped(apps, Shape::Independent)
    }

    /// [`Scenario::scale`] in another shape of dependency graph, the same
    /// number of Kustomizations give or take one (the benchmark's rows).
    pub fn shaped(apps: usize, shape: Shape) -> Self {
        let mut objects = Vec::with_capacity(apps * 6 + apps / 100 + 2);
        let revision = "main@sha1:9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6";
        for i in 0..apps {
            let ns = format!("team-{:03}", i / 100);
            let app = format!("app-{i:05}");
            objects.push(git_repository(&ns, &app, revision));
            if i == 0 && shape == Shape::SharedDependency {
                let entries = json!([{ "id": "team-000_database_apps_Deployment", "v": "v1" }]);
                objects.push(kustomization(
                    &ns, "infra", "infra", &app, None, false, entries, revision,
                ));
            }
            let stages = [
                ("pre-deploy", Some("db-migration"), None),
                ("deploy", None, Some("pre-deploy")),
                ("post-deploy", Some("cache-refresh"), Some("deploy")),
            ];
            for (stage, job, depends) in stages {
                let ks_name = format!("{app}-{stage}");
                let entries = match job {
                    Some(job) => {
                        json!([{ "id": format!("{ns}_{app}-{job}_batch_Job"), "v": "v1" }])
                    }
                    None => json!([
                        { "id": format!("{ns}_{app}__Service"), "v": "v1" },
                        { "id": format!("{ns}_{app}_apps_Deployment"), "v": "v1" },
                    ]),
                };
                let depends = match (depends, shape) {
                    (Some(d), _) => Some(json!({ "name": format!("{app}-{d}") })),
                    (None, Shape::Independent) => None,
                    (None, Shape::SharedDependency) => {
                        Some(json!({ "name": "infra", "namespace": "team-000" }))
                    }
                    // Chains of DEEP_APPS apps, each app's first stage after
                    // the last stage of the app before it.
                    (None, Shape::Deep) if i % DEEP_APPS != 0 => Some(json!({
                        "name": format!("app-{:05}-post-deploy", i - 1),
                        "namespace": format!("team-{:03}", (i - 1) / 100),
                    })),
                    (None, Shape::Deep) => None,
                };
                objects.push(kustomization(
                    &ns,
                    &ks_name,
                    stage,
                    &app,
                    depends,
                    job.is_some(),
                    entries,
                    revision,
                ));
                if let Some(job) = job {
                    let uid = format!("{i:08x}-0000-4000-8000-{:012x}", job.len());
                    objects.push(completed_job(&ns, &format!("{app}-{job}"), &uid, &ks_name));
                }
            }
        }
        for object in &mut objects {
            written_as_flux_writes(object);
        }
        Scenario {
            name: match shape {
                Shape::Independent => format!("scale-{apps}"),
                Shape::SharedDependency => format!("scale-{apps}-shared-dependency"),
                Shape::Deep => format!("scale-{apps}-deep"),
            },
            description: format!(
                "{apps} applications: {} Kustomizations, {} Jobs",
                apps * 3,
                apps * 2
            ),
            default_namespace: "team-000".into(),
            flux: true,
            objects,
            pod_logs: vec![],
            faults: vec![],
            simulation: None,
        }
    }
}

fn ready_condition(revision: &str, t: &str) -> Value {
    json!({
        "lastTransitionTime": t,
        "message": format!("Applied revision: {revision}"),
        "observedGeneration": 1,
        "reason": "ReconciliationSucceeded",
        "status": "True",
        "type": "Ready",
    })
}

fn git_repository(ns: &str, name: &str, revision: &str) -> Value {
    let sha = revision.rsplit(':').next().unwrap_or_default();
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": { "name": name, "namespace": ns, "generation": 1, "creationTimestamp": "2026-08-01T09:00:00Z", "finalizers": ["finalizers.fluxcd.io"] },
        "spec": { "interval": "1m0s", "ref": { "branch": "main" }, "timeout": "60s", "url": format!("https://github.com/org/{name}") },
        "status": {
            "observedGeneration": 1,
            "artifact": {
                "digest": "sha256:4f1c0a6e7b2d9e8f3a5c6b7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b",
                "lastUpdateTime": "2026-08-20T10:14:31Z",
                "path": format!("gitrepository/{ns}/{name}/{sha}.tar.gz"),
                "revision": revision,
                "size": 18231,
                "url": format!("http://source-controller.flux-system.svc.cluster.local./gitrepository/{ns}/{name}/{sha}.tar.gz"),
            },
            "conditions": [{
                "lastTransitionTime": "2026-08-20T10:14:31Z",
                "message": format!("stored artifact for revision '{revision}'"),
                "observedGeneration": 1,
                "reason": "Succeeded",
                "status": "True",
                "type": "Ready",
            }],
        },
    })
}

/// Gives a generated object the `managedFields` a Flux cluster's apiserver
/// shows on it, as this sandbox records those writes: its spec and labels
/// applied by kustomize-controller (server-side apply), its finalizer added
/// and its status written by the controller that owns it (a Job's by
/// kube-controller-manager). A real list carries them: on kube-apiserver
/// the scale scenario's lists are 1.6 to 1.9 times the bytes they were here
/// without (measured 2026-12-04), bytes a client reads and skips.
fn written_as_flux_writes(object: &mut Value) {
    let owner = match object["kind"].as_str() {
        Some("Kustomization") => "gotk-kustomize-controller",
        Some("GitRepository") => "gotk-source-controller",
        Some("Job") => "kube-controller-manager",
        _ => return,
    };
    let api_version = object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let time = "2026-08-20T10:15:02Z";
    let writer = |manager, subresource| crate::patch::Writer {
        manager,
        subresource,
        api_version: &api_version,
        time,
    };
    let mut applied = object.clone();
    let finalizers = applied["metadata"]
        .as_object_mut()
        .and_then(|m| m.remove("finalizers"));
    if let Some(m) = applied.as_object_mut() {
        m.remove("status");
    }
    let Ok(created) =
        crate::patch::apply(None, &applied, true, &writer("kustomize-controller", ""))
    else {
        return;
    };
    let mut finalized = created.clone();
    if let Some(f) = finalizers {
        finalized["metadata"]["finalizers"] = f;
        crate::patch::track_update(Some(&created), &mut finalized, &writer(owner, ""));
    }
    let mut written = finalized.clone();
    written["status"] = object["status"].clone();
    crate::patch::track_update(Some(&finalized), &mut written, &writer(owner, "status"));
    object["metadata"]["managedFields"] = written["metadata"]["managedFields"].take();
}

/// The dependency graph of [`Scenario::shaped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Each app its own chain of three.
    Independent,
    /// Every app's first stage depends on one `infra` stage (fan-in).
    SharedDependency,
    /// Chains of [`DEEP_APPS`] apps, 3 x that many stages deep.
    Deep,
}

/// Apps per chain in [`Shape::Deep`]: 17 apps, 51 stages.
pub const DEEP_APPS: usize = 17;

#[expect(
    clippy::too_many_arguments,
    reason = "one generated object, one parameter per varying field"
)]
fn kustomization(
    ns: &str,
    name: &str,
    stage: &str,
    source: &str,
    depends: Option<Value>,
    jobs: bool,
    entries: Value,
    revision: &str,
) -> Value {
    let t = "2026-08-20T10:15:02Z";
    let mut spec = json!({
        "interval": "1h0m0s",
        "path": format!("./{stage}/"),
        "prune": true,
        "sourceRef": { "kind": "GitRepository", "name": source },
        "timeout": "5m0s",
        "wait": true,
    });
    if jobs {
        spec["force"] = json!(true);
    }
    if let Some(d) = depends {
        spec["dependsOn"] = json!([d]);
    }
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {
            "name": name, "namespace": ns, "generation": 1, "creationTimestamp": "2026-08-01T09:00:00Z",
            "finalizers": ["finalizers.fluxcd.io"],
            "labels": { "kustomize.toolkit.fluxcd.io/name": "flux-system", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" },
        },
        "spec": spec,
        "status": {
            "conditions": [
                ready_condition(revision, t),
                { "lastTransitionTime": t, "message": "Health check passed in 24.118406722s", "observedGeneration": 1, "reason": "Succeeded", "status": "True", "type": "Healthy" },
            ],
            "inventory": { "entries": entries },
            "lastAppliedRevision": revision,
            "lastAttemptedRevision": revision,
            "observedGeneration": 1,
        },
    })
}

fn completed_job(ns: &str, name: &str, uid: &str, owner_ks: &str) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name, "namespace": ns, "uid": uid, "generation": 1, "creationTimestamp": "2026-08-20T10:14:38Z",
            "labels": { "kustomize.toolkit.fluxcd.io/name": owner_ks, "kustomize.toolkit.fluxcd.io/namespace": ns },
        },
        "spec": {
            "backoffLimit": 6, "completionMode": "NonIndexed", "completions": 1, "manualSelector": false,
            "parallelism": 1, "podReplacementPolicy": "TerminatingOrFailed", "suspend": false,
            "selector": { "matchLabels": { "batch.kubernetes.io/controller-uid": uid } },
            "template": {
                "metadata": { "labels": { "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name, "controller-uid": uid, "job-name": name } },
                "spec": { "containers": [{ "name": "job", "image": "ghcr.io/org/my-app:v1.0.0", "command": ["sh", "-c", "echo done"] }], "restartPolicy": "Never" },
            },
        },
        "status": {
            "conditions": [
                { "lastProbeTime": "2026-08-20T10:14:59Z", "lastTransitionTime": "2026-08-20T10:14:59Z", "message": "Reached expected number of succeeded pods", "reason": "CompletionsReached", "status": "True", "type": "SuccessCriteriaMet" },
                { "lastProbeTime": "2026-08-20T10:14:59Z", "lastTransitionTime": "2026-08-20T10:14:59Z", "message": "Reached expected number of succeeded pods", "reason": "CompletionsReached", "status": "True", "type": "Complete" },
            ],
            "ready": 0, "startTime": "2026-08-20T10:14:38Z", "completionTime": "2026-08-20T10:14:59Z",
            "succeeded": 1, "terminating": 0, "uncountedTerminatedPods": {},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse() {
        for name in Scenario::builtin_names() {
            let s = Scenario::builtin(name).unwrap();
            assert_eq!(s.name, name);
        }
        assert!(!Scenario::builtin("no-flux").unwrap().flux);
    }

    #[test]
    fn scale_counts() {
        let s = Scenario::scale(10);
        let count = |kind: &str| s.objects.iter().filter(|o| o["kind"] == kind).count();
        assert_eq!(
            (count("Kustomization"), count("Job"), count("GitRepository")),
            (30, 20, 10)
        );
    }

    /// Found on kube-apiserver: the scale scenario's objects there carry
    /// managedFields (lists 1.6–1.9× the bytes), here they carried none.
    #[test]
    fn scale_objects_carry_the_managed_fields_flux_writes() {
        let s = Scenario::scale(2);
        let managers = |kind: &str| -> Vec<Vec<(String, String, String)>> {
            s.objects
                .iter()
                .filter(|o| o["kind"] == kind)
                .map(|o| {
                    let mut m: Vec<_> = o["metadata"]["managedFields"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|e| {
                            let f = |k: &str| e[k].as_str().unwrap_or_default().to_string();
                            (f("manager"), f("operation"), f("subresource"))
                        })
                        .collect();
                    m.sort();
                    m
                })
                .collect()
        };
        let entry = |m: &str, op: &str, sub: &str| (m.to_string(), op.to_string(), sub.to_string());
        let flux = |owner: &str| {
            vec![
                entry(owner, "Update", ""),
                entry(owner, "Update", "status"),
                entry("kustomize-controller", "Apply", ""),
            ]
        };
        assert!(
            managers("Kustomization")
                .iter()
                .all(|m| *m == flux("gotk-kustomize-controller"))
        );
        assert!(
            managers("GitRepository")
                .iter()
                .all(|m| *m == flux("gotk-source-controller"))
        );
        let job = vec![
            entry("kube-controller-manager", "Update", "status"),
            entry("kustomize-controller", "Apply", ""),
        ];
        assert!(
            managers("Job").iter().all(|m| *m == job),
            "{:?}",
            managers("Job")
        );
        // The status entry owns the status, the apply the spec.
        let ks = s
            .objects
            .iter()
            .find(|o| o["kind"] == "Kustomization")
            .unwrap();
        let fields = |operation: &str, subresource: &str| {
            ks["metadata"]["managedFields"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| {
                    e["operation"] == operation
                        && e["subresource"].as_str().unwrap_or_default() == subresource
                })
                .map(|e| e["fieldsV1"].clone())
                .unwrap_or_default()
        };
        assert!(fields("Update", "status")["f:status"]["f:conditions"].is_object());
        assert!(fields("Apply", "")["f:spec"]["f:sourceRef"]["f:name"].is_object());
    }

    #[test]
    fn shapes_hold_the_same_stages_differently_linked() {
        let deps = |s: &Scenario| -> Vec<(String, String)> {
            s.objects
                .iter()
                .filter(|o| o["kind"] == "Kustomization")
                .flat_map(|o| {
                    let name = o["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    o["spec"]["dependsOn"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |d| {
                            (
                                name.clone(),
                                d["name"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                })
                .collect()
        };
        let shared = Scenario::shaped(40, Shape::SharedDependency);
        let on_infra = deps(&shared).iter().filter(|(_, d)| d == "infra").count();
        assert_eq!(
            (shared.objects.len(), on_infra),
            (Scenario::scale(40).objects.len() + 1, 40)
        );
        let deep = Scenario::shaped(2 * DEEP_APPS, Shape::Deep);
        let links = deps(&deep);
        // Two chains: every stage but the two first depends on the one before.
        assert_eq!(links.len(), 6 * DEEP_APPS - 2);
        assert!(links.contains(&(
            "app-00001-pre-deploy".into(),
            "app-00000-post-deploy".into()
        )));
        assert!(
            !links
                .iter()
                .any(|(k, _)| k == &format!("app-{DEEP_APPS:05}-pre-deploy"))
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = Scenario::from_yaml(
            "apiVersion: sandbox.jobgate.dev/v1\nkind: Scenario\nmetadata: {name: x}\nspec: {objcts: []}\n",
        );
        assert!(err.is_err());
    }
}
