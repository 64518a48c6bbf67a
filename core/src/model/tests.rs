//! The model from real YAML (the fixtures the sandbox scenarios are built
//! from) and from hand-written awkward graphs.

use serde_json::{Value, json};

use super::*;
use crate::report::{JobPhase, Role, StageState};

const CANONICAL: &str = include_str!("../../../tests/sandbox/scenarios/canonical.yaml");
const FAILED: &str = include_str!("../../../tests/sandbox/scenarios/failed.yaml");
const IN_PROGRESS: &str = include_str!("../../../tests/fixtures/chain-pre-deploy-in-progress.yaml");

fn all() -> Selection {
    Selection::default()
}

fn states(report: &crate::report::ChainReport) -> Vec<Vec<(String, Role, StageState)>> {
    report
        .chains
        .iter()
        .map(|c| {
            c.stages
                .iter()
                .map(|s| (s.name.to_string(), s.role, s.state))
                .collect()
        })
        .collect()
}

#[test]
fn canonical_chain_is_healthy_in_order_with_roles() {
    let report = analyze(&snapshot_from_yaml(CANONICAL).unwrap(), &all());
    assert_eq!(
        states(&report),
        vec![vec![
            ("app-pre-deploy".into(), Role::Pre, StageState::UpToDate),
            ("app-deploy".into(), Role::Deploy, StageState::UpToDate),
            ("app-post-deploy".into(), Role::Post, StageState::UpToDate),
        ]]
    );
    let chain = &report.chains[0];
    assert_eq!(chain.name, "apps/app-pre-deploy");
    assert_eq!(chain.state, StageState::UpToDate);
    assert!(!report.unhealthy());
    let job = &chain.stages[0].jobs[0];
    assert_eq!(
        (job.name.as_str(), job.phase, job.succeeded),
        ("db-migration", JobPhase::Succeeded, 1)
    );
    assert_eq!(chain.stages[0].up_to_date, Some(true));
}

#[test]
fn failed_migration_blocks_the_chain_and_is_named_as_root_cause() {
    let report = analyze(&snapshot_from_yaml(FAILED).unwrap(), &all());
    let chain = &report.chains[0];
    assert_eq!(chain.state, StageState::Failed);
    assert!(report.unhealthy());
    let [pre, deploy, post] = &chain.stages[..] else {
        panic!("three stages")
    };
    assert_eq!(
        (pre.state, pre.reason.as_deref()),
        (StageState::Failed, Some("HealthCheckFailed"))
    );
    assert_eq!(pre.jobs[0].phase, JobPhase::Failed);
    assert_eq!(pre.jobs[0].reason.as_deref(), Some("BackoffLimitExceeded"));
    assert_eq!(
        pre.up_to_date,
        Some(false),
        "the source moved to 5a7c while 9f1e stays applied"
    );
    for blocked in [deploy, post] {
        assert_eq!(blocked.state, StageState::Blocked);
        let cause = blocked.blocked_by.as_ref().expect("a root cause");
        assert_eq!(cause.stage, "apps/app-pre-deploy");
        assert_eq!(cause.job.as_deref(), Some("apps/db-migration"));
        assert_eq!(cause.reason.as_deref(), Some("BackoffLimitExceeded"));
    }
}

#[test]
fn a_stage_waiting_for_its_job_is_progressing() {
    let mut snap = snapshot_from_yaml(IN_PROGRESS).unwrap();
    snap.add_jobs([serde_json::from_value(json!({"metadata": {"name": "db-migration", "namespace": "apps"}, "status": {"startTime": "2026-08-21T06:02:13Z", "active": 1}})).unwrap()]);
    let report = analyze(&snap, &all());
    let stage = &report.chains[0].stages[0];
    assert_eq!(stage.state, StageState::Progressing);
    assert_eq!(stage.jobs[0].phase, JobPhase::Running);
}

