//! A gate that never lies: `rerun` deletes only what it must and says how to
//! recover from every stop; `wait` ends when the outcome is known. Each test
//! is named after the defect it catches.

use std::process::Stdio;

use jobgate_sandbox::{Fault, Sandbox};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::actions::{deletes, job, live, patch, patch_ks, push_and_await_fetch, push_and_fetch};
use super::{BIN, STEP, command, interrupt, jobgate};

fn uid_of(sb: &Sandbox, name: &str) -> String {
    job(sb, name).unwrap()["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string()
}

fn writes(sb: &Sandbox) -> Vec<String> {
    sb.requests()
        .into_iter()
        .filter(|r| !matches!(r.verb.as_str(), "get" | "list" | "watch"))
        .map(|r| format!("{} {} {}/{}", r.verb, r.resource, r.namespace, r.name))
        .collect()
}

/// Reads a child's stderr until a line containing `wanted`; returns all read.
async fn stderr_until(stderr: &mut BufReader<tokio::process::ChildStderr>, wanted: &str) -> String {
    let mut seen = String::new();
    tokio::time::timeout(STEP, async {
        let mut line = String::new();
        while stderr.read_line(&mut line).await.unwrap() > 0 {
            seen.push_str(&line);
            if line.contains(wanted) {
                return;
            }
            line.clear();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no line with {wanted:?}; stderr so far:\n{seen}"));
    seen
}

/// Puts a finalizer on the Job `db-migration` (`Some`), or takes it off.
fn hold(sb: &Sandbox, finalizer: Option<&str>) {
    let finalizers = finalizer.map(|f| json!([f]));
    patch(
        sb,
        "batch",
        "jobs",
        "db-migration",
        json!({"metadata": {"finalizers": finalizers}}),
        false,
    );
}

/// Starts jobgate with its stderr to read as it goes.
fn spawn(
    sb: &Sandbox,
    test: &str,
    args: &[&str],
) -> (
    tokio::process::Child,
    BufReader<tokio::process::ChildStderr>,
) {
    let mut child = command(BIN, sb.kubeconfig(), test, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    (child, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_refuses_an_inventory_job_another_stage_owns() {
    let sb = live("canonical", 100.0).await;
    let uid = uid_of(&sb, "db-migration");
    // A stale or hand-edited inventory: the Job is labelled as another stage's.
    patch(
        &sb,
        "batch",
        "jobs",
        "db-migration",
        json!({"metadata": {"labels": {"kustomize.toolkit.fluxcd.io/name": "billing-pre-deploy", "kustomize.toolkit.fluxcd.io/namespace": "billing"}}}),
        false,
    );
    sb.clear_requests();
    for args in [
        &["rerun", "app-pre-deploy", "--yes"][..],
        &["rerun", "app-pre-deploy", "--dry-run"],
        &["rerun", "app-pre-deploy", "--yes", "--force"],
    ] {
        let r = jobgate(&sb, "owner", args).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_eq!(
            r.stderr.trim(),
            "error: Job apps/db-migration is in the inventory of apps/app-pre-deploy but is labelled as owned by Kustomization billing/billing-pre-deploy: Flux's prune would not delete it, and neither does rerun (the inventory may be stale or edited by hand). Re-run the stage's own Jobs with --job, or look at it with `kubectl get job db-migration -n apps --show-labels`; nothing was deleted",
            "{args:?}"
        );
    }
    // Without owner labels at all, it is not Flux's either.
    patch(
        &sb,
        "batch",
        "jobs",
        "db-migration",
        json!({"metadata": {"labels": null}}),
        false,
    );
    let r = jobgate(&sb, "owner", &["rerun", "app-pre-deploy", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("carries no kustomize.toolkit.fluxcd.io/name and /namespace labels"),
        "{}",
        r.stderr
    );
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
    assert_eq!(uid_of(&sb, "db-migration"), uid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_off_a_terminal_without_yes_deletes_nothing() {
    let sb = live("canonical", 100.0).await;
    sb.clear_requests();
    // stdin is /dev/null: no terminal to ask on.
    let r = jobgate(&sb, "no-tty", &["rerun", "app-pre-deploy"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        "error: rerun would delete job.batch/db-migration (Succeeded) in apps, and stdin is not a terminal to ask on: pass --yes to delete without asking (--dry-run shows the plan); nothing was deleted"
    );
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_that_cannot_list_jobs_does_not_call_them_gone() {
    let sb = live("canonical", 100.0).await;
    sb.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "batch".into(),
        resource: "jobs".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    sb.clear_requests();
    for args in [
        &["rerun", "app-pre-deploy", "--yes"][..],
        &["rerun", "app-pre-deploy", "-n", "apps", "--dry-run"],
    ] {
        let r = jobgate(&sb, "no-list", args).await;
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        let last = r.stderr.lines().last().unwrap_or("");
        assert_eq!(
            last,
            "error: cannot see Job apps/db-migration: listing jobs.batch in namespace apps is forbidden, so rerun cannot tell whether it exists or what it would delete. Ask for the verbs list, watch and delete on jobs.batch in namespace apps (examples/rbac.yaml, role kubectl-jobgate); nothing was deleted",
            "{args:?}"
        );
        assert!(!r.stderr.contains("gone"), "{}", r.stderr);
        assert!(!r.stderr.contains(" -n"), "no -n hint: {}", r.stderr);
    }
    assert!(writes(&sb).is_empty(), "{:?}", writes(&sb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_write_never_suggests_narrowing_with_n() {
    let sb = live("canonical", 100.0).await;
    sb.add_fault(Fault::Deny {
        verb: "patch".into(),
        group: "kustomize.toolkit.fluxcd.io".into(),
        resource: "kustomizations".into(),
        namespace: None,
        name: None,
    });
    let r = jobgate(&sb, "write", &["reconcile", "app-deploy", "-n", "apps"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.trim().ends_with("Ask your cluster admin for that permission (examples/rbac.yaml has a role for each command)"),
        "{}",
        r.stderr
    );
    // A list across all namespaces may be allowed in one: that hint stays.
    sb.clear_faults();
    sb.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "kustomize.toolkit.fluxcd.io".into(),
        resource: "kustomizations".into(),
        namespace: None,
        name: None,
    });
    let r = jobgate(&sb, "write", &["status", "-A"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .trim()
            .ends_with(", or look in one namespace with -n NAMESPACE"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_timed_out_after_deleting_says_how_to_recover() {
    let sb = live("canonical", 100.0).await;
    // The reconcile request keeps failing with 503 (retried), until --timeout.
    sb.add_fault(Fault::Fail {
        path: "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations/app-pre-deploy"
            .into(),
        method: Some("PATCH".into()),
        count: 1000,
        status: 503,
        retry_after: None,
    });
    let r = jobgate(
        &sb,
        "timeout",
        &["rerun", "app-pre-deploy", "--yes", "--timeout", "2s"],
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines[lines.len() - 2].starts_with("error: timed out after 2s"),
        "{}",
        r.stderr
    );
    let recovery = lines[lines.len() - 1];
    assert_eq!(
        recovery,
        "stopped after deleting job.batch/db-migration in apps before requesting a reconcile: Flux recreates them only at its next reconcile of apps/app-pre-deploy; recover now with `kubectl jobgate reconcile app-pre-deploy -n apps`"
    );
    assert!(job(&sb, "db-migration").is_none(), "deleted, as it says");
    // The printed command recovers.
    sb.clear_faults();
    let recovered = jobgate(
        &sb,
        "timeout",
        &["reconcile", "app-pre-deploy", "-n", "apps"],
    )
    .await;
    assert_eq!(recovered.code, 0, "{}", recovered.stderr);
    assert_eq!(job(&sb, "db-migration").unwrap()["status"]["succeeded"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_held_by_a_finalizer_is_not_reported_deleted_until_it_is() {
    let sb = live("canonical", 100.0).await;
    let uid = uid_of(&sb, "db-migration");
    hold(&sb, Some("example.com/hold"));
    let (child, mut stderr) = spawn(&sb, "finalizer", &["rerun", "app-pre-deploy", "--yes"]);
    let seen = stderr_until(&mut stderr, "held by finalizer").await;
    assert_eq!(
        seen,
        format!(
            "◎ deleting job.batch/db-migration in apps (uid {uid}): held by finalizer example.com/hold until its controller releases it\n"
        )
    );
    let held = job(&sb, "db-migration").expect("still there, terminating");
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    // Its controller releases it: now it is deleted, and the rerun goes on.
    hold(&sb, None);
    let (code, seen) = ended(child, stderr, seen).await;
    assert_eq!(code, 0, "{seen}");
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(
        lines[1],
        format!("✔ deleted job.batch/db-migration in apps (uid {uid})")
    );
    assert_eq!(lines[2], "► apps/app-pre-deploy: reconcile requested");
    assert_ne!(uid_of(&sb, "db-migration"), uid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_replaced_before_the_delete_is_a_refusal_exit_2() {
    let sb = live("canonical", 100.0).await;
    sb.add_fault(Fault::Fail {
        path: "/apis/batch/v1/namespaces/apps/jobs/db-migration".into(),
        method: Some("DELETE".into()),
        count: 1,
        status: 409,
        retry_after: None,
    });
    let r = jobgate(&sb, "conflict", &["rerun", "app-pre-deploy", "--yes"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().last().unwrap_or(""),
        "error: Job apps/db-migration changed while jobgate was deleting (another run replaced it), so it was left alone; nothing was deleted"
    );
}

/// Runs `rerun app-pre-deploy ARGS` on a terminal (through `script`) and
/// returns it once the prompt is shown, with the terminal's input.
async fn rerun_at_the_prompt(
    sb: &Sandbox,
    test: &str,
    args: &str,
) -> (
    tokio::process::Child,
    tokio::process::ChildStdin,
    BufReader<tokio::process::ChildStdout>,
) {
    let mut child = command(
        "script",
        sb.kubeconfig(),
        test,
        &[
            "-q",
            "-e",
            "-c",
            &format!("{BIN} rerun app-pre-deploy {args}"),
            "/dev/null",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .expect("script (util-linux) runs");
    let stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = vec![];
    tokio::time::timeout(STEP, async {
        let mut byte = [0u8; 1];
        while stdout.read(&mut byte).await.unwrap() > 0 {
            seen.push(byte[0]);
            if seen.ends_with(b"[y/N] ") {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no prompt: {}", String::from_utf8_lossy(&seen)));
    (child, stdin, stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_and_the_timeout_end_the_confirmation_prompt() {
    let sb = live("canonical", 100.0).await;
    sb.clear_requests();
    // Ctrl-C typed at the prompt: the terminal sends SIGINT; exit 130 at once.
    let (mut child, mut stdin, mut stdout) = rerun_at_the_prompt(&sb, "prompt-int", "").await;
    stdin.write_all(b"\x03").await.unwrap();
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("Ctrl-C ends the prompt without Enter")
        .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("interrupted: nothing was deleted"), "{rest}");

    // Nobody answers: --timeout ends it, exit 3.
    let (mut child, _stdin, mut stdout) =
        rerun_at_the_prompt(&sb, "prompt-timeout", "--timeout 2s").await;
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("--timeout ends the prompt")
        .unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    assert_eq!(status.code(), Some(3), "{rest}");
    assert!(deletes(&sb).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_fails_fast_on_a_stage_whose_own_reconcile_fails() {
    let sb = live("canonical", 20.0).await;
    // Its path removed from Git: kustomize-controller's BuildFailed, retried for ever.
    patch_ks(
        &sb,
        "app-deploy",
        json!({"spec": {"path": "./removed"}}),
        false,
    );
    let r = jobgate(
        &sb,
        "build-failed",
        &["wait", "app-deploy", "--timeout", "20s"],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("✗ apps/app-deploy: BuildFailed: kustomization path not found"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ends_on_a_missing_dependency_and_on_a_cycle() {
    let sb = live("canonical", 20.0).await;
    patch_ks(
        &sb,
        "app-deploy",
        json!({"spec": {"dependsOn": [{"name": "app-pre-deploy"}, {"name": "nonexistent"}]}}),
        false,
    );
    let r = jobgate(&sb, "missing", &["wait", "app-deploy", "--timeout", "20s"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("✗ apps/app-deploy: blocked by apps/nonexistent: DependencyNotFound: apps/app-deploy depends on apps/nonexistent, which does not exist"),
        "{}",
        r.stderr
    );

    let sb = live("canonical", 20.0).await;
    patch_ks(
        &sb,
        "app-pre-deploy",
        json!({"spec": {"dependsOn": [{"name": "app-post-deploy"}]}}),
        false,
    );
    // Ready stages reconcile still; a new revision needs each before the next: deadlock.
    push_and_await_fetch(&sb);
    let r = jobgate(&sb, "cycle", &["wait", "app-deploy", "--timeout", "20s"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("DependencyCycle: apps/app-")
            && r.stderr.contains("is in a dependsOn cycle ("),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_that_matches_nothing_fails() {
    let sb = live("canonical", 100.0).await;
    let r = jobgate(&sb, "empty", &["wait", "--all", "-n", "typo-namespace"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        "error: no Flux Kustomizations to wait for in namespace typo-namespace: check the namespace (-n) and the names, or pass --allow-empty if nothing to wait for is a success"
    );
    assert_eq!(r.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wanted_revision_without_a_commit_is_refused() {
    let sb = live("canonical", 100.0).await;
    for bad in [
        "revision=main",
        "revision=main@sha1:",
        "revision=m",
        "revision=",
    ] {
        let r = jobgate(&sb, "revision", &["wait", "--all", "--for", bad]).await;
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(
            r.stderr.starts_with(&format!(
                "error: invalid value '{bad}' for '--for <CONDITION>': {bad}: name a commit"
            )),
            "{}",
            r.stderr
        );
    }
    // A bare sha, as CI knows it, is a commit.
    let r = jobgate(
        &sb,
        "revision",
        &[
            "wait",
            "--all",
            "--for",
            "revision=9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_a_revision_the_source_moved_past_fails() {
    let sb = live("canonical", 20.0).await;
    let (child, mut stderr) = spawn(
        &sb,
        "moved",
        &[
            "wait",
            "app-deploy",
            "--for",
            "revision=main@sha1:1234567890abcdef",
            "--timeout",
            "30s",
        ],
    );
    let seen = stderr_until(&mut stderr, "waiting for main@sha1:12345678").await;
    // The branch moves on to a commit that is not the one waited for.
    push_and_fetch(&sb);
    let (code, seen) = ended(child, stderr, seen).await;
    assert_eq!(code, 1, "{seen}");
    assert!(
        seen.contains("RevisionPassed: its source moved from main@sha1:9f1e2d3c to main@sha1:"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_clients_later_request_handled_instead_of_ours_does_not_hang() {
    let sb = live("canonical", 5.0).await;
    let request = |token: String| {
        patch_ks(
            &sb,
            "app-pre-deploy",
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}}),
            false,
        )
    };
    // Flux is busy with a reconcile (its Job runs for a while), so the requests
    // that follow queue: it handles only the latest when it is done.
    request("busy".into());
    let (child, mut stderr) = spawn(
        &sb,
        "concurrent",
        &["reconcile", "app-pre-deploy", "--timeout", "25s"],
    );
    let seen = stderr_until(&mut stderr, "reconcile requested").await;
    // Another client asks after us (`flux reconcile`, a webhook receiver).
    request(jiff::Timestamp::now().to_string());
    let (code, seen) = ended(child, stderr, seen).await;
    assert_eq!(code, 0, "{seen}");
    // While Flux is busy with the earlier run, the narration says that, not "picking up".
    assert!(
        seen.contains("(an earlier reconcile; Flux handles the request after it)"),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_throttling_is_retried_a_bounded_number_of_times_and_said() {
    let sb = live("canonical", 100.0).await;
    sb.add_fault(Fault::Fail {
        path: "/apis/batch/v1/namespaces/apps/jobs".into(),
        method: Some("GET".into()),
        count: 1000,
        status: 429,
        retry_after: Some(1),
    });
    let r = jobgate(&sb, "throttled", &["status"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    let retries: Vec<String> = (1..=5)
        .map(|n| format!("◎ the API server answered 429 TooManyRequests to list jobs in namespace apps: retrying in 1s ({n}/5)"))
        .collect();
    assert_eq!(lines[..5], retries, "{}", r.stderr);
    assert!(
        lines[5].starts_with("error: the API server answered 429 TooManyRequests"),
        "{}",
        r.stderr
    );
    assert_eq!(lines.len(), 6, "{}", r.stderr);
}

/// Starts `wait` on a revision that never comes, so it keeps watching; returns
/// once it narrated that it waits.
async fn waiting(
    sb: &Sandbox,
    test: &str,
) -> (
    tokio::process::Child,
    BufReader<tokio::process::ChildStderr>,
    String,
) {
    let (child, mut stderr) = spawn(
        sb,
        test,
        &["wait", "app-deploy", "--for", "revision=main@sha1:00000000"],
    );
    let seen = stderr_until(&mut stderr, "waiting for main@sha1:00000000").await;
    (child, stderr, seen)
}

async fn ended(
    mut child: tokio::process::Child,
    mut stderr: BufReader<tokio::process::ChildStderr>,
    mut seen: String,
) -> (i32, String) {
    let mut rest = String::new();
    // A watch is given 60 s to recover (an apiserver restart): more than a step.
    let ended = tokio::time::timeout(3 * STEP, async {
        let (read, status) = tokio::join!(stderr.read_to_string(&mut rest), child.wait());
        read.unwrap();
        status.unwrap()
    })
    .await;
    seen.push_str(&rest);
    match ended {
        Ok(status) => (status.code().unwrap_or(-1), seen),
        Err(_) => panic!("still running; its stderr so far:\n{seen}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_failing_every_time_ends_the_command_and_says_each_retry() {
    let sb = live("canonical", 100.0).await;
    sb.add_fault(Fault::Fail {
        path: "/apis/batch/v1/namespaces/apps/jobs".into(),
        method: Some("WATCH".into()),
        count: 1000,
        status: 500,
        retry_after: None,
    });
    let (code, stderr) = {
        let (child, out, seen) = waiting(&sb, "watch-500").await;
        ended(child, out, seen).await
    };
    assert_eq!(code, 2, "{stderr}");
    // Each failure is said; the watcher's backoff spaces them.
    for n in 1..=4 {
        assert!(
            stderr.contains(&format!("◎ the watch of jobs in namespace apps failed (500 InternalError: Internal error occurred: injected fault (jobgate-sandbox)): retrying (attempt {n}, failing for ")),
            "{stderr}"
        );
    }
    let last = stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: the watch of jobs in namespace apps kept failing for 60s (")
            && last.ends_with("attempts; the last: 500 InternalError: Internal error occurred: injected fault (jobgate-sandbox)): the API server may be overloaded, restarting or gone. Check it with `kubectl get --raw /readyz`, then run the command again"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_or_unauthorized_watch_ends_the_command_at_once() {
    let sb = live("canonical", 100.0).await;
    sb.add_fault(Fault::Deny {
        verb: "watch".into(),
        group: "batch".into(),
        resource: "jobs".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    // A revision that never comes: the command is still following when the watch is refused.
    let r = jobgate(
        &sb,
        "watch-403",
        &[
            "wait",
            "app-deploy",
            "-n",
            "apps",
            "--for",
            "revision=main@sha1:00000000",
        ],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    let last = r.stderr.lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: forbidden: cannot watch jobs in namespace apps: ")
            && last.contains(
                "cannot watch resource \"jobs\" in API group \"batch\" in the namespace \"apps\""
            )
            && last.ends_with("(examples/rbac.yaml has a role for each command)"),
        "{last}"
    );

    sb.clear_faults();
    sb.add_fault(Fault::Fail {
        path: "/apis/kustomize.toolkit.fluxcd.io/*".into(),
        method: Some("WATCH".into()),
        count: 1000,
        status: 401,
        retry_after: None,
    });
    let r = jobgate(
        &sb,
        "watch-401",
        &["wait", "app-deploy", "--for", "revision=main@sha1:00000000"],
    )
    .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("rejected the credentials (401 Unauthorized)"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_gone_mid_wait_ends_it() {
    let sb = live("canonical", 100.0).await;
    let (child, stderr, seen) = waiting(&sb, "gone").await;
    sb.shutdown().await;
    let (code, stderr) = ended(child, stderr, seen).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("kept failing for 60s (") && stderr.contains("Connection refused"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_malformed_reference_does_not_blind_the_whole_view() {
    let sb = live("canonical", 100.0).await;
    // Without the list of every namespace, dependencies are followed namespace by namespace.
    sb.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "kustomize.toolkit.fluxcd.io".into(),
        resource: "kustomizations".into(),
        namespace: Some("".into()),
        name: None,
    });
    // A dependsOn namespace that cannot be a namespace (nor part of a URI).
    patch_ks(
        &sb,
        "app-deploy",
        json!({"spec": {"dependsOn": [{"name": "app-pre-deploy"}, {"name": "db", "namespace": "bad ns\u{1b}[2J"}]}}),
        false,
    );
    // An inventory entry with an empty namespace.
    patch_ks(
        &sb,
        "app-post-deploy",
        json!({"status": {"inventory": {"entries": [{"id": "_cache-refresh_batch_Job", "v": "v1"}]}}}),
        true,
    );
    let r = jobgate(&sb, "malformed", &["status", "-n", "apps", "-o", "json"]).await;
    // Not "failed to build request" (2): the chain is shown, blocked by the dependency that cannot exist.
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: a reference to namespace \"bad ns\\u{1b}[2J\" was skipped: it is not a valid namespace name, so nothing lives there"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("warning: a reference to namespace \"\" was skipped"),
        "{}",
        r.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let names: Vec<&str> = report["chains"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"app-pre-deploy") && names.contains(&"app-post-deploy"),
        "the rest is shown: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomization_that_does_not_decode_is_unreadable_not_missing() {
    let sb = live("canonical", 100.0).await;
    patch_ks(
        &sb,
        "app-pre-deploy",
        json!({"status": {"inventory": {"entries": [{"id": 5, "v": "v1"}]}}}),
        true,
    );
    let r = jobgate(
        &sb,
        "undecodable",
        &["status", "app-pre-deploy", "-o", "json"],
    )
    .await;
    // A partial view: exit 2, the decode error said.
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: skipped Kustomization apps/app-pre-deploy: "),
        "{}",
        r.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let stages = report["chains"][0]["stages"].as_array().unwrap();
    let pre = stages
        .iter()
        .find(|s| s["name"] == "app-pre-deploy")
        .expect("found by name, not 'not found'");
    assert_eq!(pre["state"], "unreadable");
    assert!(
        pre["message"]
            .as_str()
            .unwrap()
            .starts_with("Kustomization apps/app-pre-deploy exists but cannot be read: "),
        "{pre}"
    );
    let table = jobgate(&sb, "undecodable", &["status"]).await;
    assert!(
        !table.stdout.contains("no such Kustomization exists"),
        "{}",
        table.stdout
    );
    // A gate cannot pass on what it cannot read; rerun cannot act on it.
    let wait = jobgate(
        &sb,
        "undecodable",
        &["wait", "app-deploy", "--timeout", "20s"],
    )
    .await;
    assert_eq!(wait.code, 1, "{}", wait.stderr);
    assert!(
        wait.stderr.contains("✗ apps/app-pre-deploy: Unreadable: Kustomization apps/app-pre-deploy exists but cannot be read"),
        "{}",
        wait.stderr
    );
    let rerun = jobgate(&sb, "undecodable", &["rerun", "app-pre-deploy", "--yes"]).await;
    assert_eq!(rerun.code, 2, "{}", rerun.stderr);
    assert!(
        rerun.stderr.contains("exists but cannot be read"),
        "{}",
        rerun.stderr
    );
    assert!(deletes(&sb).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_wrong_cas_and_unreadable_logs_are_each_said_as_what_they_are() {
    let sb = live("failed", 100.0).await;
    // An expired --request-timeout is not "cannot reach the cluster". (The
    // namespace's own list: a slow list across all namespaces only loses the
    // dependents elsewhere, with a note.)
    sb.add_fault(Fault::Latency {
        path: "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations".into(),
        method: None,
        millis: 3000,
        count: Some(1),
    });
    let r = jobgate(&sb, "slow", &["status", "--request-timeout", "1s"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .trim()
            .starts_with("error: the API server at https://127.0.0.1:")
            && r.stderr.contains("did not answer within --request-timeout"),
        "{}",
        r.stderr
    );
    // status's --timeout does not send the user to status.
    sb.add_fault(Fault::Latency {
        path: "/apis/kustomize.toolkit.fluxcd.io/*".into(),
        method: None,
        millis: 3000,
        count: Some(1),
    });
    let r = jobgate(&sb, "slow", &["status", "--timeout", "1s"]).await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        "error: timed out after 1s: the cluster did not answer within --timeout; raise it (or --request-timeout), and see how long each request takes with -v"
    );
    // A 403 on pods/log says the log tail was not readable, and why.
    sb.add_fault(Fault::Deny {
        verb: "get".into(),
        group: "".into(),
        resource: "pods/log".into(),
        namespace: None,
        name: None,
    });
    let r = jobgate(&sb, "log-403", &["status", "-o", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let why = report["chains"][0]["stages"][0]["jobs"][0]["logUnavailable"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        why.starts_with("the log of pod db-migration-")
            && why.contains("could not be read: ")
            && why.contains("forbidden"),
        "{why}"
    );

    // A CA that does not sign the server's certificate: which CA, and what to do.
    let other = live("canonical", 100.0).await;
    let kubeconfig = std::fs::read_to_string(other.kubeconfig())
        .unwrap()
        .replace(other.url(), sb.url());
    let path = sb.kubeconfig().with_file_name("wrong-ca.kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let r = super::run(command(BIN, &path, "wrong-ca", &["status"])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "error: cannot verify the API server at {}: ",
            sb.url()
        )) && r.stderr.contains(
            "Its certificate is not signed by the certificate-authority-data of cluster \""
        ) && r
            .stderr
            .trim_end()
            .ends_with("get a fresh kubeconfig for it (or correct that CA)"),
        "{}",
        r.stderr
    );
}

/// xorshift64*: a seeded generator, so a failing case reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn job_object(name: &str, owner: Option<(&str, &str)>) -> serde_json::Value {
    let mut labels = json!({});
    if let Some((ns, ks)) = owner {
        labels = json!({"kustomize.toolkit.fluxcd.io/name": ks, "kustomize.toolkit.fluxcd.io/namespace": ns});
    }
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Never"}}}})
}

/// Nothing lost, as a property: over generated scenarios (inventories holding
/// foreign-owned, unlabelled and missing Jobs, running Jobs, blocked and
/// suspended stages, faults on any request, with and without --force, --job
/// and --no-wait), rerun only ever DELETEs Jobs of the named stage's
/// inventory that carry its owner labels, each with its uid as precondition
/// and Background propagation, and its only other write is the reconcile
/// request on that stage. A refused plan deletes nothing at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerun_only_ever_deletes_the_named_stages_own_jobs() {
    let mut rng = Rng(0x6a09_e667_f3bc_c908);
    for case in 0..24 {
        let sb = live("canonical", 100.0).await;
        let jobs_res = sb.api().registry.find("batch", "v1", "jobs").unwrap();
        // Jobs that are not this stage's: another stage's, and one Flux never labelled.
        sb.api()
            .create(
                jobs_res,
                Some("apps"),
                job_object("foreign", Some(("apps", "app-post-deploy"))),
                &Default::default(),
            )
            .unwrap();
        sb.api()
            .create(
                jobs_res,
                Some("apps"),
                job_object("unlabelled", None),
                &Default::default(),
            )
            .unwrap();
        let mut inventory = vec!["db-migration"];
        for extra in ["foreign", "unlabelled", "ghost", "cache-refresh"] {
            if rng.chance(25) {
                inventory.push(extra);
            }
        }
        let entries: Vec<serde_json::Value> = inventory
            .iter()
            .map(|j| json!({"id": format!("apps_{j}_batch_Job"), "v": "v1"}))
            .collect();
        let stage = "app-pre-deploy";
        patch_ks(
            &sb,
            stage,
            json!({"status": {"inventory": {"entries": entries}}}),
            true,
        );
        let running = rng.chance(25);
        if running {
            patch(
                &sb,
                "batch",
                "jobs",
                "db-migration",
                json!({"status": {"conditions": null, "active": 1, "completionTime": null}}),
                true,
            );
        }
        let suspended = rng.chance(15);
        if suspended {
            patch_ks(&sb, stage, json!({"spec": {"suspend": true}}), false);
        }
        let blocked = !suspended && rng.chance(15);
        if blocked {
            patch_ks(
                &sb,
                stage,
                json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "DependencyNotReady", "message": "dependency 'apps/x' is not ready", "observedGeneration": 1, "lastTransitionTime": "2026-08-21T06:00:00Z"}]}}),
                true,
            );
        }
        let fault = match rng.next() % 8 {
            0 => Some(Fault::Fail {
                path: "/apis/batch/v1/namespaces/apps/jobs/*".into(),
                method: Some("DELETE".into()),
                count: 1,
                status: 500,
                retry_after: None,
            }),
            1 => Some(Fault::Fail {
                path: "/apis/batch/v1/namespaces/apps/jobs/*".into(),
                method: Some("DELETE".into()),
                count: 1,
                status: 409,
                retry_after: None,
            }),
            2 => Some(Fault::Fail {
                path: format!(
                    "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations/{stage}"
                ),
                method: Some("PATCH".into()),
                count: 1 + (rng.next() % 7) as u32,
                status: 503,
                retry_after: Some(0),
            }),
            3 => Some(Fault::Deny {
                verb: "delete".into(),
                group: "batch".into(),
                resource: "jobs".into(),
                namespace: Some("apps".into()),
                name: None,
            }),
            4 => Some(Fault::Deny {
                verb: "list".into(),
                group: "batch".into(),
                resource: "jobs".into(),
                namespace: Some("apps".into()),
                name: None,
            }),
            5 => Some(Fault::Fail {
                path: "/apis/batch/v1/namespaces/apps/jobs".into(),
                method: Some("WATCH".into()),
                count: 2,
                status: 500,
                retry_after: None,
            }),
            _ => None,
        };
        if let Some(f) = fault.clone() {
            sb.add_fault(f);
        }
        let force = rng.chance(40);
        let only: Option<&str> = if rng.chance(30) {
            Some(inventory[(rng.next() % inventory.len() as u64) as usize])
        } else {
            None
        };
        let no_wait = rng.chance(50);
        // What the stage owns, as it stood before the rerun.
        let before: Vec<(String, String, bool)> = inventory
            .iter()
            .filter_map(|name| {
                let j = job(&sb, name)?;
                let labels = &j["metadata"]["labels"];
                let owned = labels["kustomize.toolkit.fluxcd.io/name"] == stage
                    && labels["kustomize.toolkit.fluxcd.io/namespace"] == "apps";
                Some((
                    name.to_string(),
                    j["metadata"]["uid"].as_str()?.to_string(),
                    owned,
                ))
            })
            .collect();
        sb.clear_requests();
        let mut args = vec!["rerun", stage, "-n", "apps", "--yes", "--timeout", "20s"];
        if force {
            args.push("--force");
        }
        if no_wait {
            args.push("--no-wait");
        }
        if let Some(j) = only {
            args.extend(["--job", j]);
        }
        let r = jobgate(&sb, "property", &args).await;
        let context = format!(
            "case {case}: inventory {inventory:?}, running {running}, suspended {suspended}, blocked {blocked}, fault {fault:?}, args {args:?}: exit {}\n{}",
            r.code, r.stderr
        );
        let selected_foreign = before
            .iter()
            .any(|(name, _, owned)| !owned && only.is_none_or(|o| o == name));
        let must_refuse = suspended
            || (blocked && !force)
            || selected_foreign
            || (running && !force && only.is_none_or(|o| o == "db-migration"))
            || matches!(&fault, Some(Fault::Deny { verb, .. }) if verb == "list");
        for q in sb.requests() {
            if q.code >= 400 && q.body.is_empty() {
                // Refused before its body was read (an injected fault, RBAC): it did nothing.
                continue;
            }
            match q.verb.as_str() {
                "get" | "list" | "watch" | "" => {}
                "delete" => {
                    assert!(!must_refuse, "a refused plan deleted {}: {context}", q.name);
                    assert_eq!(
                        (q.resource.as_str(), q.namespace.as_str()),
                        ("jobs", "apps"),
                        "{context}"
                    );
                    let (_, uid, owned) = before
                        .iter()
                        .find(|(name, _, _)| *name == q.name)
                        .unwrap_or_else(|| {
                            panic!("deleted {}, not in the inventory: {context}", q.name)
                        });
                    assert!(
                        owned,
                        "deleted {}, not labelled as {stage}'s: {context}",
                        q.name
                    );
                    assert!(
                        only.is_none_or(|o| o == q.name),
                        "deleted {} beyond --job: {context}",
                        q.name
                    );
                    let options: serde_json::Value = serde_json::from_str(&q.body)
                        .unwrap_or_else(|e| panic!("DeleteOptions {:?}: {e}: {context}", q.body));
                    assert_eq!(options["propagationPolicy"], "Background", "{context}");
                    assert_eq!(
                        options["preconditions"]["uid"].as_str(),
                        Some(uid.as_str()),
                        "{context}"
                    );
                }
                "patch" => {
                    assert_eq!(
                        (q.resource.as_str(), q.namespace.as_str(), q.name.as_str()),
                        ("kustomizations", "apps", stage),
                        "{context}"
                    );
                    let body: serde_json::Value = serde_json::from_str(&q.body).unwrap();
                    let annotations = body["metadata"]["annotations"]
                        .as_object()
                        .unwrap_or_else(|| panic!("{context}"));
                    assert!(
                        body.as_object().is_some_and(|o| o.len() == 1)
                            && body["metadata"].as_object().is_some_and(|o| o.len() == 1)
                            && annotations.len() == 1
                            && annotations.contains_key("reconcile.fluxcd.io/requestedAt"),
                        "a write other than the reconcile request: {}: {context}",
                        q.body
                    );
                }
                other => panic!("rerun made a {other} request: {context}"),
            }
        }
        if must_refuse {
            assert_eq!(r.code, 2, "{context}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependents_in_other_namespaces_are_part_of_the_chain() {
    let sb = super::sandbox("multi-app").await;
    // billing/billing-pre-deploy depends on infra/database; billing-deploy after it is suspended.
    let r = jobgate(&sb, "dependents", &["status", "-n", "infra", "-o", "json"]).await;
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let stages: Vec<String> = report["chains"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s["namespace"].as_str().unwrap(),
                s["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        stages,
        [
            "infra/database",
            "billing/billing-pre-deploy",
            "billing/billing-deploy"
        ],
        "{}",
        r.stderr
    );
    // The gate on database's chain checks its dependents too: one is suspended.
    let w = jobgate(
        &sb,
        "dependents",
        &["wait", "database", "-n", "infra", "--timeout", "10s"],
    )
    .await;
    assert_eq!(w.code, 1, "{}", w.stderr);
    assert!(
        w.stderr.contains("✗ billing/billing-deploy: Suspended"),
        "{}",
        w.stderr
    );
    // Where Kustomizations cannot be listed in all namespaces, the view says what it leaves out.
    sb.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "kustomize.toolkit.fluxcd.io".into(),
        resource: "kustomizations".into(),
        namespace: Some("".into()),
        name: None,
    });
    let r = jobgate(&sb, "dependents", &["status", "-n", "infra"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        "note: dependents in other namespaces are not shown: listing Kustomizations in all namespaces is not allowed (or failed)"
    );
}

/// Ctrl-C between the delete and the reconcile request (the Job still held
/// by a finalizer): the stop says what was deleted, the cluster agrees, and
/// the printed command brings the Job back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_after_the_delete_says_what_was_deleted_and_the_command_recovers() {
    let sb = live("canonical", 100.0).await;
    let uid = uid_of(&sb, "db-migration");
    hold(&sb, Some("example.com/hold"));
    let (child, mut stderr) = spawn(
        &sb,
        "ctrl-c-after",
        &["rerun", "app-pre-deploy", "-n", "apps", "--yes"],
    );
    let seen = stderr_until(&mut stderr, "held by finalizer").await;
    interrupt(&child).await;
    let (code, stderr) = ended(child, stderr, seen).await;
    assert_eq!(code, 130, "{stderr}");
    let last = stderr.lines().last().unwrap_or("");
    let recover = "kubectl jobgate reconcile app-pre-deploy -n apps";
    assert_eq!(
        last,
        format!(
            "stopped after deleting job.batch/db-migration in apps before requesting a reconcile: Flux recreates them only at its next reconcile of apps/app-pre-deploy; recover now with `{recover}`"
        )
    );
    // The cluster agrees: marked for deletion, no reconcile requested.
    let held = job(&sb, "db-migration").unwrap();
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    assert!(
        !sb.requests().iter().any(|q| q.verb == "patch"),
        "no reconcile was requested"
    );
    // Released, and the printed command recovers.
    hold(&sb, None);
    let argv: Vec<&str> = recover.split(' ').skip(2).collect();
    let r = jobgate(&sb, "ctrl-c-after", &argv).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let new = job(&sb, "db-migration").unwrap();
    assert_ne!(new["metadata"]["uid"].as_str().unwrap(), uid);
    assert_eq!(new["status"]["succeeded"], 1);
}

/// The read-only role cannot patch: `wait --nudge` exited 2 on the nudge's
/// 403. A nudge is a shortcut; without it Flux's dependency poll gets there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nudge_that_is_forbidden_is_a_warning_and_the_wait_goes_on() {
    let sb = live("canonical", 20.0).await;
    let revision = push_and_fetch(&sb);
    sb.add_fault(Fault::Deny {
        verb: "patch".into(),
        group: "kustomize.toolkit.fluxcd.io".into(),
        resource: "kustomizations".into(),
        namespace: None,
        name: None,
    });
    let target = format!("revision={revision}");
    let r = jobgate(
        &sb,
        "nudge-403",
        &[
            "wait",
            "app-post-deploy",
            "--nudge",
            "--for",
            &target,
            "--timeout",
            "25s",
        ],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("◎ apps/app-deploy: cannot nudge it (forbidden: ")
            && r.stderr
                .contains("waiting for Flux's dependency poll instead"),
        "{}",
        r.stderr
    );
}
