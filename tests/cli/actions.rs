//! `reconcile`, `rerun` and `wait` against the sandbox with its simulated Flux
//! controllers, time sped up. Elapsed time is asserted in simulated seconds
//! (the sandbox's clock), never in wall-clock luck.

use std::time::{Duration, Instant};

use jobgate_sandbox::{Fault, Options, Sandbox, Scenario};
use serde_json::{Value, json};

use super::{BIN, STEP, command, interrupted, jobgate, run};

pub(crate) async fn live(name: &str, speed: f64) -> Sandbox {
    Sandbox::start_with(
        Scenario::builtin(name).unwrap(),
        Options {
            speed,
            ..Options::default()
        },
    )
    .await
    .unwrap()
}

pub(crate) fn ks(sb: &Sandbox, name: &str) -> Value {
    sb.object(
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "apps",
        name,
    )
    .unwrap()
}

pub(crate) fn job(sb: &Sandbox, name: &str) -> Option<Value> {
    sb.object("batch", "jobs", "apps", name)
}

pub(crate) fn patch(
    sb: &Sandbox,
    group: &str,
    plural: &str,
    name: &str,
    body: Value,
    status: bool,
) {
    sb.merge_patch(group, plural, "apps", name, &body, status)
        .unwrap();
}

/// Merge-patches a Kustomization of `apps` (its status with `status`).
pub(crate) fn patch_ks(sb: &Sandbox, name: &str, body: Value, status: bool) {
    patch(
        sb,
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        name,
        body,
        status,
    );
}

pub(crate) fn deletes(sb: &Sandbox) -> Vec<String> {
    sb.requests()
        .into_iter()
        .filter(|r| r.verb == "delete")
        .map(|r| format!("{} {}/{}", r.resource, r.namespace, r.name))
        .collect()
}

pub(crate) fn report(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not a report ({e}): {stdout}"))
}