/// A Kustomization for graph tests: `deps` as `ns/name` or `name`, `jobs` as names in its namespace.
fn ks(ns: &str, name: &str, deps: &[&str], jobs: &[&str], ready: Value) -> Value {
    let depends_on: Vec<Value> = deps
        .iter()
        .map(|d| match d.split_once('/') {
            Some((n, x)) => json!({"name": x, "namespace": n}),
            None => json!({"name": d}),
        })
        .collect();
    let entries: Vec<Value> = jobs
        .iter()
        .map(|j| json!({"id": format!("{ns}_{j}_batch_Job"), "v": "v1"}))
        .collect();
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": ns, "generation": 1},
        "spec": {"dependsOn": depends_on, "sourceRef": {"kind": "GitRepository", "name": "src"}},
        "status": {"observedGeneration": 1, "conditions": [ready], "inventory": {"entries": entries}, "lastAppliedRevision": "main@sha1:aaaa"},
    })
}

fn ok() -> Value {
    json!({"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "observedGeneration": 1})
}

fn not_ready(dep: &str) -> Value {
    json!({"type": "Ready", "status": "False", "reason": "DependencyNotReady", "message": format!("dependency '{dep}' is not ready"), "observedGeneration": 1})
}

fn snapshot(objects: Vec<Value>) -> Snapshot {
    let mut snap = Snapshot::default();
    for o in objects {
        match o["kind"].as_str() {
            Some("Job") => snap.add_jobs([serde_json::from_value(o).unwrap()]),
            _ => snap.add_kustomizations([serde_json::from_value(o).unwrap()]),
        }
    }
    snap
}

fn done_job(ns: &str, name: &str) -> Value {
    json!({"kind": "Job", "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}")}, "status": {"startTime": "t", "succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}})
}

#[test]
fn diamond_dependencies_order_and_roles() {
    let snap = snapshot(vec![
        ks("a", "migrate", &[], &["m"], ok()),
        ks("a", "api", &["migrate"], &[], ok()),
        ks("a", "web", &["migrate"], &[], ok()),
        ks("a", "smoke", &["api", "web"], &["s"], ok()),
        done_job("a", "m"),
        done_job("a", "s"),
    ]);
    let report = analyze(&snap, &all());
    assert_eq!(report.chains.len(), 1);
    let order: Vec<(&str, Role)> = report.chains[0]
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s.role))
        .collect();
    assert_eq!(
        order,
        [
            ("migrate", Role::Pre),
            ("api", Role::Deploy),
            ("web", Role::Deploy),
            ("smoke", Role::Post)
        ]
    );
}

#[test]
fn a_stage_depending_on_two_chains_joins_them() {
    let snap = snapshot(vec![
        ks("a", "one", &[], &[], ok()),
        ks("a", "two", &[], &[], ok()),
        ks("a", "both", &["one", "two"], &[], ok()),
        ks("a", "alone", &[], &[], ok()),
    ]);
    let report = analyze(&snap, &all());
    let names: Vec<Vec<&str>> = report
        .chains
        .iter()
        .map(|c| c.stages.iter().map(|s| s.name.as_str()).collect())
        .collect();
    assert_eq!(names, vec![vec!["alone"], vec!["one", "two", "both"]]);
}

#[test]
fn cross_namespace_dependencies_and_selection_by_namespace() {
    let snap = snapshot(vec![
        ks("infra", "db", &[], &["init"], ok()),
        ks("apps", "app", &["infra/db"], &[], not_ready("infra/db")),
        ks("other", "lonely", &[], &[], ok()),
        done_job("infra", "init"),
    ]);
    let report = analyze(
        &snap,
        &Selection {
            namespaces: Some(vec!["apps".into()]),
            names: vec![],
        },
    );
    assert_eq!(
        report.chains.len(),
        1,
        "the chain touching apps, with its infra stage"
    );
    let keys: Vec<String> = report.chains[0]
        .stages
        .iter()
        .map(|s| s.key().to_string())
        .collect();
    assert_eq!(keys, ["infra/db", "apps/app"]);
    assert_eq!(report.chains[0].stages[0].role, Role::Pre);
    // The dependency is ready now: Flux has not re-checked yet; no upstream culprit to name.
    assert_eq!(report.chains[0].stages[1].state, StageState::Blocked);
    assert_eq!(report.chains[0].stages[1].blocked_by, None);
}

#[test]
fn cycles_are_reported_not_looped() {
    let snap = snapshot(vec![
        ks("a", "x", &["y"], &[], not_ready("a/y")),
        ks("a", "y", &["x"], &[], not_ready("a/x")),
        ks("a", "z", &["x"], &[], not_ready("a/x")),
    ]);
    let report = analyze(&snap, &all());
    let chain = &report.chains[0];
    assert_eq!(chain.cycle, ["a/x", "a/y"]);
    let order: Vec<&str> = chain.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        order,
        ["x", "y", "z"],
        "the stage downstream of the cycle follows it"
    );
    for stage in &chain.stages {
        let cause = stage.blocked_by.as_ref().expect("blocked by the cycle");
        assert_eq!(
            cause.reason.as_deref(),
            Some("DependencyCycle"),
            "{}",
            stage.name
        );
    }
}

