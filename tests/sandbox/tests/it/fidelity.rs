//! The real stack judges the sandbox: what the sandbox's controllers write must
//! have the shape of what real kube-apiserver and Flux wrote for the same
//! situation (`tests/fixtures/real/`, recorded on `tests/realcluster`):
//! condition types, statuses, reasons and message forms, status fields,
//! inventory ids, Job conditions, and the layout of lists.

use std::collections::BTreeSet;
use std::time::Duration;

use jobgate_sandbox::{Options, Sandbox, Scenario};
use serde_json::{Value, json};

use crate::STEP;

const HEALTHY: &str = include_str!("../../../fixtures/real/healthy.yaml");
const FAILED_JOB: &str = include_str!("../../../fixtures/real/failed-job.yaml");
const FAILED_APPLY: &str = include_str!("../../../fixtures/real/failed-apply.yaml");
const RERUN: &str = include_str!("../../../fixtures/real/rerun-in-progress.yaml");
const LIST_LAYOUT: &str = include_str!("../../../fixtures/real/list-layout.txt");

/// Status fields the sandbox does not model (listed so that a new one shows up).
const NOT_MODELLED: &[&str] = &[
    "history",                 // Flux 2.7's reconcile history
    "ready",                   // Job: pods ready now
    "terminating",             // Job: pods terminating now
    "uncountedTerminatedPods", // Job: the controller's finalizer bookkeeping
];

/// A message with what varies between runs replaced: the namespace,
/// revisions, durations.
fn form(message: &str, ns: &str) -> String {
    let mut out = message.replace(&format!("{ns}/"), "<ns>/");
    while let Some(at) = out.find("@sha1:") {
        let start = at + "@sha1:".len();
        let end = out[start..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(out.len(), |e| start + e);
        out.replace_range(at..end, "@<sha>");
    }
    // A Go duration: digits, dots and units (h, m, s, ms, µs), after a space.
    let words: Vec<String> = out
        .split(' ')
        .map(|w| {
            let bare = w.trim_end_matches(':');
            let go = !bare.is_empty()
                && bare.starts_with(|c: char| c.is_ascii_digit())
                && bare.ends_with('s')
                && bare
                    .chars()
                    .all(|c| c.is_ascii_digit() || ".hmsµ".contains(c));
            if go {
                w.replacen(bare, "<duration>", 1)
            } else {
                w.to_string()
            }
        })
        .collect();
    words.join(" ")
}

/// The comparable shape of an object's status.
fn shape(object: &Value) -> BTreeSet<String> {
    let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let status = &object["status"];
    let mut shape = BTreeSet::new();
    for key in status.as_object().into_iter().flat_map(|m| m.keys()) {
        if !NOT_MODELLED.contains(&key.as_str()) {
            shape.insert(format!("field {key}"));
        }
    }
    for c in status["conditions"].as_array().into_iter().flatten() {
        let text = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        shape.insert(format!(
            "condition {} {} {}: {}",
            text("type"),
            text("status"),
            text("reason"),
            form(&text("message"), ns)
        ));
    }
    for e in status["inventory"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let id = e["id"].as_str().unwrap_or_default();
        shape.insert(format!(
            "inventory {} {}",
            id.replacen(&format!("{ns}_"), "<ns>_", 1),
            e["v"].as_str().unwrap_or_default()
        ));
    }
    shape
}

/// The lines of an object's shape that start with `prefix`.
fn conditions(object: &Value, prefix: &str) -> Vec<String> {
    shape(object)
        .into_iter()
        .filter(|s| s.starts_with(prefix))
        .collect()
}

fn recorded(yaml: &str) -> Vec<Value> {
    let json = &yaml[yaml.find('{').expect("a recorded list")..];
    let list: Value = serde_json::from_str(json).expect("recorded JSON");
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The recorded object of that kind and name.
fn real<'a>(items: &'a [Value], kind: &str, name: &str) -> &'a Value {
    items
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no recorded {kind} {name}"))
}

async fn live(scenario: &str) -> Sandbox {
    Sandbox::start_with(
        Scenario::builtin(scenario).unwrap(),
        Options {
            speed: 100.0,
            ..Options::default()
        },
    )
    .await
    .unwrap()
}