pub(crate) fn states(report: &Value) -> Vec<String> {
    report["chains"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_rolls_a_new_revision_through_the_chain() {
    let sb = live("canonical", 100.0).await;
    let old_uid = job(&sb, "db-migration").unwrap()["metadata"]["uid"].clone();
    let revision = sb
        .push("apps", "my-app", "ghcr.io/org/my-app:v1.1.0")
        .unwrap();
    let r = jobgate(
        &sb,
        "roll",
        &[
            "reconcile",
            "app-pre-deploy",
            "--with-source",
            "--downstream",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rep = report(&r.stdout);
    assert_eq!(states(&rep), ["upToDate", "upToDate", "upToDate"]);
    for stage in rep["chains"][0]["stages"].as_array().unwrap() {
        assert_eq!(stage["revision"], revision.as_str());
    }
    let new = job(&sb, "db-migration").unwrap();
    assert_ne!(
        new["metadata"]["uid"], old_uid,
        "force recreated the Job for its new image"
    );
    assert_eq!(
        new["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/org/my-app:v1.1.0"
    );
    assert!(
        r.stderr
            .contains("► GitRepository/apps/my-app: reconcile requested"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("✔ apps/app-post-deploy: ready at"),
        "{}",
        r.stderr
    );
    // The request is written as field manager jobgate, never kubectl-*.
    let managers: Vec<String> = ks(&sb, "app-pre-deploy")["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap().to_string())
        .collect();
    assert!(managers.contains(&"jobgate".to_string()), "{managers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_refuses_a_suspended_stage_and_can_just_request() {
    let sb = live("canonical", 100.0).await;
    patch(
        &sb,
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "app-deploy",
        json!({"spec": {"suspend": true}}),
        false,
    );
    let r = jobgate(&sb, "suspended", &["reconcile", "app-deploy"]).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(
            "error: apps/app-deploy is suspended: Flux ignores reconcile requests while it is."
        ),
        "{}",
        r.stderr
    );

    let r = jobgate(
        &sb,
        "suspended",
        &["reconcile", "app-pre-deploy", "--no-wait"],
    )
    .await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    assert!(
        ks(&sb, "app-pre-deploy")["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"]
            .is_string()
    );
    let unknown = jobgate(&sb, "suspended", &["reconcile", "app-deplyo"]).await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("did you mean \"app-deploy\""),
        "{}",
        unknown.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_of_a_failing_stage_fails_fast() {
    let sb = live("failed", 20.0).await;
    let started = sb.now();
    let r = jobgate(&sb, "failfast", &["reconcile", "app-pre-deploy"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("✗ apps/app-pre-deploy: Job apps/db-migration failed: BackoffLimitExceeded"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("│ ERROR: relation \"users_v2\" does not exist"),
        "the log tail: {}",
        r.stderr
    );
    let took = sb.now().duration_since(started).as_secs();
    assert!(
        took < 60,
        "failed after {took}s of simulated time; flux would wait for the 5m timeout"
    );
    // It failed on Flux's answer to the request, not on the Job failed before it.
    let stage = ks(&sb, "app-pre-deploy");
    let requested = &stage["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"];
    assert!(requested.is_string(), "{stage}");
    assert_eq!(
        &stage["status"]["lastHandledReconcileAt"], requested,
        "ended before Flux handled the request: {}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_stage_fails_fast_naming_the_upstream_culprit() {
    let sb = live("failed", 100.0).await;
    let r = jobgate(&sb, "culprit", &["reconcile", "app-deploy"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        // The cause first, then its words (the order read backwards before).
        r.stderr.contains("✗ apps/app-deploy: blocked by apps/app-pre-deploy, whose Job apps/db-migration failed: BackoffLimitExceeded: Job has reached the specified backoff limit"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immutable_job_change_without_force_fails_like_flux() {
    let sb = live("canonical", 100.0).await;
    patch(
        &sb,
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "app-pre-deploy",
        json!({"spec": {"force": false}}),
        false,
    );
    sb.push("apps", "my-app", "ghcr.io/org/my-app:v2.0.0")
        .unwrap();
    let mark = sb.resource_version();
    let r = jobgate(
        &sb,
        "immutable",
        &["reconcile", "app-pre-deploy", "--with-source"],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The controller retries at once at this speed and flips Ready back to
    // "Reconciliation in progress": assert on the failure it recorded, from the
    // object's history, not on whatever state it is in by now.
    let failed = sb
        .versions_since(
            mark,
            "kustomize.toolkit.fluxcd.io",
            "kustomizations",
            "apps",
            "app-pre-deploy",
        )
        .unwrap()
        .into_iter()
        .filter_map(|ks| {
            ks["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Ready" && c["reason"] == "ReconciliationFailed")
                .cloned()
        })
        .next()
        .expect("Flux recorded the failed apply");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.starts_with("Job/apps/db-migration dry-run failed (Invalid): Job.batch \"db-migration\" is invalid: spec.template: Invalid value: core.PodTemplateSpec{"),
        "{message}"
    );
    assert!(message.ends_with("field is immutable"), "{message}");
    assert!(r.stderr.contains("✗ apps/app-pre-deploy: ReconciliationFailed: Job/apps/db-migration dry-run failed (Invalid)"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_replaces_only_the_inventory_job_and_follows_it() {
    let sb = live("canonical", 100.0).await;
    // A Job outside the inventory, that must never be touched.
    let jobs = sb.api().registry.find("batch", "v1", "jobs").unwrap();
    sb.api()
        .create(jobs, Some("apps"), json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "unrelated"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Never"}}}}), &Default::default())
        .unwrap();
    let old = job(&sb, "db-migration").unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    sb.clear_requests();

    let dry = jobgate(&sb, "rerun", &["rerun", "app-pre-deploy", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.starts_with(&format!(
            "job.batch/db-migration in apps (uid {old}, Succeeded) would be deleted\n"
        )),
        "{}",
        dry.stdout
    );
    assert!(deletes(&sb).is_empty(), "--dry-run deletes nothing");
    // -o json was ignored: the plan printed as text.
    let plan = jobgate(
        &sb,
        "rerun",
        &["rerun", "app-pre-deploy", "--dry-run", "-o", "json"],
    )
    .await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let plan: Value = serde_json::from_str(&plan.stdout).expect("the plan as JSON");
    assert_eq!(
        plan,
        json!({"apiVersion": "jobgate.dev/v1", "kind": "RerunPlan", "stage": "apps/app-pre-deploy",
            "jobs": [{"namespace": "apps", "name": "db-migration", "uid": old, "phase": "succeeded", "action": "delete"}]})
    );
    assert!(deletes(&sb).is_empty(), "--dry-run deletes nothing");

    let r = jobgate(
        &sb,
        "rerun",
        &["rerun", "app-pre-deploy", "--yes", "-o", "json"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let new = job(&sb, "db-migration").unwrap();
    assert_ne!(new["metadata"]["uid"].as_str().unwrap(), old);
    assert_eq!(new["status"]["succeeded"], 1);
    assert_eq!(
        deletes(&sb),
        ["jobs apps/db-migration"],
        "only the inventory's Job"
    );
    assert!(job(&sb, "unrelated").is_some());
    assert_eq!(
        states(&report(&r.stdout)),
        ["upToDate", "upToDate", "upToDate"]
    );
    assert!(r.stderr.starts_with(&format!("✔ deleted job.batch/db-migration in apps (uid {old})\n► apps/app-pre-deploy: reconcile requested\n")), "{}", r.stderr);

    let bad = jobgate(
        &sb,
        "rerun",
        &["rerun", "app-pre-deploy", "--job", "nope", "--yes"],
    )
    .await;
    assert_eq!(bad.code, 2);
    assert_eq!(
        bad.stderr.trim(),
        "error: Job \"nope\" is not in the inventory of apps/app-pre-deploy; its Jobs are: db-migration"
    );
    let none = jobgate(&sb, "rerun", &["rerun", "app-deploy", "--yes"]).await;
    assert_eq!(
        (none.code, none.stderr.trim()),
        (
            2,
            "error: apps/app-deploy has no Jobs in its inventory: nothing to re-run"
        )
    );
}

/// A blocked stage is one Flux will not reconcile: rerun deleted its Job and
/// only then failed with "blocked by …", leaving the Job (and its logs) gone
/// until the upstream healed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_refuses_a_blocked_stage_before_deleting() {
    let sb = live("failed", 20.0).await;
    let uid = job(&sb, "cache-refresh").unwrap()["metadata"]["uid"].clone();
    sb.clear_requests();
    let r = jobgate(&sb, "blocked", &["rerun", "app-post-deploy", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        "error: apps/app-post-deploy is blocked by apps/app-pre-deploy (Failed: Job apps/db-migration: BackoffLimitExceeded): Flux will not reconcile it, so its Jobs would be deleted and not re-created until that is healthy. Fix the upstream stage first, or pass --force to delete them anyway; nothing was deleted"
    );
    assert!(deletes(&sb).is_empty(), "nothing deleted");
    assert_eq!(job(&sb, "cache-refresh").unwrap()["metadata"]["uid"], uid);
    let dry = jobgate(&sb, "blocked", &["rerun", "app-post-deploy", "--dry-run"]).await;
    assert_eq!(dry.code, 2, "--dry-run says so too: {}", dry.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_refuses_a_running_job_unless_forced() {
    let sb = live("canonical", 100.0).await;
    patch(
        &sb,
        "batch",
        "jobs",
        "db-migration",
        json!({"status": {"conditions": null, "active": 1, "completionTime": null}}),
        true,
    );
    let r = jobgate(
        &sb,
        "running",
        &["rerun", "app-pre-deploy", "--job", "db-migration", "--yes"],
    )
    .await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(
            "error: Job apps/db-migration is still running (1 active): wait for it, or pass --force"
        ),
        "{}",
        r.stderr
    );
    assert!(deletes(&sb).is_empty());
    let forced = jobgate(
        &sb,
        "running",
        &["rerun", "app-pre-deploy", "--force", "--yes", "--no-wait"],
    )
    .await;
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(deletes(&sb), ["jobs apps/db-migration"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_is_recovered_by_rerun_after_the_fix() {
    let sb = live("failed", 100.0).await;
    sb.fix_job("apps", "db-migration").unwrap();
    let r = jobgate(
        &sb,
        "recover",
        &[
            "rerun",
            "app-pre-deploy",
            "--downstream",
            "--yes",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        states(&report(&r.stdout)),
        ["upToDate", "upToDate", "upToDate"]
    );
    // The narration's actions and outcomes (► ✔ ✗) are deterministic; the ◎ lines
    // in between depend on which intermediate states the watch happens to see.
    let milestones: Vec<&str> = r.stderr.lines().filter(|l| !l.starts_with('◎')).collect();
    insta::assert_snapshot!(milestones.join("\n"));
}

/// After a failed migration the user pushes the fix and waits for it. Flux
/// records the attempt at the fix before it re-creates the Job, so for a moment
/// the old revision's failed Job stands beside the new attempted revision: that
/// failure is not the fix's, and must not fail the gate (it did, on real Flux).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_forward_push_passes_the_gate_over_the_old_failed_job() {
    let sb = live("failed", 20.0).await;
    sb.fix_job("apps", "db-migration").unwrap();
    let fix = sb
        .push("apps", "my-app", "ghcr.io/org/my-app:v2.0.1")
        .unwrap();
    let sha = fix.rsplit_once(':').unwrap().1.to_string();
    let r = jobgate(
        &sb,
        "fixforward",
        &[
            "wait",
            "app-post-deploy",
            "--for",
            &format!("revision={fix}"),
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "main@sha1:5a7c3e1f failed (Job apps/db-migration: BackoffLimitExceeded); Flux has not applied main@sha1:{} yet",
            &sha[..8]
        )),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_exit_codes() {
    let healthy = live("canonical", 100.0).await;
    let ok = jobgate(&healthy, "wait", &["wait", "app-deploy"]).await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stdout
            .starts_with("CHAIN apps/app-pre-deploy  ✔ UpToDate"),
        "{}",
        ok.stdout
    );
    let usage = jobgate(&healthy, "wait", &["wait"]).await;
    assert_eq!(
        (usage.code, usage.stderr.trim()),
        (
            2,
            "error: name the Kustomizations whose chains to wait for, or pass --all"
        )
    );
    let never = jobgate(
        &healthy,
        "wait",
        &[
            "wait",
            "--all",
            "--for",
            "revision=main@sha1:00000000",
            "--timeout",
            "1s",
        ],
    )
    .await;
    assert_eq!(never.code, 3, "{}", never.stderr);
    assert!(
        never
            .stderr
            .contains("ready at main@sha1:9f1e2d3c, waiting for main@sha1:00000000"),
        "{}",
        never.stderr
    );

    let failed = live("failed", 100.0).await;
    let r = jobgate(&failed, "wait", &["wait", "app-post-deploy"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("✗ apps/app-pre-deploy: Job apps/db-migration failed: BackoffLimitExceeded"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_fails_within_a_second_of_the_job_failing() {
    let sb = live("failed", 1000.0).await;
    // Re-run the broken migration by hand (as Flux would after a deletion), then wait.
    let res = sb.api().registry.find("batch", "v1", "jobs").unwrap();
    let uid = job(&sb, "db-migration").unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let child = command(BIN, sb.kubeconfig(), "fastfail", &["wait", "app-deploy"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut changes = sb.api().store.subscribe();
    sb.api()
        .delete(
            res,
            "apps",
            "db-migration",
            &jobgate_sandbox::apiserver::DeleteOptions {
                uid: Some(uid),
                propagation: Some(jobgate_sandbox::apiserver::Propagation::Background),
                ..Default::default()
            },
        )
        .unwrap();
    patch(
        &sb,
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "app-pre-deploy",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "by-test"}}}),
        false,
    );
    // The instant the new Job is marked Failed.
    let failed_at = tokio::time::timeout(STEP, async {
        loop {
            let c = changes.recv().await.unwrap();
            let v = &c.object.value;
            if v["kind"] == "Job"
                && v["status"]["conditions"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Failed"))
            {
                return Instant::now();
            }
        }
    })
    .await
    .expect("the new run fails");
    let out = tokio::time::timeout(STEP, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let exited = Instant::now();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        exited.duration_since(failed_at) < Duration::from_secs(1),
        "exited {:?} after the failure",
        exited.duration_since(failed_at)
    );
}

/// Starts a rollout the way a Git push does: a new commit, fetched by source-controller.
pub(crate) fn push_and_fetch(sb: &Sandbox) -> String {
    let revision = sb
        .push("apps", "my-app", "ghcr.io/org/my-app:v1.1.0")
        .unwrap();
    patch(
        sb,
        "source.toolkit.fluxcd.io",
        "gitrepositories",
        "my-app",
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "push"}}}),
        false,
    );
    revision
}

/// [`push_and_fetch`], returning once the source has the commit: a gate for a
/// healthy chain started earlier would see the old revision everywhere, and
/// pass on it.
pub(crate) fn push_and_await_fetch(sb: &Sandbox) -> String {
    let revision = push_and_fetch(sb);
    let fetched = || {
        sb.object(
            "source.toolkit.fluxcd.io",
            "gitrepositories",
            "apps",
            "my-app",
        )
        .is_some_and(|s| s["status"]["artifact"]["revision"].as_str() == Some(&revision))
    };
    let deadline = std::time::Instant::now() + super::STEP;
    while !fetched() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sandbox's source-controller did not fetch {revision}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nudge_removes_the_dependency_poll() {
    let mut elapsed = vec![];
    for nudge in [false, true] {
        // Slow enough that the plugin's own latency (process start, watches) costs
        // little simulated time: 100 ms real is 2 s simulated.
        let sb = live("canonical", 20.0).await;
        let start = sb.now();
        let revision = push_and_fetch(&sb);
        let mut args = vec!["wait", "app-post-deploy", "--for"];
        let target = format!("revision={revision}");
        args.push(&target);
        if nudge {
            args.push("--nudge");
        }
        let r = jobgate(&sb, "nudge", &args).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        elapsed.push(sb.now().duration_since(start).as_secs());
    }
    let (polled, nudged) = (elapsed[0], elapsed[1]);
    // Without nudging, each dependent waits for its 30 s dependency poll: two
    // polls put post-deploy past 60 s. With it, the ~40 s of work alone.
    assert!(polled >= 60, "without --nudge: {polled}s (simulated)");
    assert!(
        nudged < 55 && nudged + 15 <= polled,
        "with --nudge: {nudged}s, without: {polled}s (simulated)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_survives_cut_watches_and_410() {
    let sb = live("canonical", 100.0).await;
    sb.add_fault(Fault::CutWatch {
        path: "*".into(),
        after_events: Some(3),
        after_seconds: None,
        count: Some(6),
    });
    let revision = push_and_fetch(&sb);
    let child = command(
        BIN,
        sb.kubeconfig(),
        "cut",
        &[
            "wait",
            "app-post-deploy",
            "--nudge",
            "--for",
            &format!("revision={revision}"),
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    // Expire the history mid-wait, so resuming watches meet 410 Gone and re-list.
    tokio::time::sleep(Duration::from_millis(100)).await;
    sb.add_fault(Fault::Gone);
    let out = tokio::time::timeout(STEP, child.wait_with_output())
        .await
        .expect("wait finished")
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_alone_drives_a_rollout() {
    let sb = live("canonical", 100.0).await;
    let revision = sb
        .push("apps", "my-app", "ghcr.io/org/my-app:v1.1.0")
        .unwrap();
    let kubectl = |args: &[&str]| run(command("kubectl", sb.kubeconfig(), "kubectl-rollout", args));
    let r = kubectl(&[
        "annotate",
        "gitrepository",
        "my-app",
        "--overwrite",
        "reconcile.fluxcd.io/requestedAt=now",
    ])
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Flux wakes the chain on the new artifact; each stage waits for the one before.
    let deadline = Instant::now() + STEP;
    loop {
        let r = kubectl(&[
            "get",
            "ks",
            "app-post-deploy",
            "-o",
            "jsonpath={.status.lastAppliedRevision}",
        ])
        .await;
        if r.stdout == revision {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rollout did not reach post-deploy"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let jobs = kubectl(&["get", "jobs", "-o", "jsonpath={range .items[*]}{.metadata.name}={.spec.template.spec.containers[0].image} {end}"]).await;
    // The commit retagged the app's image everywhere: both Jobs were recreated (force) with it.
    assert_eq!(
        jobs.stdout.trim(),
        "cache-refresh=ghcr.io/org/my-app:v1.1.0 db-migration=ghcr.io/org/my-app:v1.1.0"
    );
    let events = kubectl(&[
        "get",
        "events",
        "-o",
        "jsonpath={range .items[*]}{.reason}/{.source.component} {end}",
    ])
    .await;
    for expected in [
        "NewArtifact/source-controller",
        "ReconciliationSucceeded/kustomize-controller",
        "SuccessfulCreate/job-controller",
        "Completed/job-controller",
    ] {
        assert!(
            events.stdout.contains(expected),
            "{expected} in {}",
            events.stdout
        );
    }
    let ready = kubectl(&["get", "ks", "-o", "jsonpath={range .items[*]}{.metadata.name}:{.status.conditions[?(@.type==\"Ready\")].reason} {end}"]).await;
    assert_eq!(
        ready.stdout.trim(),
        "app-deploy:ReconciliationSucceeded app-post-deploy:ReconciliationSucceeded app-pre-deploy:ReconciliationSucceeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_stopped_after_deleting_says_how_to_recover() {
    let sb = live("canonical", 100.0).await;
    // The Job can be deleted, but the reconcile request is forbidden.
    sb.add_fault(Fault::Deny {
        verb: "patch".into(),
        group: "kustomize.toolkit.fluxcd.io".into(),
        resource: "kustomizations".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    let r = jobgate(&sb, "partial", &["rerun", "app-pre-deploy", "--yes"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    let (error, recovery) = (lines[lines.len() - 2], lines[lines.len() - 1]);
    assert!(error.starts_with("error: cannot request the reconcile: forbidden: kustomizations.kustomize.toolkit.fluxcd.io \"app-pre-deploy\" is forbidden"), "{error}");
    assert_eq!(
        recovery,
        "stopped after deleting job.batch/db-migration in apps before requesting a reconcile: Flux recreates them only at its next reconcile of apps/app-pre-deploy; recover now with `kubectl jobgate reconcile app-pre-deploy -n apps`"
    );
    // And that command does recover.
    sb.clear_faults();
    let recovered = jobgate(&sb, "partial", &["reconcile", "app-pre-deploy"]).await;
    assert_eq!(recovered.code, 0, "{}", recovered.stderr);
    assert!(job(&sb, "db-migration").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_asks_on_a_terminal() {
    let sb = live("canonical", 100.0).await;
    // `script` gives the command a terminal; the answer comes through it.
    let mut cmd = command(
        "script",
        sb.kubeconfig(),
        "tty",
        &[
            "-q",
            "-e",
            "-c",
            &format!("{BIN} rerun app-pre-deploy"),
            "/dev/null",
        ],
    );
    cmd.stdin(std::process::Stdio::piped());
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"n\n").await.unwrap();
    let out = tokio::time::timeout(STEP, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("Delete job.batch/db-migration (Succeeded) in apps and run again? [y/N]"),
        "{text}"
    );
    assert!(
        text.contains("error: not confirmed: nothing was deleted"),
        "{text}"
    );
    assert!(deletes(&sb).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rerun_says_how_to_recover() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    // Slow enough that the new run is still going when Ctrl-C comes.
    let sb = live("canonical", 5.0).await;
    let mut child = command(
        BIN,
        sb.kubeconfig(),
        "interrupt",
        &["rerun", "app-pre-deploy", "-n", "apps", "--yes"],
    )
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    tokio::time::timeout(STEP, async {
        let mut line = String::new();
        while stderr.read_line(&mut line).await.unwrap() > 0 {
            seen.push_str(&line);
            if line.starts_with("► apps/app-pre-deploy: reconcile requested") {
                return;
            }
            line.clear();
        }
    })
    .await
    .expect("the rerun got as far as the reconcile request");
    let code = interrupted(&mut child).await;
    stderr.read_to_string(&mut seen).await.unwrap();
    assert_eq!(code, Some(130), "{seen}");
    assert!(
        seen.ends_with("stopped after deleting job.batch/db-migration in apps and requesting a reconcile of apps/app-pre-deploy: Flux recreates them when it handles the request; follow that (or ask again) with `kubectl jobgate reconcile app-pre-deploy -n apps`\n"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_of_a_job_already_gone_recreates_it() {
    let sb = live("canonical", 100.0).await;
    let old = job(&sb, "db-migration").unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    // Gone as after ttlSecondsAfterFinished: still in the inventory, not in the cluster.
    let jobs = sb.api().registry.find("batch", "v1", "jobs").unwrap();
    let background = jobgate_sandbox::apiserver::DeleteOptions {
        propagation: Some(jobgate_sandbox::apiserver::Propagation::Background),
        ..Default::default()
    };
    sb.api()
        .delete(jobs, "apps", "db-migration", &background)
        .unwrap();
    sb.clear_requests();

    let dry = jobgate(&sb, "gone", &["rerun", "app-pre-deploy", "--dry-run"]).await;
    assert_eq!(
        dry.stdout,
        "job.batch/db-migration in apps is gone already (TTL, or deleted): nothing to delete\n\
         then kustomization apps/app-pre-deploy would be asked to reconcile, so that Flux recreates them\n"
    );
    let r = jobgate(&sb, "gone", &["rerun", "app-pre-deploy", "--yes"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("◎ job.batch/db-migration in apps is gone already (TTL, or deleted): the reconcile recreates it\n"),
        "{}",
        r.stderr
    );
    assert!(deletes(&sb).is_empty(), "nothing to delete");
    let new = job(&sb, "db-migration").unwrap();
    assert_ne!(new["metadata"]["uid"].as_str().unwrap(), old);
    assert_eq!(new["status"]["succeeded"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_whose_delete_fails_deletes_nothing_and_says_so() {
    let sb = live("canonical", 100.0).await;
    let uid = job(&sb, "db-migration").unwrap()["metadata"]["uid"].clone();
    // Another client replaced the Job between the read and the delete: the
    // uid precondition answers 409, and the new Job is left alone.
    sb.add_fault(Fault::Fail {
        path: "/apis/batch/v1/namespaces/apps/jobs/db-migration".into(),
        method: Some("DELETE".into()),
        count: 1,
        status: 409,
        retry_after: None,
    });
    let r = jobgate(&sb, "delete-fails", &["rerun", "app-pre-deploy", "--yes"]).await;
    // A refusal: nothing was done (gate::a_job_replaced_before_the_delete_is_a_refusal_exit_2).
    assert_eq!(r.code, 2, "{}", r.stderr);
    // A delete that is forbidden says so, and nothing is asked of Flux.
    sb.add_fault(Fault::Deny {
        verb: "delete".into(),
        group: "batch".into(),
        resource: "jobs".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    let r = jobgate(&sb, "delete-fails", &["rerun", "app-pre-deploy", "--yes"]).await;
    // Forbidden is exit 2 (a permission to ask for), as the real authorizer showed.
    assert_eq!(r.code, 2, "{}", r.stderr);
    let last = r.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: cannot delete Job apps/db-migration: forbidden: ")
            && last.ends_with("; nothing was deleted"),
        "{last}"
    );
    assert_eq!(job(&sb, "db-migration").unwrap()["metadata"]["uid"], uid);
    assert!(
        !sb.requests().iter().any(|r| r.verb == "patch"),
        "no reconcile was requested: {:?}",
        sb.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_source_kind_and_an_empty_wait_are_said() {
    let sb = live("canonical", 100.0).await;
    patch(
        &sb,
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "app-deploy",
        json!({"spec": {"sourceRef": {"kind": "ExternalArtifact", "name": "my-app"}}}),
        false,
    );
    let r = jobgate(
        &sb,
        "unknown-source",
        &["reconcile", "app-deploy", "--with-source", "--no-wait"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().collect::<Vec<_>>(),
        [
            "◎ source kind ExternalArtifact is not one jobgate can reconcile; reconciling apps/app-deploy only",
            "► apps/app-deploy: reconcile requested",
        ]
    );

    let r = jobgate(
        &sb,
        "empty-wait",
        &["wait", "--all", "-n", "nowhere", "--allow-empty"],
    )
    .await;
    assert_eq!(
        (r.code, r.stderr.trim(), r.stdout.as_str()),
        (
            0,
            "No Flux Kustomizations to wait for in namespace nowhere.",
            ""
        )
    );
}