#[test]
fn missing_dependencies_are_shown_as_the_root_cause() {
    let snap = snapshot(vec![ks(
        "a",
        "app",
        &["ghost"],
        &[],
        json!({"type": "Ready", "status": "False", "reason": "DependencyNotReady", "message": "dependency 'a/ghost' not found: Kustomization.kustomize.toolkit.fluxcd.io \"ghost\" not found", "observedGeneration": 1}),
    )]);
    let report = analyze(&snap, &all());
    let stages = &report.chains[0].stages;
    assert_eq!(
        (stages[0].name.as_str(), stages[0].state),
        ("ghost", StageState::Missing)
    );
    let cause = stages[1].blocked_by.as_ref().unwrap();
    assert_eq!(
        (cause.stage.as_str(), cause.state),
        ("a/ghost", StageState::Missing)
    );
}

#[test]
fn jobs_in_the_inventory_but_not_in_the_cluster_are_gone_or_unknown() {
    let mut snap = snapshot(vec![
        ks("a", "pre", &[], &["vanished"], ok()),
        ks("b", "pre2", &[], &["hidden"], ok()),
    ]);
    snap.unreadable_job_namespaces = vec!["b".into()];
    let report = analyze(&snap, &all());
    let phases: Vec<JobPhase> = report
        .chains
        .iter()
        .map(|c| c.stages[0].jobs[0].phase)
        .collect();
    assert_eq!(phases, [JobPhase::Gone, JobPhase::Unknown]);
}

#[test]
fn selection_by_name_keeps_whole_chains() {
    let snap = snapshot_from_yaml(CANONICAL).unwrap();
    let report = analyze(
        &snap,
        &Selection {
            namespaces: None,
            names: vec![Key::new("apps", "app-deploy")],
        },
    );
    assert_eq!(report.chains[0].stages.len(), 3);
    let none = analyze(
        &snap,
        &Selection {
            namespaces: None,
            names: vec![Key::new("apps", "nope")],
        },
    );
    assert!(none.chains.is_empty());
}

fn state_of(status: Value, generation: i64, source: Option<&str>, suspend: bool) -> StageState {
    let ks: Kustomization = serde_json::from_value(json!({"metadata": {"generation": generation}, "spec": {"suspend": suspend}, "status": status})).unwrap();
    stage_state(&ks, source)
}

