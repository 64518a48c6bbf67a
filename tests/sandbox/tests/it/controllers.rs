//! The simulated controllers on their own: Job outcomes and retries, deadlines,
//! TTL, prune, and the health-check timeout, observed through the API.

use std::time::Duration;

use jobgate_sandbox::{Options, Sandbox, Scenario};
use serde_json::{Value, json};

use crate::STEP;

/// One Kustomization `ks` in `apps` applying `manifests`, its Jobs scripted by `scripts`.
fn scenario(ks_spec: Value, manifests: Value, scripts: Value, inventory: Value) -> Scenario {
    let yaml = serde_json::to_string(&json!({
        "apiVersion": "sandbox.jobgate.dev/v1",
        "kind": "Scenario",
        "metadata": {"name": "controllers"},
        "spec": {
            "defaultNamespace": "apps",
            "objects": [
                {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                 "metadata": {"name": "repo", "namespace": "apps"},
                 "spec": {"interval": "1m0s", "url": "https://example.com/repo"},
                 "status": {"artifact": {"revision": "main@sha1:1111111111111111111111111111111111111111"}}},
                {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                 "metadata": {"name": "ks", "namespace": "apps", "generation": 1},
                 "spec": ks_spec,
                 "status": {"observedGeneration": 1, "inventory": {"entries": inventory}}},
            ],
            "simulation": {
                "repositories": [{"namespace": "apps", "name": "repo", "manifests": {"./": manifests}}],
                "jobs": scripts,
            },
        },
    }))
    .unwrap();
    Scenario::from_yaml(&yaml).unwrap()
}