/// Asks the sandbox's kustomize-controller to reconcile `name` and waits until
/// it has handled the request and `done` holds.
async fn reconciled(sb: &Sandbox, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let token = format!("fidelity-{name}");
    sb.merge_patch(
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "apps",
        name,
        &json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}}),
        false,
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let ks = sb
            .object(
                "kustomize.toolkit.fluxcd.io",
                "kustomizations",
                "apps",
                name,
            )
            .unwrap();
        if ks["status"]["lastHandledReconcileAt"] == token.as_str() && done(&ks) {
            return ks;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} was not reconciled: {}",
            ks["status"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ready_reason(ks: &Value) -> &str {
    ks["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_default()
}

/// The shape of what the sandbox wrote equals the recorded one, but for what
/// depends on the scenario rather than the controller: the inventory of a
/// stage without Jobs (the sandbox serves no Services or Ingresses), and a
/// `lastAppliedRevision` kept from an earlier success (the failed scenario had
/// one; the recorded chain never succeeded).
fn same(what: &str, sandbox: &Value, recorded: &Value) {
    let scenario_bound = |s: &String| {
        (s.starts_with("inventory ") && !s.contains("_batch_Job"))
            || s == "field lastHandledReconcileAt"
            || s == "field lastAppliedRevision"
    };
    let ours: BTreeSet<String> = shape(sandbox)
        .into_iter()
        .filter(|s| !scenario_bound(s))
        .collect();
    let theirs: BTreeSet<String> = shape(recorded)
        .into_iter()
        .filter(|s| !scenario_bound(s))
        .collect();
    assert_eq!(
        ours.iter().collect::<Vec<_>>(),
        theirs.iter().collect::<Vec<_>>(),
        "{what}: the sandbox (left) and real Flux (right) differ"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_chain_has_the_shape_real_flux_gives_it() {
    let sb = live("canonical").await;
    let items = recorded(HEALTHY);
    for name in ["app-pre-deploy", "app-deploy", "app-post-deploy"] {
        let ks = reconciled(&sb, name, |ks| {
            ready_reason(ks) == "ReconciliationSucceeded"
        })
        .await;
        same(name, &ks, real(&items, "Kustomization", name));
    }
    for job in ["db-migration", "cache-refresh"] {
        let ours = sb.object("batch", "jobs", "apps", job).unwrap();
        assert_eq!(
            conditions(&ours, "condition"),
            conditions(real(&items, "Job", job), "condition"),
            "Job {job}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_has_the_shape_real_flux_gives_it() {
    let sb = live("failed").await;
    let items = recorded(FAILED_JOB);
    let pre = reconciled(&sb, "app-pre-deploy", |ks| {
        ready_reason(ks) == "HealthCheckFailed"
    })
    .await;
    same(
        "app-pre-deploy",
        &pre,
        real(&items, "Kustomization", "app-pre-deploy"),
    );
    let job = sb.object("batch", "jobs", "apps", "db-migration").unwrap();
    assert_eq!(
        conditions(&job, "condition"),
        conditions(real(&items, "Job", "db-migration"), "condition")
    );
    // Their Ready (a Healthy from an earlier success stays, stale, on real Flux too).
    for name in ["app-deploy", "app-post-deploy"] {
        let ks = reconciled(&sb, name, |ks| ready_reason(ks) == "DependencyNotReady").await;
        assert_eq!(
            conditions(&ks, "condition Ready"),
            conditions(real(&items, "Kustomization", name), "condition Ready"),
            "{name}"
        );
    }
}

/// `rerun app-pre-deploy` caught mid-way: the stage's Job deleted, the
/// reconcile requested, the new Job running and the stage in its health check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_in_progress_has_the_shape_real_flux_gives_it() {
    // Slow enough (a pod runs 2 s) that the poll below cannot miss the window.
    let sb = Sandbox::start_with(
        Scenario::builtin("canonical").unwrap(),
        Options {
            speed: 10.0,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let old =
        sb.object("batch", "jobs", "apps", "db-migration").unwrap()["metadata"]["uid"].clone();
    sb.delete("batch", "jobs", "apps", "db-migration").unwrap();
    sb.merge_patch(
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "apps",
        "app-pre-deploy",
        &json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "fidelity-rerun"}}}),
        false,
    )
    .unwrap();
    let in_health_check = |ks: &Value| {
        ks["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Healthy" && c["status"] == "Unknown")
    };
    let deadline = tokio::time::Instant::now() + STEP;
    let (pre, job) = loop {
        let pre = sb
            .object(
                "kustomize.toolkit.fluxcd.io",
                "kustomizations",
                "apps",
                "app-pre-deploy",
            )
            .unwrap();
        let job = sb.object("batch", "jobs", "apps", "db-migration");
        if let Some(job) = job
            && job["metadata"]["uid"] != old
            && job["status"]["active"] == 1
            && in_health_check(&pre)
        {
            break (pre, job);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rerun never reached its health check: {}",
            pre["status"]
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let items = recorded(RERUN);
    same(
        "app-pre-deploy",
        &pre,
        real(&items, "Kustomization", "app-pre-deploy"),
    );
    assert_eq!(
        shape(&job).into_iter().collect::<Vec<_>>(),
        shape(real(&items, "Job", "db-migration"))
            .into_iter()
            .collect::<Vec<_>>(),
        "the re-created Job: the sandbox (left) and real Kubernetes (right) differ"
    );
}

/// Real Flux does not default a namespace: the guide's Job without one fails
/// to apply, and the sandbox applied it happily.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_without_a_namespace_fails_to_apply_as_on_real_flux() {
    let text = include_str!("../../scenarios/canonical.yaml");
    let without = text.replacen(
        "metadata: {name: db-migration, namespace: apps}",
        "metadata: {name: db-migration}",
        1,
    );
    assert_ne!(
        text, without,
        "the canonical repository names the Job's namespace"
    );
    let scenario = Scenario::from_yaml(&without).unwrap();
    let sb = Sandbox::start_with(
        scenario,
        Options {
            speed: 100.0,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let pre = reconciled(&sb, "app-pre-deploy", |ks| {
        ready_reason(ks) == "ReconciliationFailed"
    })
    .await;
    let items = recorded(FAILED_APPLY);
    let theirs = conditions(
        real(&items, "Kustomization", "app-pre-deploy"),
        "condition Ready",
    );
    assert_eq!(conditions(&pre, "condition Ready"), theirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_laid_out_as_real_kube_apiserver_writes_them() {
    let h = crate::start("canonical").await;
    for line in LIST_LAYOUT.lines().filter(|l| !l.starts_with('#')) {
        let (resource, prefix) = line.split_once(' ').expect("resource prefix");
        let path = match resource {
            "kustomizations" => {
                "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations"
            }
            "jobs" => "/apis/batch/v1/namespaces/apps/jobs",
            other => panic!("no path for {other}"),
        };
        let body = h.call("GET", path, None, Vec::new(), &[]).await.text();
        assert!(
            body.starts_with(prefix),
            "{resource}: {}",
            &body[..60.min(body.len())]
        );
    }
}
