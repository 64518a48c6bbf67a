//! The fault matrix: each fault the sandbox can inject, against each command,
//! with the exit code and the words the user gets (README, "Faults"). Every
//! cell runs against its own sandbox; cells run a few at a time, since the
//! persistent ones wait out the bounded retries (about 15 s).

use std::sync::Arc;

use jobgate_sandbox::{Fault, Sandbox};

use super::actions::{live, push_and_fetch};
use super::{BIN, command, run};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmd {
    Status,
    Reconcile,
    Rerun,
    Wait,
}

/// One cell: a fault, a command, and what must come of it.
struct Cell {
    fault: &'static str,
    cmd: Cmd,
    exit: i32,
    /// Words stderr must contain.
    says: &'static str,
}

/// The Kustomizations of the command's namespace (not the list of every
/// namespace, which only finds dependents and may fail on its own).
const KS: &str = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations";

fn fail(path: &str, method: &str, count: u32, status: u16, retry_after: Option<u64>) -> Fault {
    Fault::Fail {
        path: path.into(),
        method: Some(method.into()),
        count,
        status,
        retry_after,
    }
}

fn deny(verb: &str, group: &str, resource: &str) -> Fault {
    Fault::Deny {
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
        namespace: Some("apps".into()),
        name: None,
    }
}

/// The faults of a cell, and extra arguments for the command.
fn inject(fault: &str) -> (Vec<Fault>, Vec<&'static str>) {
    match fault {
        "500 transient" => (vec![fail(KS, "GET", 1, 500, None)], vec![]),
        "500 persistent" => (vec![fail(KS, "GET", 1000, 500, None)], vec![]),
        "503 persistent" => (vec![fail(KS, "GET", 1000, 503, None)], vec![]),
        "504 persistent" => (vec![fail(KS, "GET", 1000, 504, None)], vec![]),
        "429 transient" => (vec![fail(KS, "GET", 2, 429, Some(1))], vec![]),
        "429 persistent" => (vec![fail(KS, "GET", 1000, 429, Some(1))], vec![]),
        "latency" => (
            vec![Fault::Latency {
                path: KS.into(),
                method: None,
                millis: 300,
                count: Some(3),
            }],
            vec![],
        ),
        "latency past --request-timeout" => (
            vec![Fault::Latency {
                path: KS.into(),
                method: None,
                millis: 3000,
                count: Some(1),
            }],
            vec!["--request-timeout", "1s"],
        ),
        "watch cut" => (
            vec![Fault::CutWatch {
                path: "*".into(),
                after_events: Some(1),
                after_seconds: None,
                count: Some(4),
            }],
            vec![],
        ),
        "401 before" => (vec![Fault::ExpireToken], vec![]),
        "401 on the watch" => (vec![fail("*", "WATCH", 1000, 401, None)], vec![]),
        "403 list" => (
            vec![deny(
                "list",
                "kustomize.toolkit.fluxcd.io",
                "kustomizations",
            )],
            vec![],
        ),
        "403 watch" => (vec![deny("watch", "batch", "jobs")], vec![]),
        "403 delete" => (vec![deny("delete", "batch", "jobs")], vec![]),
        "403 patch" => (
            vec![deny(
                "patch",
                "kustomize.toolkit.fluxcd.io",
                "kustomizations",
            )],
            vec![],
        ),
        "--timeout" => (
            vec![Fault::Latency {
                path: KS.into(),
                method: None,
                millis: 5000,
                count: Some(1),
            }],
            vec!["--timeout", "1s"],
        ),
        other => panic!("no fault {other}"),
    }
}

