//! End-to-end tests of the release binary against real Kubernetes and real
//! Flux: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok
//! nodes, source-controller and kustomize-controller, built from the Go module
//! proxy and run on loopback by `tests/realcluster/up` (see the README). The
//! sandbox is the fast test bed; this suite is its judge.
//!
//! Every test is `#[ignore]`d so that `cargo test` stays quick and needs no Go;
//! `.ci/run` starts the stack and runs them with `cargo test --test real -- --ignored`.

mod release;
mod stack;

use serde_json::Value;
use stack::{App, BIN, Migration, Run, run, stack};

fn report(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not a report ({e}): {stdout}"))
}

fn states(report: &Value) -> Vec<(String, String, String)> {
    report["chains"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["stages"].as_array().into_iter().flatten())
        .map(|s| {
            let text = |k: &str| s[k].as_str().unwrap_or_default().to_string();
            (text("name"), text("role"), text("state"))
        })
        .collect()
}

fn triple(name: &str, role: &str, state: &str) -> (String, String, String) {
    (name.into(), role.into(), state.into())
}

#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn status_shows_a_healthy_chain_in_every_format() {
    let app = App::new("healthy", Migration::Succeeds, "1m");
    app.ready();
    let table = app.jobgate(&["status"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table
            .stdout
            .starts_with(&format!("CHAIN {}/app-pre-deploy  ✔ UpToDate\n", app.ns)),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("└─ job/db-migration"),
        "{}",
        table.stdout
    );
    let json = app.jobgate(&["status", "-o", "json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let r = report(&json.stdout);
    assert_eq!(
        states(&r),
        [
            triple("app-pre-deploy", "pre", "upToDate"),
            triple("app-deploy", "deploy", "upToDate"),
            triple("app-post-deploy", "post", "upToDate"),
        ]
    );
    // The Job comes from the real inventory, with the real uid.
    let job = &r["chains"][0]["stages"][0]["jobs"][0];
    assert_eq!(job["uid"].as_str(), Some(app.uid("db-migration").as_str()));
    assert_eq!(job["phase"], "succeeded");
    // What real Flux applied without complaint, doctor and lint find nothing
    // wrong with (the dependency poll's cost is information).
    for (what, checked) in [
        ("doctor", app.jobgate(&["doctor", "-o", "json"])),
        ("lint", app.lint(&["-o", "json"])),
    ] {
        assert_eq!(
            checked.code, 0,
            "{what}: {}{}",
            checked.stdout, checked.stderr
        );
        let findings = report(&checked.stdout)["findings"].clone();
        let codes: Vec<&str> = findings
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["code"].as_str())
            .collect();
        assert_eq!(codes, ["JG014"], "{what}: {findings:#}");
    }
    // -A shows this chain among the others.
    let all = run(BIN, &stack().admin, &["status", "-A", "-o", "json"], None);
    assert!(
        all.stdout
            .contains(&format!("\"namespace\": \"{}\"", app.ns)),
        "{}",
        all.stderr
    );
}

#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn a_failed_migration_fails_wait_and_status_with_the_real_log() {
    let app = App::new("failing", Migration::Fails, "1m");
    // wait fails fast on the real Job failure, naming it, with its real log tail.
    let r = app.jobgate(&["wait", "app-post-deploy", "--timeout", "180s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "✗ {}/app-pre-deploy: Job {}/db-migration failed: BackoffLimitExceeded",
            app.ns, app.ns
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("│ ERROR: column \"email\" of relation \"users\" already exists"),
        "{}",
        r.stderr
    );
    // status shows the failure and its log whatever Flux has concluded yet.
    let s = app.jobgate(&["status"]);
    assert_eq!(s.code, 1, "{}", s.stderr);
    assert!(
        s.stdout
            .contains("│ ERROR: column \"email\" of relation \"users\" already exists"),
        "{}",
        s.stdout
    );
    // logs: this Job's pods (by uid), a header per attempt, the real log.
    let logs = app.jobgate(&["logs", "app-pre-deploy", "--all-pods"]);
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    let headers: Vec<&str> = logs
        .stdout
        .lines()
        .filter(|l| l.starts_with("==> "))
        .collect();
    assert!(!headers.is_empty(), "{}", logs.stdout);
    assert!(
        headers.iter().all(|h| h.starts_with(&format!(
            "==> Job {}/db-migration, pod db-migration-",
            app.ns
        )) && h.ends_with("): Failed, exit code 1 (Error) <==")),
        "{headers:?}"
    );
    assert!(
        headers[0].contains(&format!("(attempt {n} of {n})", n = headers.len())),
        "the newest first: {headers:?}"
    );
    assert!(
        logs.stdout
            .contains("ERROR: column \"email\" of relation \"users\" already exists"),
        "{}",
        logs.stdout
    );
    // events: the real job controller's and Flux's Events, from events.k8s.io/v1.
    let events = app.jobgate(&["events", "app-pre-deploy", "-o", "json"]);
    assert_eq!(events.code, 0, "{}", events.stderr);
    let ev = report(&events.stdout);
    assert_eq!(ev["api"], "events.k8s.io/v1");
    let seen: Vec<(String, String)> = ev["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["object"]["kind"].as_str().unwrap_or("").to_string(),
                e["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (kind, reason) in [
        ("Job", "SuccessfulCreate"),
        ("Kustomization", "Progressing"),
    ] {
        assert!(
            seen.contains(&(kind.to_string(), reason.to_string())),
            "{kind} {reason} in {seen:?}"
        );
    }
    assert!(
        seen.iter().any(|(k, _)| k == "Pod"),
        "the pods' Events (the scheduler's): {seen:?}"
    );
    // Once Flux concludes: HealthCheckFailed, and the dependents blocked by it.
    let ks = app.kubectl(&[
        "wait",
        "--for=jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=HealthCheckFailed",
        "kustomization/app-pre-deploy",
        "--timeout=120s",
    ]);
    assert!(ks.contains("condition met"), "{ks}");
    app.kubectl(&[
        "wait",
        "--for=jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=DependencyNotReady",
        "kustomization/app-deploy",
        "--timeout=120s",
    ]);
    let json = app.jobgate(&["status", "-o", "json"]);
    assert_eq!(json.code, 1, "{}", json.stderr);
    let r = report(&json.stdout);
    assert_eq!(
        states(&r)[..2],
        [
            triple("app-pre-deploy", "pre", "failed"),
            triple("app-deploy", "deploy", "blocked"),
        ]
    );
    assert_eq!(
        r["chains"][0]["stages"][1]["blockedBy"]["job"].as_str(),
        Some(format!("{}/db-migration", app.ns).as_str())
    );
    // A blocked stage is not re-run: Flux would not re-create its Jobs.
    let rerun = app.jobgate(&["rerun", "app-deploy", "--yes"]);
    assert_eq!(rerun.code, 2, "{}", rerun.stderr);
    assert!(
        rerun
            .stderr
            .contains(&format!("is blocked by {}/app-pre-deploy (Failed", app.ns)),
        "{}",
        rerun.stderr
    );
}

/// Roles before the first apply: a chain whose first reconcile failed has no
/// inventory at all, and every stage was shown as `deploy`.
#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn roles_are_inferred_before_the_first_apply() {
    // The guide's manifests as written: no targetNamespace, no namespace on the Job.
    let app = App::with("noapply", Migration::Succeeds, "1m", false);
    app.kubectl(&[
        "wait",
        "--for=jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=ReconciliationFailed",
        "kustomization/app-pre-deploy",
        "--timeout=120s",
    ]);
    let ks = app.get("kustomization/app-pre-deploy");
    let message = ks["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("Job/db-migration namespace not specified"),
        "{message}"
    );
    // lint catches before the push what real Flux refused; doctor names it after.
    let lint = app.lint(&[]);
    assert_eq!(lint.code, 1, "{}{}", lint.stdout, lint.stderr);
    assert!(
        lint.stdout.contains(&format!(
            "error[JG016] namespace-not-specified: Job db-migration has no namespace and {}/app-pre-deploy sets no targetNamespace",
            app.ns
        )),
        "{}",
        lint.stdout
    );
    let doctor = app.jobgate(&["doctor"]);
    assert_eq!(doctor.code, 1, "{}{}", doctor.stdout, doctor.stderr);
    assert!(
        doctor.stdout.contains(
            "error[JG016] namespace-not-specified: Job/db-migration namespace not specified"
        ),
        "{}",
        doctor.stdout
    );
    let json = app.jobgate(&["status", "-o", "json"]);
    let r = report(&json.stdout);
    let roles: Vec<(String, bool)> = r["chains"][0]["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["role"].as_str().unwrap_or_default().to_string(),
                s["roleGuessed"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("pre".to_string(), true),
            ("deploy".to_string(), true),
            ("post".to_string(), true)
        ],
        "{}",
        json.stdout
    );
}

#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn rerun_replaces_only_the_stages_own_job_through_real_flux() {
    let app = App::new("rerun", Migration::Succeeds, "1m");
    app.ready();
    let (pre, post) = (app.uid("db-migration"), app.uid("cache-refresh"));
    let old_pods = app.kubectl(&[
        "get",
        "pods",
        "-l",
        "batch.kubernetes.io/job-name=db-migration",
        "-o",
        "name",
    ]);
    assert!(!old_pods.trim().is_empty());
    // events -w beside the rerun: the new run's Events arrive from the watch.
    let events = app.jobgate_meanwhile(&[
        "events",
        "app-pre-deploy",
        "-w",
        "-o",
        "json",
        "-v",
        "--timeout",
        "45s",
    ]);
    events.until(
        &format!("jobgate: watching events in namespace {}", app.ns),
        std::time::Duration::from_secs(60),
    );
    let r = app.jobgate(&["rerun", "app-pre-deploy", "--yes", "--timeout", "180s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let new = app.uid("db-migration");
    assert!(!new.is_empty() && new != pre, "a new run of the migration");
    assert_eq!(
        app.uid("cache-refresh"),
        post,
        "the post stage's Job untouched"
    );
    let watched = events.join();
    assert_eq!(
        watched.code, 3,
        "ended by its --timeout: {}",
        watched.stderr
    );
    let created: std::collections::BTreeSet<String> = watched
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["reason"] == "SuccessfulCreate")
        .filter_map(|e| e["message"].as_str().map(String::from))
        .collect();
    assert!(
        created.len() >= 2,
        "the first run's pod, then the rerun's, from the watch: {created:?}\n{}",
        watched.stdout
    );
    // Background propagation: the real garbage collector removed the old pods.
    let now = app.kubectl(&[
        "get",
        "pods",
        "-l",
        "batch.kubernetes.io/job-name=db-migration",
        "-o",
        "name",
    ]);
    for pod in old_pods.lines() {
        let mut gone = !now.contains(pod);
        for _ in 0..100 {
            if gone {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            let r = run(
                "kubectl",
                &stack().admin,
                &[
                    "-n",
                    &app.ns,
                    "get",
                    pod.trim(),
                    "--ignore-not-found",
                    "-o",
                    "name",
                ],
                None,
            );
            gone = r.stdout.trim().is_empty();
        }
        assert!(gone, "{pod} of the old run is gone");
    }
    let status = app.jobgate(&["status", "-o", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
}

#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn a_job_labelled_as_another_stages_is_never_deleted() {
    let app = App::new("owner", Migration::Succeeds, "1m");
    app.ready();
    // A Job outside every inventory, that looks like the stage's.
    app.apply(&format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: unrelated, namespace: {}}}\nspec:\n  suspend: true\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: c, image: x}}]\n",
        app.ns
    ));
    let unrelated = app.uid("unrelated");
    let dry = app.jobgate(&["rerun", "app-pre-deploy", "--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.contains("db-migration") && !dry.stdout.contains("unrelated"));
    let r = app.jobgate(&["rerun", "app-pre-deploy", "--yes", "--timeout", "180s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(app.uid("unrelated"), unrelated);
}

#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn reconcile_with_source_and_wait_for_revision_follow_a_real_push() {
    let mut app = App::new("push", Migration::Succeeds, "1m");
    app.ready();
    let (pre, post) = (app.uid("db-migration"), app.uid("cache-refresh"));
    let sha = app.push("v2.0.0", Migration::Succeeds);
    let r = app.jobgate(&[
        "reconcile",
        "app-pre-deploy",
        "--with-source",
        "--downstream",
        "--timeout",
        "180s",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // force: true re-created both Jobs for the new image.
    assert_ne!(app.uid("db-migration"), pre);
    assert_ne!(app.uid("cache-refresh"), post);
    let image =
        app.get("job/db-migration")["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(image, "ghcr.io/org/my-app:v2.0.0");
    for target in [
        format!("revision=main@sha1:{sha}"),
        format!("revision={sha}"),
    ] {
        let w = app.jobgate(&[
            "wait",
            "app-post-deploy",
            "--for",
            &target,
            "--timeout",
            "60s",
        ]);
        assert_eq!(w.code, 0, "{target}: {}", w.stderr);
    }
}

/// `wait --nudge` after a push: jobgate asks each dependent to reconcile as
/// soon as its dependency is ready on the revision, and real Flux handles
/// those requests rather than its dependency poll (the time this saves is
/// measured by `tests/bench/real`, not here).
#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn wait_nudge_asks_each_dependent_once_its_dependency_is_ready() {
    let mut app = App::new("nudge", Migration::Succeeds, "1m");
    app.ready();
    let sha = app.push("v5.0.0", Migration::Succeeds);
    let r = app.jobgate(&[
        "wait",
        "app-post-deploy",
        "--for",
        &format!("revision={sha}"),
        "--nudge",
        "--progress",
        "text",
        "--timeout",
        "180s",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (stage, dependency) in [
        ("app-deploy", "app-pre-deploy"),
        ("app-post-deploy", "app-deploy"),
    ] {
        let nudged = format!(
            "► {}/{stage}: dependencies ready, reconcile requested (no dependency poll)",
            app.ns
        );
        let ready = format!(
            "✔ {}/{dependency}: ready at main@sha1:{}",
            app.ns,
            &sha[..8]
        );
        let (at_ready, at_nudge) = (r.stderr.find(&ready), r.stderr.find(&nudged));
        assert!(
            matches!((at_ready, at_nudge), (Some(a), Some(b)) if a < b),
            "{stage} is nudged once {dependency} is ready:\n{}",
            r.stderr
        );
        let ks = app.get(&format!("kustomization/{stage}"));
        let requested = &ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"];
        assert!(requested.is_string(), "{stage} carries jobgate's request");
        assert_eq!(
            &ks["status"]["lastHandledReconcileAt"], requested,
            "Flux handled jobgate's request to {stage}"
        );
        assert_eq!(
            ks["status"]["lastAppliedRevision"],
            format!("main@sha1:{sha}")
        );
    }
}

/// After a failed migration the user pushes the fix and gates on it: the old
/// run's failed Job stands until Flux re-creates it while applying the fix.
#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn a_fix_forward_push_passes_the_gate() {
    let mut app = App::new("fixforward", Migration::Fails, "10s");
    let failed = app.jobgate(&["wait", "app-post-deploy", "--timeout", "180s"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    let sha = app.push("v1.0.1", Migration::Succeeds);
    let r = app.jobgate(&[
        "wait",
        "app-post-deploy",
        "--for",
        &format!("revision={sha}"),
        "--timeout",
        "180s",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn the_view_role_reads_and_waits_but_cannot_rerun() {
    let app = App::new("rbac", Migration::Succeeds, "1m");
    app.ready();
    let roles = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rbac.yaml"))
        .expect("examples/rbac.yaml");
    app.apply(&roles);
    app.kubectl(&[
        "create",
        "rolebinding",
        "reader-view",
        "--clusterrole=kubectl-jobgate-view",
        "--user=reader",
    ]);
    let reader = &stack().reader;
    let status = app.jobgate_once_bound(reader, &["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let wait = app.jobgate_as(reader, &["wait", "app-post-deploy", "--timeout", "60s"]);
    assert_eq!(wait.code, 0, "{}", wait.stderr);
    let before = app.uid("db-migration");
    let rerun = app.jobgate_as(reader, &["rerun", "app-pre-deploy", "--yes"]);
    assert_eq!(rerun.code, 2, "{}", rerun.stderr);
    assert!(
        rerun
            .stderr
            .contains("User \"reader\" cannot delete resource \"jobs\" in API group \"batch\""),
        "{}",
        rerun.stderr
    );
    assert_eq!(app.uid("db-migration"), before, "nothing deleted");
    // The full role of examples/rbac.yaml can.
    app.kubectl(&[
        "create",
        "rolebinding",
        "reader-full",
        "--clusterrole=kubectl-jobgate",
        "--user=reader",
    ]);
    let full = app.jobgate_once_bound(
        reader,
        &["rerun", "app-pre-deploy", "--yes", "--timeout", "180s"],
    );
    assert_eq!(full.code, 0, "{}", full.stderr);
    assert_ne!(app.uid("db-migration"), before, "a new run");
}

#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn a_kustomization_deleted_mid_wait_fails_the_wait() {
    let mut app = App::new("deleted", Migration::Succeeds, "1m");
    app.ready();
    let sha = app.push("v3.0.0", Migration::Succeeds);
    let target = format!("revision={sha}");
    let waiter = app.jobgate_meanwhile(&[
        "wait",
        "app-post-deploy",
        "--for",
        &target,
        "--timeout",
        "120s",
        "-v",
    ]);
    // Deleted once the wait watches the stage, not before it first listed it.
    waiter.until(WATCHING, std::time::Duration::from_secs(60));
    app.kubectl(&["delete", "kustomization/app-post-deploy", "--wait=false"]);
    let r = waiter.join();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
}

/// kube-apiserver writes a custom-resource list's `continue` after its items:
/// past one page of 5,000 (`--chunk-size 5000`) every Kustomization and Job
/// must still be read; and by default, in one list each.
#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn every_page_of_kustomizations_and_jobs_is_read() {
    let app = App::heavy("pages");
    const N: usize = 5_100;
    app.load(N);
    for (args, pages) in [(&["--chunk-size", "5000"][..], 2), (&[][..], 1)] {
        let r = app.jobgate(&[&["status", "-o", "json", "-v"][..], args].concat());
        let report = report(&r.stdout);
        let stages = states(&report).len();
        assert!(
            stages >= N + 3,
            "{args:?}: {stages} stages of {} Kustomizations",
            N + 3
        );
        assert!(
            r.stderr.contains(&format!(
                "listed kustomizations in namespace {} ({} items, {pages} page(s))",
                app.ns,
                N + 3
            )),
            "{args:?}: {}",
            r.stderr
        );
        assert!(
            r.stderr
                .contains(&format!("listed jobs in namespace {} (", app.ns))
                && r.stderr.contains(&format!("items, {pages} page(s))")),
            "{args:?}: {}",
            r.stderr
        );
    }
}

/// What `-v` says once a watch has listed and started (the line's start).
const WATCHING: &str = "jobgate: watching kustomizations in namespace ";

/// Pushes a new image to a chain of its own, starts `wait --for revision=SHA
/// --nudge` (with `extra` arguments), runs the stack's `steps` under it, and
/// checks that the wait passed, and only once every stage is on the push.
fn wait_through(name: &str, tag: &str, steps: &[&str], extra: &[&str]) -> Run {
    let mut app = App::heavy(name);
    app.ready();
    let sha = app.push(tag, Migration::Succeeds);
    let target = format!("revision={sha}");
    let mut args = vec![
        "wait",
        "app-post-deploy",
        "--for",
        &target,
        "--nudge",
        "--timeout",
        "180s",
    ];
    args.push("-v");
    args.extend(extra);
    let waiter = app.jobgate_meanwhile(&args);
    // The steps run once the wait watches: a restart or compaction before its
    // first list would test nothing (and failed the compaction test 1 run in 5).
    waiter.until(WATCHING, std::time::Duration::from_secs(60));
    // A write the waiter does not watch moves etcd past every revision its
    // watches hold, so a compaction now expires each of them (without it, a
    // watch whose revision is the compacted one resumes without a 410).
    app.kubectl(&["create", "configmap", "past-the-watches"]);
    let stack_script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/realcluster/stack");
    for step in steps {
        let r = run(stack_script, &stack().admin, &[step], None);
        assert_eq!(r.code, 0, "{step}: {}", r.stderr);
    }
    // Now Flux may fetch the push (the waiter's --nudge asks it to once it can).
    let r = waiter.join();
    assert_eq!(r.code, 0, "{}", r.stderr);
    for stage in ["app-pre-deploy", "app-deploy", "app-post-deploy"] {
        let applied = app.get(&format!("kustomization/{stage}"))["status"]["lastAppliedRevision"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            applied,
            format!("main@sha1:{sha}"),
            "{stage} is on the revision it passed for"
        );
    }
    r
}

/// The apiserver dies mid-`wait` (as a crash or an upgrade would) and comes
/// back: the wait resumes its watches and passes only once the chain is on
/// the revision, never on what it saw before.
#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn wait_survives_an_apiserver_restart_without_a_false_pass() {
    wait_through("restart", "v4.0.0", &["restart-apiserver"], &[]);
}

/// etcd compacts its history while `wait` watches, and the apiserver comes
/// back with a watch cache that starts after it: a watch resumed from a
/// revision before the compaction gets 410 Gone (one resumed from the
/// compacted revision itself does not: measured here, hence the write before
/// the compaction in `wait_through`). jobgate lists again (said with -v) and
/// still passes only on the revision.
#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn a_watch_expired_by_etcd_compaction_lists_again_without_a_false_pass() {
    let r = wait_through(
        "compacted",
        "v5.0.0",
        &["compact-etcd", "restart-apiserver"],
        &[],
    );
    // Every watch listed once at the start; an expired one lists again.
    let lists = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("jobgate: watching ") && l.contains(" (listed "))
        .count();
    assert!(lists > 3, "an expired watch was listed again: {}", r.stderr);
}

/// `logs -f` against the real Job controller: it follows the first attempt,
/// waits through the controller's back-off for the retry, follows that one,
/// and ends when the Job does.
#[test]
#[ignore = "needs the real stack (tests/realcluster/up); .ci/run runs it"]
fn logs_follow_a_failed_attempt_and_its_retry() {
    let app = App::new("follow", Migration::FailsTwice, "1m");
    let created = app.kubectl(&["wait", "--for=create", "job/db-migration", "--timeout=120s"]);
    assert!(created.contains("condition met"), "{created}");
    // Flux writes the inventory after it applied the Job: under load, a few
    // seconds after the Job exists (logs read the Jobs from it).
    let listed = app.kubectl(&[
        "wait",
        "--for=jsonpath={.status.inventory.entries[0].id}",
        "kustomization/app-pre-deploy",
        "--timeout=120s",
    ]);
    assert!(listed.contains("condition met"), "{listed}");
    // The retry comes 10 s after the first pod fails: -f starts well before it.
    let r = app.jobgate(&["logs", "app-pre-deploy", "-f", "--timeout", "180s"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let headers: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with("==> ")).collect();
    assert_eq!(headers.len(), 2, "{}", r.stdout);
    assert!(headers[0].contains("(attempt 1 of 1)"), "{headers:?}");
    assert!(
        headers[1].contains("(attempt 2 of 2)"),
        "the retry, under its own header: {headers:?}"
    );
    assert_eq!(
        r.stdout
            .matches("ERROR: column \"email\" of relation \"users\" already exists")
            .count(),
        2,
        "both attempts' logs: {}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains(&format!("Job {}/db-migration failed", app.ns)),
        "{}",
        r.stderr
    );
}
