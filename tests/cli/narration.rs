//! What the commands say while they work: one event per change, as text
//! lines, as JSON Lines (`--progress json`), or on a terminal with a live
//! status line; and a followed Job's failing attempts are said, not silent.

use serde_json::Value;

use super::actions::live;
use super::{BIN, command, jobgate, run};

/// The events of a `--progress json` run: every stderr line is one document.
fn events(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A demo rerun of a failing migration sat for minutes with nothing said
/// while the Job retried: each failed attempt is now an event, with the
/// pod's exit code, before the stage's failure; `--progress json` gives CI
/// all of it as JSON Lines, ending with the exit code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrying_job_says_each_failed_attempt_and_json_progress_carries_it() {
    let sb = live("failed", 300.0).await;
    let r = jobgate(
        &sb,
        "attempts",
        &["rerun", "app-pre-deploy", "--yes", "--progress", "json"],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let events = events(&r.stderr);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"jobDeleted"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"exit"));
    assert_eq!(events.last().unwrap()["code"], 1);
    let attempts: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "jobAttemptFailed")
        .collect();
    // One event per failed pod, in order (the 5m health check ends it before
    // the seventh at the Job's doubling back-off).
    let numbers: Vec<i64> = attempts
        .iter()
        .filter_map(|e| e["attempt"].as_i64())
        .collect();
    assert!(numbers.len() >= 3, "{}", r.stderr);
    assert_eq!(
        numbers,
        (1..=numbers.len() as i64).collect::<Vec<_>>(),
        "{}",
        r.stderr
    );
    for a in &attempts {
        assert_eq!(
            (&a["job"], &a["attempts"], &a["exitCode"]),
            (&"apps/db-migration".into(), &7.into(), &1.into()),
            "{a}"
        );
    }
    let failed = events
        .iter()
        .position(|e| e["event"] == "stageFailed")
        .expect("the stage's failure");
    assert!(
        events[failed..]
            .iter()
            .all(|e| e["event"] != "jobAttemptFailed"),
        "attempts come before the failure: {}",
        r.stderr
    );

    // As text, the same attempts read as lines.
    let sb = live("failed", 300.0).await;
    let r = jobgate(&sb, "attempts", &["rerun", "app-pre-deploy", "--yes"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l.starts_with(
            "◎ apps/app-pre-deploy: Job apps/db-migration: attempt 2/7 failed: exit 1 (Error) (pod db-migration-"
        ) && l.ends_with("; the Job retries")),
        "{}",
        r.stderr
    );
}

/// On a terminal, a long wait is a live line (spinner, time, what is
/// awaited) that gives way to the same lines a log gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_shows_a_live_status_line_that_leaves_the_plain_lines() {
    let sb = live("canonical", 20.0).await;
    let mut cmd = command(
        "script",
        sb.kubeconfig(),
        "live",
        &[
            "-q",
            "-e",
            "-c",
            &format!("{BIN} rerun app-pre-deploy --yes 2>&1 >/dev/null"),
            "/dev/null",
        ],
    );
    cmd.env("COLUMNS", "120");
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stdout);
    let shown = r.stdout;
    assert!(
        shown.contains("\r\u{1b}[2K") && shown.contains("◎ apps/app-pre-deploy: Progressing"),
        "{shown:?}"
    );
    assert!(
        ['⠋', '⠙', '⠹'].iter().any(|c| shown.contains(*c)),
        "a spinner: {shown:?}"
    );
    // What stays once each live line is taken away: the plain narration.
    let mut kept = String::new();
    for part in shown.split("\r\u{1b}[2K") {
        if let Some(i) = part.rfind('\n') {
            kept.push_str(&part[..=i]);
        }
    }
    let kept = kept.replace('\r', "");
    assert!(
        kept.starts_with("✔ deleted job.batch/db-migration in apps"),
        "{kept}"
    );
    assert!(
        kept.contains("► apps/app-pre-deploy: reconcile requested\n"),
        "{kept}"
    );
    assert!(
        kept.ends_with("✔ apps/app-pre-deploy: ready at main@sha1:9f1e2d3c\n"),
        "{kept}"
    );
    assert!(!kept.contains('⠋'), "no spinner left behind: {kept}");
}

/// `-v` logs through `tracing` into the same narration: jobgate's requests
/// as `jobgate:` lines (JSON `log` events with --progress json); `-vv` adds
/// the kube client's own records, which went nowhere before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_logs_are_narration_and_vv_shows_the_clients_records() {
    let sb = super::sandbox("canonical").await;
    let json = jobgate(
        &sb,
        "logs",
        &["status", "-v", "--progress", "json", "-o", "name"],
    )
    .await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let events = events(&json.stderr);
    assert!(
        events.iter().any(|e| e["event"] == "log"
            && e["target"] == "jobgate"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("listed kustomizations in namespace apps"))),
        "{}",
        json.stderr
    );
    let text = jobgate(&sb, "logs", &["status", "-vv", "-o", "name"]).await;
    assert!(
        text.stderr.lines().any(|l| l.starts_with("kube_client")),
        "{}",
        text.stderr
    );
    let quiet = jobgate(&sb, "logs", &["status", "-o", "name"]).await;
    assert_eq!(quiet.stderr, "", "nothing without -v");
}