fn cells() -> Vec<Cell> {
    use Cmd::*;
    let every = [Status, Reconcile, Rerun, Wait];
    let following = [Reconcile, Rerun, Wait];
    let mut cells = vec![];
    let mut all = |fault, cmds: &[Cmd], exit, says| {
        for &cmd in cmds {
            cells.push(Cell {
                fault,
                cmd,
                exit,
                says,
            });
        }
    };
    all(
        "500 transient",
        &every,
        0,
        "◎ the API server answered 500 InternalError to list kustomizations in namespace apps: retrying in 500ms (1/5)",
    );
    for (fault, says) in [
        (
            "500 persistent",
            "error: the API server answered 500 InternalError",
        ),
        (
            "503 persistent",
            "error: the API server answered 503 ServiceUnavailable",
        ),
        (
            "504 persistent",
            "error: the API server answered 504 Timeout",
        ),
        (
            "429 persistent",
            "error: the API server answered 429 TooManyRequests",
        ),
    ] {
        all(fault, &every, 2, says);
    }
    all(
        "429 transient",
        &every,
        0,
        "to list kustomizations in namespace apps: retrying in 1s (2/5)",
    );
    all("latency", &every, 0, "");
    all(
        "latency past --request-timeout",
        &every,
        2,
        "did not answer within --request-timeout",
    );
    all("watch cut", &following, 0, "");
    all(
        "401 before",
        &every,
        2,
        "rejected the credentials (401 Unauthorized)",
    );
    all(
        "401 on the watch",
        &[Reconcile, Wait],
        2,
        "rejected the credentials (401 Unauthorized)",
    );
    // rerun's watch opens after its delete: the stop says how to recover.
    all(
        "401 on the watch",
        &[Rerun],
        1,
        "stopped after deleting job.batch/db-migration in apps",
    );
    all(
        "403 list",
        &every,
        2,
        "error: forbidden: kustomizations.kustomize.toolkit.fluxcd.io is forbidden",
    );
    all(
        "403 watch",
        &[Reconcile, Wait],
        2,
        "error: forbidden: cannot watch jobs in namespace apps",
    );
    all(
        "403 watch",
        &[Rerun],
        1,
        "stopped after deleting job.batch/db-migration in apps",
    );
    all(
        "403 delete",
        &[Rerun],
        2,
        "error: cannot delete Job apps/db-migration: forbidden",
    );
    all(
        "403 patch",
        &[Reconcile],
        2,
        "error: forbidden: kustomizations.kustomize.toolkit.fluxcd.io \"app-pre-deploy\" is forbidden",
    );
    all(
        "403 patch",
        &[Rerun],
        1,
        "stopped after deleting job.batch/db-migration in apps before requesting a reconcile",
    );
    all(
        "--timeout",
        &[Status],
        3,
        "error: timed out after 1s: the cluster did not answer within --timeout",
    );
    all(
        "--timeout",
        &following,
        3,
        "error: timed out after 1s: the command did not finish within --timeout",
    );
    cells
}

/// The command of a cell; `wait` follows a real rollout (a push), so that it
/// watches rather than finding everything done at once.
fn args(sb: &Sandbox, cmd: Cmd) -> Vec<String> {
    let words: Vec<String> = match cmd {
        Cmd::Status => vec!["status".into()],
        Cmd::Reconcile => vec!["reconcile".into(), "app-pre-deploy".into()],
        Cmd::Rerun => vec!["rerun".into(), "app-pre-deploy".into(), "--yes".into()],
        Cmd::Wait => {
            let revision = push_and_fetch(sb);
            vec![
                "wait".into(),
                "app-post-deploy".into(),
                "--for".into(),
                format!("revision={revision}"),
            ]
        }
    };
    words
}

async fn check(cell: Cell) -> Result<(), String> {
    // A fault on the watch meets the command after its first list: the
    // controllers run slower, so that the command is still following then.
    let speed = if cell.fault.contains("watch") {
        5.0
    } else {
        100.0
    };
    let sb = live("canonical", speed).await;
    let mut words = args(&sb, cell.cmd);
    let (faults, extra) = inject(cell.fault);
    words.extend(extra.into_iter().map(String::from));
    for f in faults {
        sb.add_fault(f);
    }
    let argv: Vec<&str> = words.iter().map(String::as_str).collect();
    let r = run(command(BIN, sb.kubeconfig(), "matrix", &argv)).await;
    if r.code == cell.exit && r.stderr.contains(cell.says) {
        Ok(())
    } else {
        Err(format!(
            "{} × {:?}: exit {} (want {}), stderr lacks {:?}:\n{}",
            cell.fault, cell.cmd, r.code, cell.exit, cell.says, r.stderr
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_against_every_command() {
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut running = tokio::task::JoinSet::new();
    for cell in cells() {
        let gate = gate.clone();
        running.spawn(async move {
            let _turn = gate.acquire().await;
            check(cell).await
        });
    }
    let mut failures = vec![];
    while let Some(done) = running.join_next().await {
        if let Err(e) = done.expect("a cell ran") {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