#[test]
fn stage_states_mirror_the_controller_predicates() {
    let ready = |og: i64| json!({"observedGeneration": og, "lastAppliedRevision": "r1", "conditions": [{"type": "Ready", "status": "True", "observedGeneration": og}]});
    assert_eq!(
        state_of(ready(2), 2, Some("r1"), false),
        StageState::UpToDate
    );
    assert_eq!(
        state_of(ready(2), 2, Some("r2"), false),
        StageState::Ready,
        "the source moved on"
    );
    assert_eq!(
        state_of(ready(2), 2, None, false),
        StageState::Ready,
        "the source is unknown"
    );
    let never_applied = json!({"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True", "observedGeneration": 2}]});
    assert_eq!(
        state_of(never_applied, 2, Some("r1"), false),
        StageState::Ready,
        "no applied revision to compare"
    );
    assert_eq!(
        state_of(ready(1), 2, Some("r1"), false),
        StageState::Progressing,
        "a stale Ready does not count"
    );
    assert_eq!(
        state_of(ready(2), 2, Some("r1"), true),
        StageState::Suspended
    );
    assert_eq!(
        state_of(json!({}), 1, None, false),
        StageState::NeverReconciled
    );
    assert_eq!(
        state_of(
            json!({"observedGeneration": -1, "conditions": [{"type": "Ready", "status": "Unknown", "reason": "Progressing"}]}),
            1,
            None,
            false
        ),
        StageState::Progressing
    );
    assert_eq!(
        state_of(
            json!({"conditions": [{"type": "Stalled", "status": "True", "reason": "InvalidCELExpression"}]}),
            1,
            None,
            false
        ),
        StageState::Failed
    );
    let retrying = |og: i64| {
        json!({"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "False", "reason": "ReconciliationFailed", "observedGeneration": og},
        {"type": "Reconciling", "status": "True", "reason": "ProgressingWithRetry"}]})
    };
    assert_eq!(state_of(retrying(1), 1, None, false), StageState::Failed);
    assert_eq!(
        state_of(retrying(0), 1, None, false),
        StageState::Progressing,
        "a failure of an older generation"
    );
    assert_eq!(
        state_of(
            json!({"conditions": [{"type": "Ready", "status": "False", "reason": "HealthCheckCanceled", "observedGeneration": 1}]}),
            1,
            None,
            false
        ),
        StageState::Progressing
    );
}

#[test]
fn suggestions_for_unknown_names() {
    assert_eq!(
        suggest("app-deplyo", ["app-deploy", "app-pre-deploy", "other"]),
        ["app-deploy"]
    );
    assert_eq!(
        suggest("deploy", ["app-deploy", "app-pre-deploy", "other"]),
        ["app-deploy", "app-pre-deploy"]
    );
    assert!(suggest("zzz", ["app-deploy"]).is_empty());
}

/// A chain whose first apply failed has no inventories (seen on real Flux: the
/// guide's Job without a namespace); every stage was shown as `deploy`.
#[test]
fn roles_before_the_first_apply_are_guessed_and_say_so() {
    let never_applied = |name: &str, path: &str, deps: &[&str]| {
        let mut k = ks("apps", name, deps, &[], ok());
        k["spec"]["path"] = json!(path);
        k["status"] = json!({"conditions": [{"type": "Ready", "status": "False", "reason": "ReconciliationFailed",
            "message": "Job/db-migration namespace not specified: the server could not find the requested resource"}]});
        k
    };
    let by_path = snapshot(vec![
        never_applied("a", "./pre-deploy/", &[]),
        never_applied("b", "./deploy/", &["a"]),
        never_applied("c", "./post-deploy/", &["b"]),
    ]);
    let by_place = snapshot(vec![
        never_applied("first", "./x", &[]),
        never_applied("second", "./y", &["first"]),
        never_applied("third", "./z", &["second"]),
    ]);
    for snap in [by_path, by_place] {
        let report = analyze(&snap, &all());
        let roles: Vec<(Role, bool)> = report.chains[0]
            .stages
            .iter()
            .map(|s| (s.role, s.role_guessed))
            .collect();
        assert_eq!(
            roles,
            [(Role::Pre, true), (Role::Deploy, true), (Role::Post, true)]
        );
    }
    // Applied, with nothing in it: a known role, not a guess.
    let mut applied = ks("apps", "only", &[], &[], ok());
    applied["status"]["inventory"] = json!({"entries": []});
    let report = analyze(&snapshot(vec![applied]), &all());
    assert_eq!(
        (
            report.chains[0].stages[0].role,
            report.chains[0].stages[0].role_guessed
        ),
        (Role::Deploy, false)
    );
}