fn ks_spec(extra: Value) -> Value {
    let mut spec = json!({"interval": "1h0m0s", "path": "./", "prune": true, "wait": true, "timeout": "5m0s", "force": true,
        "sourceRef": {"kind": "GitRepository", "name": "repo"}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    spec
}

fn job(name: &str, extra: Value) -> Value {
    let mut spec = json!({"template": {"spec": {"containers": [{"name": "c", "image": "img:1"}], "restartPolicy": "Never"}}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "apps"}, "spec": spec})
}

async fn start(s: Scenario) -> Sandbox {
    Sandbox::start_with(
        s,
        Options {
            speed: 200.0,
            ..Options::default()
        },
    )
    .await
    .unwrap()
}

fn get(sb: &Sandbox, group: &str, plural: &str, name: &str) -> Option<Value> {
    sb.object(group, plural, "apps", name)
}

fn request(sb: &Sandbox, token: &str) {
    let body = json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
    sb.merge_patch(
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "apps",
        "ks",
        &body,
        false,
    )
    .unwrap();
}

/// Waits (on the store's changes) until the Kustomization has handled `token`; returns its Ready condition.
async fn handled(sb: &Sandbox, token: &str) -> Value {
    let mut changes = sb.api().store.subscribe();
    tokio::time::timeout(STEP, async {
        loop {
            if let Some(ks) = get(sb, "kustomize.toolkit.fluxcd.io", "kustomizations", "ks") {
                let ready = ks["status"]["conditions"]
                    .as_array()
                    .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                    .cloned();
                let settled = ready.as_ref().is_some_and(|r| r["status"] != "Unknown");
                if ks["status"]["lastHandledReconcileAt"] == token && settled {
                    return ready.unwrap();
                }
            }
            let _ = changes.recv().await;
        }
    })
    .await
    .expect("the reconcile finished")
}

fn condition<'a>(obj: &'a Value, t: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t && c["status"] == "True")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_fails_twice_then_succeeds() {
    let sb = start(scenario(
        ks_spec(json!({})),
        json!([job("migrate", json!({"backoffLimit": 3}))]),
        json!([{"namespace": "apps", "name": "migrate", "runSeconds": 5, "outcomes": ["fail", "fail", "succeed"], "log": "migrating\n"}]),
        json!([]),
    ))
    .await;
    request(&sb, "t1");
    let ready = handled(&sb, "t1").await;
    assert_eq!(ready["reason"], "ReconciliationSucceeded", "{ready}");
    let j = get(&sb, "batch", "jobs", "migrate").unwrap();
    assert_eq!(
        (
            j["status"]["failed"].as_i64(),
            j["status"]["succeeded"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert!(condition(&j, "SuccessCriteriaMet").is_some() && condition(&j, "Complete").is_some());
    let pods = sb.api().registry.find("", "v1", "pods").unwrap();
    let (all, _) = sb.api().store.list(pods, Some("apps"));
    assert_eq!(all.len(), 3, "one pod per attempt");
    assert!(
        all.iter()
            .all(|p| p.name().starts_with("migrate-") && p.name().len() == "migrate-".len() + 5)
    );
    assert!(
        all.iter()
            .all(|p| p.value["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "migrate")
    );
    let ks = get(&sb, "kustomize.toolkit.fluxcd.io", "kustomizations", "ks").unwrap();
    assert_eq!(
        ks["status"]["inventory"]["entries"],
        json!([{"id": "apps_migrate_batch_Job", "v": "v1"}])
    );
    assert_eq!(
        ks["status"]["lastAppliedRevision"],
        "main@sha1:1111111111111111111111111111111111111111"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backoff_limit_and_deadline_fail_the_health_check_early() {
    let sb = start(scenario(
        ks_spec(json!({})),
        json!([job("slow", json!({"activeDeadlineSeconds": 30}))]),
        json!([{"namespace": "apps", "name": "slow", "runSeconds": 120}]),
        json!([]),
    ))
    .await;
    request(&sb, "t1");
    let ready = handled(&sb, "t1").await;
    assert_eq!(ready["reason"], "HealthCheckFailed");
    let msg = ready["message"].as_str().unwrap();
    assert!(
        msg.starts_with("health check failed after ")
            && msg.ends_with(
                "failed early due to stalled resources: [Job/apps/slow status: 'Failed']"
            ),
        "{msg}"
    );
    let j = get(&sb, "batch", "jobs", "slow").unwrap();
    assert_eq!(
        condition(&j, "Failed").unwrap()["reason"],
        "DeadlineExceeded"
    );
    let ks = get(&sb, "kustomize.toolkit.fluxcd.io", "kustomizations", "ks").unwrap();
    let reconciling = ks["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Reconciling")
        .unwrap()
        .clone();
    assert_eq!(reconciling["reason"], "ProgressingWithRetry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_time_out() {
    let sb = start(scenario(
        ks_spec(json!({"timeout": "1m0s"})),
        json!([job("long", json!({}))]),
        json!([{"namespace": "apps", "name": "long", "runSeconds": 600}]),
        json!([]),
    ))
    .await;
    request(&sb, "t1");
    let ready = handled(&sb, "t1").await;
    let msg = ready["message"].as_str().unwrap();
    // The elapsed time, as Go prints it: 1m0s, or 1m0.6s when the timer fired late.
    assert!(msg.starts_with("health check failed after 1m"), "{msg}");
    assert!(
        msg.ends_with("s: timeout waiting for: [Job/apps/long status: 'InProgress']"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_deletes_finished_jobs_and_prune_removes_what_left_the_source() {
    let sb = start(scenario(
        ks_spec(json!({})),
        json!([job("once", json!({"ttlSecondsAfterFinished": 10}))]),
        json!([{"namespace": "apps", "name": "once", "runSeconds": 2}]),
        // The inventory still lists a Job the source no longer has.
        json!([{"id": "apps_old-job_batch_Job", "v": "v1"}]),
    ))
    .await;
    let jobs = sb.api().registry.find("batch", "v1", "jobs").unwrap();
    sb.api()
        .load(json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "old-job", "namespace": "apps"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Never"}}},
            "status": {"conditions": [{"type": "Complete", "status": "True"}]}}))
        .unwrap();
    request(&sb, "t1");
    assert_eq!(
        handled(&sb, "t1").await["reason"],
        "ReconciliationSucceeded"
    );
    assert!(
        sb.api().store.get(jobs, "apps", "old-job").is_none(),
        "pruned"
    );
    // The TTL controller deletes the finished Job 10 simulated seconds later.
    let mut changes = sb.api().store.subscribe();
    tokio::time::timeout(STEP, async {
        while sb.api().store.get(jobs, "apps", "once").is_some() {
            let _ = tokio::time::timeout(Duration::from_millis(200), changes.recv()).await;
        }
    })
    .await
    .expect("the TTL deleted the Job");
}