/// Right after a real Job failed, before Flux's next health-check poll, every
/// stage was still Progressing: `status` exited 0 with a failed Job shown.
#[test]
fn a_failed_job_is_unhealthy_before_flux_concludes() {
    let mut snap = snapshot_from_yaml(FAILED).unwrap();
    for ks in snap.kustomizations_mut() {
        for c in ks
            .status
            .conditions
            .iter_mut()
            .filter(|c| c.type_ == "Ready")
        {
            c.status = "Unknown".into();
            c.reason = "Progressing".into();
        }
    }
    let report = analyze(&snap, &all());
    assert!(
        report.chains[0]
            .stages
            .iter()
            .all(|s| s.state == StageState::Progressing),
        "{:?}",
        states(&report)
    );
    assert!(report.unhealthy());
}

/// The chain header names what is wrong at the root, the same in every view:
/// a chain waiting on a running migration is progressing, not "blocked"; one
/// whose dependency does not exist is missing; one whose Jobs could not be
/// read is unknown, never healthy.
#[test]
fn the_chain_state_is_the_root_cause_and_a_partial_view_is_unknown() {
    let progressing = json!({"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "Reconciliation in progress", "observedGeneration": 1});
    let running = json!({"kind": "Job", "metadata": {"name": "migrate", "namespace": "a", "uid": "u1"}, "status": {"startTime": "t", "active": 1}});
    let snap = snapshot(vec![
        ks("a", "pre", &[], &["migrate"], progressing),
        ks("a", "deploy", &["pre"], &[], not_ready("a/pre")),
        running,
        ks("b", "deploy", &["ghost"], &[], not_ready("b/ghost")),
        ks("c", "pre", &[], &["hidden"], ok()),
        ks("c", "deploy", &["pre"], &[], ok()),
    ]);
    let mut snap = snap;
    snap.unreadable_job_namespaces = vec!["c".into()];
    let report = analyze(&snap, &all());
    let heads: Vec<(&str, StageState)> = report
        .chains
        .iter()
        .map(|c| (c.name.as_str(), c.state))
        .collect();
    assert_eq!(
        heads,
        [
            ("a/pre", StageState::Progressing),
            ("b/ghost", StageState::Missing),
            ("c/pre", StageState::Unknown),
        ]
    );
    // The exit code still says what the stages are: a blocked stage is unhealthy.
    assert!(report.unhealthy());
}

/// The graph's nodes are found by hash, each map with its own seed: the
/// report of a cluster (dependents in many orders, a shared stage, cycles,
/// more chains than one thread builds) is the same every time, and its
/// chains come sorted, their stages in dependency order.
#[test]
fn a_report_never_depends_on_hashing() {
    let mut objects = vec![ks("infra", "base", &[], &["setup"], ok())];
    for i in 0..1500 {
        let ns = format!("team-{:02}", i % 37);
        let (pre, deploy, post) = (format!("a{i}-pre"), format!("a{i}"), format!("a{i}-post"));
        let base: &[&str] = if i % 3 == 0 { &["infra/base"] } else { &[] };
        objects.push(ks(&ns, &pre, base, &["migrate"], ok()));
        objects.push(ks(
            &ns,
            &deploy,
            &[&pre],
            &[],
            not_ready(&format!("{ns}/{pre}")),
        ));
        objects.push(ks(&ns, &post, &[&deploy, &pre], &["warm"], ok()));
        objects.push(done_job(&ns, "migrate"));
    }
    objects.push(ks("loop", "x", &["y"], &[], not_ready("loop/y")));
    objects.push(ks("loop", "y", &["x"], &[], not_ready("loop/x")));
    let snap = snapshot(objects);
    let first = analyze(&snap, &all());
    assert_eq!(first.chains.len(), 1 + 1000 + 1);
    let names: Vec<&str> = first.chains.iter().map(|c| c.name.as_str()).collect();
    assert!(names.is_sorted(), "chains in order");
    let shared = first.chains.iter().find(|c| c.name == "infra/base");
    assert_eq!(shared.map(|c| c.stages.len()), Some(1 + 3 * 500));
    let alone = first.chains.iter().find(|c| c.name == "team-01/a1-pre");
    let order: Vec<&str> = alone
        .iter()
        .flat_map(|c| &c.stages)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(order, ["a1-pre", "a1", "a1-post"]);
    for _ in 0..5 {
        assert!(analyze(&snap, &all()) == first, "a report differs");
    }
}
