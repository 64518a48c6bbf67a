//! Black-box tests: the built `kubectl-jobgate` binary against the sandbox over
//! HTTPS with a generated kubeconfig, and through the real kubectl as a plugin.
//! Every exit code of `status` is asserted here; `actions` covers reconcile,
//! rerun and wait against the simulated controllers; `krew` the packaging.

mod actions;
mod diagnose;
mod gate;
mod inspect;
mod krew;
mod matrix;
mod narration;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use jobgate_sandbox::{Fault, Sandbox, Scenario};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// No step may take longer; a hang fails the test instead of stalling CI.
const STEP: Duration = Duration::from_secs(30);
const BIN: &str = env!("CARGO_BIN_EXE_kubectl-jobgate");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn home(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobgate-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn command(program: &str, kubeconfig: &Path, test: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home(test))
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Runs a command to completion; if it hangs, fails the test showing what it had printed.
async fn run(mut cmd: Command) -> Run {
    use tokio::io::AsyncReadExt;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command runs");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let finished = tokio::time::timeout(STEP, async {
        let (a, b) = tokio::join!(out.read_to_end(&mut stdout), err.read_to_end(&mut stderr));
        a.and(b).expect("the output is readable");
        child.wait().await.expect("the command ends")
    })
    .await;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match finished {
        Ok(status) => Run {
            code: status.code().unwrap_or(-1),
            stdout: text(&stdout),
            stderr: text(&stderr),
        },
        Err(_) => panic!(
            "the command hung; its stderr so far:\n{}\nstdout:\n{}",
            text(&stderr),
            text(&stdout)
        ),
    }
}

async fn jobgate(sb: &Sandbox, test: &str, args: &[&str]) -> Run {
    run(command(BIN, sb.kubeconfig(), test, args)).await
}

async fn sandbox(name: &str) -> Sandbox {
    Sandbox::start(Scenario::builtin(name).unwrap())
        .await
        .unwrap()
}

/// `status --watch -o json` against `sb`, and its stdout as lines.
fn watch_json(
    sb: &Sandbox,
    test: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) {
    let mut child = command(
        BIN,
        sb.kubeconfig(),
        test,
        &["status", "--watch", "-o", "json"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .expect("the command runs");
    let stdout = child.stdout.take().expect("stdout is piped");
    (child, BufReader::new(stdout).lines())
}

/// The next JSON Lines document a watching command prints; fails the test
/// if none comes within a step.
async fn next_document(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> Value {
    let line = tokio::time::timeout(STEP, lines.next_line())
        .await
        .expect("a document arrives")
        .expect("stdout is readable")
        .expect("stdout is still open");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Sends SIGINT, as Ctrl-C does.
async fn interrupt(child: &tokio::process::Child) {
    let pid = child.id().expect("the command runs").to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(sent.success());
}

/// Ctrl-C, then the exit code once the command has ended (within a step).
async fn interrupted(child: &mut tokio::process::Child) -> Option<i32> {
    interrupt(child).await;
    tokio::time::timeout(STEP, child.wait())
        .await
        .expect("the command ends after Ctrl-C")
        .expect("the command's status")
        .code()
}

fn stage_states(report: &Value) -> Vec<(String, String)> {
    report["chains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["stages"].as_array().unwrap())
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_chain_in_every_format() {
    let sb = sandbox("canonical").await;
    let table = jobgate(&sb, "formats", &["status"]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table
            .stdout
            .starts_with("CHAIN apps/app-pre-deploy  ✔ UpToDate\n"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("└─ job/db-migration"),
        "{}",
        table.stdout
    );
    assert!(
        !table.stdout.contains('\u{1b}'),
        "no colour when not on a terminal"
    );
    assert_eq!(table.stderr, "");

    let json = jobgate(&sb, "formats", &["status", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (report["apiVersion"].as_str(), report["kind"].as_str()),
        (Some("jobgate.dev/v1"), Some("ChainReport"))
    );
    assert_eq!(
        stage_states(&report),
        [
            ("app-pre-deploy", "upToDate"),
            ("app-deploy", "upToDate"),
            ("app-post-deploy", "upToDate")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let yaml = jobgate(&sb, "formats", &["status", "-o", "yaml"]).await;
    assert!(
        yaml.stdout.contains("apiVersion: jobgate.dev/v1") && yaml.stdout.contains("role: pre"),
        "{}",
        yaml.stdout
    );
    let wide = jobgate(&sb, "formats", &["status", "-o", "wide"]).await;
    assert!(
        wide.stdout.contains("SOURCE") && wide.stdout.contains("GitRepository/my-app"),
        "{}",
        wide.stdout
    );
    let tree = jobgate(&sb, "formats", &["status", "-o", "tree"]).await;
    assert!(
        tree.stdout
            .starts_with("apps/app-pre-deploy [pre] ✔ UpToDate"),
        "{}",
        tree.stdout
    );
    let mermaid = jobgate(&sb, "formats", &["status", "-o", "mermaid"]).await;
    assert!(
        mermaid.stdout.starts_with("flowchart LR\n")
            && mermaid
                .stdout
                .contains("apps_app_pre_deploy --> apps_app_deploy"),
        "{}",
        mermaid.stdout
    );
    let names = jobgate(&sb, "formats", &["status", "-o", "name"]).await;
    assert_eq!(
        names.stdout,
        "kustomization.kustomize.toolkit.fluxcd.io/app-pre-deploy\nkustomization.kustomize.toolkit.fluxcd.io/app-deploy\nkustomization.kustomize.toolkit.fluxcd.io/app-post-deploy\n"
    );
    let bare = jobgate(&sb, "formats", &["status", "--no-headers"]).await;
    assert!(
        !bare.stdout.contains("CHAIN") && !bare.stdout.contains("REVISION"),
        "{}",
        bare.stdout
    );
    let coloured = jobgate(&sb, "formats", &["status", "--color", "always"]).await;
    assert!(coloured.stdout.contains('\u{1b}'), "{}", coloured.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_chain_exits_1_and_names_the_culprit() {
    let sb = sandbox("failed").await;
    let r = jobgate(&sb, "failed", &["status"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("✗ apps/app-pre-deploy: Job apps/db-migration failed: BackoffLimitExceeded"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "◎ apps/app-post-deploy: blocked by apps/app-pre-deploy (Failed): Job apps/db-migration"
        ),
        "{}",
        r.stdout
    );
    let json = jobgate(&sb, "failed", &["status", "-o", "json"]).await;
    assert_eq!(json.code, 1);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        report["chains"][0]["stages"][1]["blockedBy"]["job"],
        "apps/db-migration"
    );
    // The failed Job's log tail, in the table and in the report.
    assert!(
        r.stdout
            .contains("      │ ERROR: relation \"users_v2\" does not exist\n"),
        "{}",
        r.stdout
    );
    assert_eq!(
        report["chains"][0]["stages"][0]["jobs"][0]["logTail"],
        json!([
            "starting db migration",
            "applying 0042_add_users_v2_index",
            "ERROR: relation \"users_v2\" does not exist",
            "migration failed, rolling back"
        ])
    );
}

/// On a real cluster the kubelet's log endpoint was out of reach: the log tail
/// vanished from `status` without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_be_read_says_why() {
    let sb = sandbox("failed").await;
    sb.add_fault(Fault::KubeletUnreachable);
    let r = jobgate(&sb, "nolog", &["status"]).await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("no log:"))
        .unwrap_or_else(|| panic!("a line says why there is no log:\n{}", r.stdout));
    assert!(
        line.starts_with("      no log: the log of pod db-migration-")
            && line.ends_with(":10250: connect: connection refused"),
        "{line}"
    );
    let json = jobgate(&sb, "nolog", &["status", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    let job = &report["chains"][0]["stages"][0]["jobs"][0];
    assert!(job["logTail"].is_null());
    assert!(
        job["logUnavailable"]
            .as_str()
            .is_some_and(|w| w.contains("dial tcp")),
        "{job}"
    );
}

/// Real Flux notices a failed Job at its next health-check poll, seconds
/// later; `status` run in between showed the failure without its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_shows_its_log_before_flux_concludes() {
    let sb = sandbox("failed").await;
    sb.merge_patch(
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "apps",
        "app-pre-deploy",
        &json!({"status": {"conditions": [
            {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "Reconciliation in progress",
             "observedGeneration": 2, "lastTransitionTime": "2026-08-21T06:02:10Z"},
            {"type": "Reconciling", "status": "True", "reason": "Progressing", "observedGeneration": 2,
             "message": "Running health checks for revision main@sha1:5a7c3e1f9d2b4a6c8e0f1a3b5c7d9e1f2a4b6c8d with a timeout of 5m0s",
             "lastTransitionTime": "2026-08-21T06:02:10Z"}]}}),
        true,
    )
    .unwrap();
    let r = jobgate(&sb, "early", &["status"]).await;
    // A failed Job is not healthy, whatever Flux has concluded yet (exit 0 on real Flux).
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("Progressing")
            && r.stdout.contains(
                "✗ apps/app-pre-deploy: Job apps/db-migration failed: BackoffLimitExceeded"
            )
            && r.stdout
                .contains("      │ ERROR: relation \"users_v2\" does not exist\n"),
        "{}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_names_and_constant_requests() {
    let sb = Sandbox::start(Scenario::builtin("multi-app").unwrap())
        .await
        .unwrap();
    // The kubeconfig's namespace (shop) by default.
    let shop = jobgate(&sb, "ns", &["status", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&shop.stdout).unwrap();
    assert_eq!(report["chains"].as_array().unwrap().len(), 1);
    assert_eq!(
        shop.code, 0,
        "shop is progressing, not failed: {}",
        shop.stderr
    );

    // -n billing reaches into infra for its cross-namespace dependency.
    sb.clear_requests();
    let billing = jobgate(&sb, "ns", &["status", "-n", "billing", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&billing.stdout).unwrap();
    let keys: Vec<String> = report["chains"][0]["stages"]
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
        keys,
        [
            "infra/database",
            "billing/billing-pre-deploy",
            "billing/billing-deploy"
        ]
    );
    let mut lists: Vec<String> = sb
        .requests()
        .iter()
        .filter(|r| r.verb == "list")
        .map(|r| format!("{} {}", r.resource, r.namespace))
        .collect();
    lists.sort();
    // Round one: the scope's Kustomizations, Jobs and usual sources, and every
    // namespace's Kustomizations (dependents name no namespace) at once; then
    // the GitRepository of infra, which the chain reached.
    assert_eq!(
        lists,
        [
            "gitrepositories billing",
            "gitrepositories infra",
            "jobs billing",
            "kustomizations ",
            "kustomizations billing",
            "ocirepositories billing",
        ],
        "one request per resource and namespace reached, none per object"
    );

    let all = jobgate(&sb, "ns", &["status", "-A", "-o", "json"]).await;
    assert_eq!(all.code, 1, "legacy and reports are blocked");
    let report: Value = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(report["chains"].as_array().unwrap().len(), 5);

    let named = jobgate(
        &sb,
        "ns",
        &["status", "-n", "legacy", "legacy-worker", "-o", "name"],
    )
    .await;
    assert_eq!(named.stdout.lines().count(), 2, "{}", named.stdout);

    let unknown = jobgate(&sb, "ns", &["status", "shop-deplyo"]).await;
    assert_eq!(unknown.code, 2);
    assert_eq!(
        unknown.stderr.trim(),
        "error: Kustomization \"shop-deplyo\" not found in namespace \"shop\" (did you mean \"shop-deploy\"?). List them with `kubectl get kustomizations -A`, or pass -n NAMESPACE"
    );
    assert_eq!(unknown.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_needs_the_same_requests_as_one_app() {
    let sb = Sandbox::start(Scenario::scale(300)).await.unwrap();
    let r = jobgate(&sb, "scale", &["status", "-A", "-o", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["chains"].as_array().unwrap().len(), 300);
    let lists: Vec<_> = sb
        .requests()
        .into_iter()
        .filter(|r| !r.verb.is_empty())
        .collect();
    let mut resources: Vec<&str> = lists.iter().map(|r| r.resource.as_str()).collect();
    resources.sort();
    assert_eq!(
        resources,
        [
            "gitrepositories",
            "jobs",
            "kustomizations",
            "ocirepositories"
        ],
        "one round, as for one app"
    );
    assert!(lists.iter().all(|r| r.verb == "list" && r.code == 200));
}

/// kube-apiserver writes a custom-resource list's `continue` token after the
/// items; reading the first `metadata` found lost it, and with it every page
/// after the first (5,000 of 15,003 Kustomizations on a real cluster). Lists
/// are read whole unless `--chunk-size` asks for pages, as kubectl's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resource_lists_are_read_past_the_first_page() {
    let sb = Sandbox::start(Scenario::scale(1_700)).await.unwrap();
    for (args, pages) in [
        (&["--chunk-size", "5000"][..], "5100 items, 2 page(s)"),
        (&["--chunk-size", "0"][..], "5100 items, 1 page(s)"),
        (&[][..], "5100 items, 1 page(s)"),
    ] {
        let r = jobgate(
            &sb,
            "pages",
            &[&["status", "-A", "-o", "json", "-v"][..], args].concat(),
        )
        .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let report: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            report["chains"].as_array().unwrap().len(),
            1_700,
            "{args:?}"
        );
        assert!(
            r.stderr.contains(&format!(
                "listed kustomizations in all namespaces ({pages})"
            )),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_without_flux_is_a_clear_error() {
    let sb = sandbox("no-flux").await;
    let r = jobgate(&sb, "noflux", &["status"]).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(
            "error: Flux Kustomization CRD not found: is Flux installed in this cluster?"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one paragraph: {}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_jobs_in_one_namespace_leave_a_reported_gap() {
    let sb = sandbox("failed").await;
    sb.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "batch".into(),
        resource: "jobs".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    let r = jobgate(&sb, "forbidden", &["status", "-o", "json"]).await;
    assert_eq!(r.code, 1, "the chain is still known to be failed");
    assert!(r.stderr.starts_with("warning: cannot list jobs in namespace apps: forbidden: jobs.batch is forbidden: User \"sandbox-admin\" cannot list resource \"jobs\""), "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        report["chains"][0]["stages"][0]["jobs"][0]["phase"],
        "unknown"
    );
    assert!(
        report["warnings"][0]
            .as_str()
            .unwrap()
            .contains("forbidden")
    );

    let healthy = sandbox("canonical").await;
    healthy.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "batch".into(),
        resource: "jobs".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    let partial = jobgate(&healthy, "forbidden", &["status"]).await;
    assert_eq!(
        partial.code, 2,
        "healthy as far as readable, but Jobs unknown"
    );
    assert!(partial.stdout.contains("Unknown"), "{}", partial.stdout);
    // A partial view is not a healthy one: the chain is not headed "✔ UpToDate".
    assert!(
        partial
            .stdout
            .starts_with("CHAIN apps/app-pre-deploy  ? Unknown"),
        "{}",
        partial.stdout
    );

    healthy.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "kustomize.toolkit.fluxcd.io".into(),
        resource: "kustomizations".into(),
        namespace: None,
        name: None,
    });
    let denied = jobgate(&healthy, "forbidden", &["status"]).await;
    assert_eq!(denied.code, 2);
    assert!(denied.stderr.starts_with("error: forbidden: kustomizations.kustomize.toolkit.fluxcd.io is forbidden: User \"sandbox-admin\" cannot list resource \"kustomizations\""), "{}", denied.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried_and_credentials_errors_explained() {
    let sb = sandbox("canonical").await;
    sb.add_fault(Fault::Fail {
        path: "/apis/batch/v1/*".into(),
        method: None,
        count: 2,
        status: 503,
        retry_after: Some(0),
    });
    let r = jobgate(&sb, "faults", &["status"]).await;
    assert_eq!(r.code, 0, "503s are retried: {}", r.stderr);

    sb.add_fault(Fault::ExpireToken);
    let expired = jobgate(&sb, "faults", &["status"]).await;
    assert_eq!(expired.code, 2);
    assert!(
        expired
            .stderr
            .contains("rejected the credentials (401 Unauthorized): they may have expired"),
        "{}",
        expired.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_exit_2() {
    let dir = home("config");
    let missing = dir.join("nope");
    let r = run(command(BIN, &missing, "config", &["status"])).await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .starts_with("error: none of the files KUBECONFIG lists exists"),
        "{}",
        r.stderr
    );

    // A cluster that is not there: refused at once, or cut by --request-timeout.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let kc = dir.join("unreachable");
    std::fs::write(&kc, format!("apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n")).unwrap();
    let r = run(command(
        BIN,
        &kc,
        "config",
        &["status", "--request-timeout", "2s"],
    ))
    .await;
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(&format!(
            "error: cannot reach the cluster at https://127.0.0.1:{port}"
        )),
        "{}",
        r.stderr
    );

    let sb = sandbox("canonical").await;
    let bad_context = jobgate(&sb, "config", &["status", "--context", "prod"]).await;
    assert_eq!(
        (bad_context.code, bad_context.stderr.trim()),
        (
            2,
            "error: context \"prod\" not found in the kubeconfig: see `kubectl config get-contexts`"
        )
    );
    let bad_flag = jobgate(&sb, "config", &["status", "--output", "xml"]).await;
    assert_eq!(bad_flag.code, 2);
    let bad_timeout = jobgate(&sb, "config", &["status", "--timeout", "soon"]).await;
    assert_eq!(
        (
            bad_timeout.code,
            bad_timeout
                .stderr
                .starts_with("error: invalid value 'soon' for '--timeout <DURATION>': invalid duration \"soon\": use seconds (30) or a number with a unit (30s, 5m, 1h30m)")
        ),
        (2, true)
    );
    // One Kustomization, one namespace: refused before anything is read.
    sb.clear_requests();
    let all = jobgate(&sb, "config", &["reconcile", "app-deploy", "-A"]).await;
    assert_eq!(
        (all.code, all.stderr.trim()),
        (
            2,
            "error: reconcile acts on one Kustomization, not on all namespaces: give its namespace with -n instead of -A"
        )
    );
    assert!(sb.requests().is_empty(), "{:?}", sb.requests());
    let help = jobgate(&sb, "config", &["status", "--help"]).await;
    assert_eq!(help.code, 0);
    assert!(
        help.stdout.contains("Exit codes:")
            || jobgate(&sb, "config", &["--help"])
                .await
                .stdout
                .contains("Exit codes:")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_namespace_says_so_on_stderr() {
    let sb = sandbox("canonical").await;
    let r = jobgate(&sb, "empty", &["status", "-n", "nothing-here"]).await;
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(
        r.stderr,
        "No Flux Kustomizations found in nothing-here namespace.\n"
    );
    let json = jobgate(
        &sb,
        "empty",
        &["status", "-n", "nothing-here", "-o", "json"],
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&json.stdout).unwrap()["chains"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_json_lines_and_ctrl_c_exits_130() {
    let sb = sandbox("canonical").await;
    let (mut child, mut lines) = watch_json(&sb, "watch");
    let first = next_document(&mut lines).await;
    assert_eq!(
        first["chains"][0]["stages"][0]["jobs"][0]["phase"],
        "succeeded"
    );

    // A change made through the API shows up as the next document.
    let status = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "Job was active longer than specified deadline"}]}});
    sb.merge_patch("batch", "jobs", "apps", "db-migration", &status, true)
        .unwrap();
    let next: Value = loop {
        let v = next_document(&mut lines).await;
        if v["chains"][0]["stages"][0]["jobs"][0]["phase"] == "failed" {
            break v;
        }
    };
    assert_eq!(
        next["chains"][0]["stages"][0]["jobs"][0]["reason"],
        "DeadlineExceeded"
    );

    assert_eq!(interrupted(&mut child).await, Some(130));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_exits_3() {
    let sb = sandbox("canonical").await;
    let r = jobgate(
        &sb,
        "timeout",
        &["status", "--watch", "--timeout", "1s", "-o", "json"],
    )
    .await;
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: timed out after 1s"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_pipe_exits_0_quietly() {
    let sb = Sandbox::start(Scenario::scale(300)).await.unwrap();
    let mut child = command(
        BIN,
        sb.kubeconfig(),
        "pipe",
        &["status", "-A", "-o", "yaml"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Read one line, then hang up, like `| head -1`.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(STEP, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    drop(lines);
    let out = tokio::time::timeout(STEP, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_as_a_kubectl_plugin() {
    let sb = sandbox("failed").await;
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let r = run({
        let mut c = command(
            "kubectl",
            sb.kubeconfig(),
            "plugin",
            &["jobgate", "status", "-o", "json"],
        );
        c.env("PATH", path);
        c
    })
    .await;
    assert_eq!(
        r.code, 1,
        "kubectl passes the plugin's exit code through: {}",
        r.stderr
    );
    let report: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["chains"][0]["state"], "failed");
}

/// Flux's plugin catalog installs the same binary as `flux-jobgate`, run as
/// `flux jobgate`: its usage, examples and hints name what the user typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_flux_jobgate_it_speaks_as_flux_jobgate() {
    let sb = sandbox("canonical").await;
    let dir = home("flux-plugin").join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let flux_jobgate = dir.join(format!("flux-jobgate{}", std::env::consts::EXE_SUFFIX));
    std::fs::copy(BIN, &flux_jobgate).unwrap();
    let as_flux = |args: &[&str]| {
        run(command(
            flux_jobgate.to_str().unwrap(),
            sb.kubeconfig(),
            "flux-plugin",
            args,
        ))
    };
    let help = as_flux(&["rerun", "--help"]).await;
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(
        help.stdout
            .contains("Usage: flux jobgate rerun [OPTIONS] <NAME>")
            && help
                .stdout
                .contains("\n  flux jobgate rerun app-pre-deploy -n apps\n"),
        "{}",
        help.stdout
    );
    let hint = as_flux(&["logs", "app-deploy"]).await;
    assert!(
        hint.stderr
            .contains("`flux jobgate status app-deploy` says why")
            && hint
                .stderr
                .contains("`flux jobgate events app-deploy -n apps`"),
        "{}",
        hint.stderr
    );
    let usage = as_flux(&["status", "--bogus"]).await;
    assert_eq!(usage.code, 2, "{}", usage.stderr);
    assert!(
        usage.stderr.contains("Usage: flux jobgate status"),
        "{}",
        usage.stderr
    );
    // Its completion scripts are flux-jobgate's, and `flux jobgate <TAB>` is Flux's own.
    let completion = as_flux(&["completion", "--help"]).await;
    assert!(
        completion.stdout.contains("source <(flux completion bash)")
            && completion.stdout.contains("flux-jobgate completion zsh"),
        "{}",
        completion.stdout
    );
    let fish = as_flux(&["completion", "fish"]).await;
    assert!(
        fish.stdout.contains("complete -c flux-jobgate "),
        "{}",
        &fish.stdout[..fish.stdout.len().min(300)]
    );
    for r in [&help, &hint, &usage, &completion, &fish] {
        assert!(
            !r.stdout.contains("kubectl jobgate")
                && !r.stdout.contains("kubectl-jobgate")
                && !r.stderr.contains("kubectl jobgate")
        );
    }
    // The same binary by its own name is kubectl's.
    let kubectl = jobgate(&sb, "flux-plugin", &["rerun", "--help"]).await;
    assert!(
        kubectl.stdout.contains("Usage: kubectl jobgate rerun"),
        "{}",
        kubectl.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_credentials_and_merged_kubeconfigs() {
    let sb = sandbox("canonical").await;
    let dir = home("exec");
    let ca = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(sb.ca_pem().unwrap())
    };
    // An exec credential plugin, as EKS/GKE/AKS use: it prints the token.
    let plugin = dir.join("credential-plugin");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{}\"}}}}'\n",
            sb.token()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let first = dir.join("first");
    std::fs::write(
        &first,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: sandbox\nclusters: [{{name: sb, cluster: {{server: '{}', certificate-authority-data: {ca}}}}}]\n\
             users: [{{name: exec, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: '{}', interactiveMode: Never}}}}}}]\n\
             contexts: [{{name: sandbox, context: {{cluster: sb, user: exec, namespace: apps}}}}]\n",
            sb.url(),
            plugin.display()
        ),
    )
    .unwrap();
    // A second file that would point elsewhere: the first file's values win.
    let second = dir.join("second");
    std::fs::write(
        &second,
        "apiVersion: v1\nkind: Config\ncurrent-context: elsewhere\nclusters: [{name: sb, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: exec, user: {token: wrong}}]\ncontexts: [{name: elsewhere, context: {cluster: sb, user: exec, namespace: other}}]\n",
    )
    .unwrap();
    let merged = std::env::join_paths([&first, &second]).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["status", "-o", "name"])
        .env("KUBECONFIG", &merged)
        .env("HOME", &dir)
        .kill_on_drop(true);
    let r = run(cmd).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout.lines().count(),
        3,
        "the first file's context, namespace and exec user: {}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_scripts_and_the_plugin_protocol() {
    let sb = Sandbox::start(Scenario::builtin("multi-app").unwrap())
        .await
        .unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef kubectl-jobgate"),
        ("fish", "complete -c kubectl-jobgate"),
    ] {
        let r = jobgate(&sb, "completion", &["completion", shell]).await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout.contains(marker) && r.stdout.contains("rerun"),
            "{shell}: {}",
            &r.stdout[..r.stdout.len().min(300)]
        );
    }
    let subcommands = jobgate(&sb, "completion", &["__complete", "re"]).await;
    assert_eq!(
        subcommands.stdout,
        "reconcile\tAsk Flux to reconcile a Kustomization now, and wait until it has applied its source's revision\nrerun\tRe-run the Jobs of a Kustomization, safely\n:4\n"
    );
    let flags = jobgate(&sb, "completion", &["__complete", "rerun", "--dr"]).await;
    assert_eq!(
        flags.stdout,
        "--dry-run\tSay what would be deleted, and do nothing\n:4\n"
    );
    let names = jobgate(
        &sb,
        "completion",
        &["__complete", "-n", "billing", "status", ""],
    )
    .await;
    assert_eq!(names.stdout, "billing-deploy\nbilling-pre-deploy\n:4\n");
    let default_ns = jobgate(&sb, "completion", &["__complete", "wait", "shop-"]).await;
    assert_eq!(
        default_ns.stdout, "shop-deploy\nshop-post-deploy\nshop-pre-deploy\n:4\n",
        "the kubeconfig's namespace"
    );
    let doctor = jobgate(&sb, "completion", &["__complete", "doctor", "shop-d"]).await;
    assert_eq!(doctor.stdout, "shop-deploy\n:4\n");
    let lint = jobgate(&sb, "completion", &["__complete", "lint", ""]).await;
    assert_eq!(
        lint.stdout, ":0\n",
        "lint takes a directory: the shell completes paths"
    );
    let namespaces = jobgate(
        &sb,
        "completion",
        &["__complete", "status", "--namespace", "in"],
    )
    .await;
    assert_eq!(namespaces.stdout, "infra\n:4\n");
    let formats = jobgate(&sb, "completion", &["__complete", "status", "-o", "y"]).await;
    assert_eq!(formats.stdout, "yaml\n:4\n");
    // No cluster: no names, no error, still the directive.
    let nowhere = run(command(
        BIN,
        &home("completion").join("missing"),
        "completion",
        &["__complete", "status", ""],
    ))
    .await;
    assert_eq!(
        (
            nowhere.code,
            nowhere.stdout.as_str(),
            nowhere.stderr.as_str()
        ),
        (0, ":4\n", "")
    );
}

/// The bash script, sourced by a real bash, completes a subcommand's flags for
/// the binary under either of its names (clap_complete alone completes none
/// for a name with a hyphen: clap-rs/clap#6421), and the subcommands.
#[test]
fn the_bash_script_completes_subcommands_and_their_flags_under_either_name() {
    let dir = home("bash-completion");
    std::fs::create_dir_all(&dir).unwrap();
    let flux_jobgate = dir.join("flux-jobgate");
    std::fs::copy(BIN, &flux_jobgate).unwrap();
    for (program, name) in [
        (std::path::PathBuf::from(BIN), "kubectl-jobgate"),
        (flux_jobgate, "flux-jobgate"),
    ] {
        let script = std::process::Command::new(&program)
            .args(["completion", "bash"])
            .output()
            .unwrap();
        assert!(
            script.status.success(),
            "{}",
            String::from_utf8_lossy(&script.stderr)
        );
        let file = dir.join(format!("{name}.bash"));
        std::fs::write(&file, &script.stdout).unwrap();
        // What bash does on <TAB>: the function `complete -p NAME` registered, called
        // with the command, the word being completed and the one before it.
        let tab = |words: &str| {
            let probe = format!(
                "source {file}; fn=$(complete -p {name} | sed 's/.*-F \\([^ ]*\\).*/\\1/'); \
                 COMP_WORDS=({name} {words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
                 $fn {name} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
                 echo \"${{COMPREPLY[*]}}\"",
                file = file.display()
            );
            let out = std::process::Command::new("bash")
                .args(["-c", &probe])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert_eq!(tab("re"), "reconcile rerun", "{name}");
        assert_eq!(tab("rerun --dr"), "--dry-run", "{name}");
        assert_eq!(tab("wait --nu"), "--nudge", "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_a_chain_into_a_new_namespace() {
    let sb = Sandbox::start(Scenario::builtin("multi-app").unwrap())
        .await
        .unwrap();
    let mut child = command(
        BIN,
        sb.kubeconfig(),
        "watch-ns",
        &["status", "-n", "billing", "--watch", "-o", "json"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = next_document(&mut lines).await;
    assert_eq!(first["chains"][0]["stages"].as_array().unwrap().len(), 3);

    // A new namespace with a ready stage, and billing now depending on it.
    let api = sb.api();
    api.load(json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "payments-db", "namespace": "payments", "generation": 1},
        "spec": {"interval": "1h0m0s", "path": "./", "sourceRef": {"kind": "GitRepository", "name": "billing", "namespace": "billing"}},
        "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "observedGeneration": 1}]}}))
        .unwrap();
    let depends = json!({"spec": {"dependsOn": [{"name": "database", "namespace": "infra"}, {"name": "payments-db", "namespace": "payments"}]}});
    sb.merge_patch(
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "billing",
        "billing-pre-deploy",
        &depends,
        false,
    )
    .unwrap();

    let seen = tokio::time::timeout(STEP, async {
        loop {
            let v = next_document(&mut lines).await;
            let stages = v["chains"][0]["stages"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if let Some(p) = stages.iter().find(|s| s["namespace"] == "payments")
                && p["state"] != "missing"
            {
                return p.clone();
            }
        }
    })
    .await
    .expect("the new namespace's stage appears, read from the cluster");
    assert_eq!(seen["state"], "ready");
    child.kill().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_verbose_logs_and_table_watch() {
    let sb = sandbox("canonical").await;
    let v = jobgate(&sb, "misc", &["version", "-o", "json"]).await;
    assert_eq!(v.code, 0, "{}", v.stderr);
    let version: Value = serde_json::from_str(&v.stdout).unwrap();
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert!(version["commit"].as_str().is_some_and(|c| !c.is_empty()));
    assert_eq!(
        version["apis"][0],
        json!({"groupVersion": "kustomize.toolkit.fluxcd.io/v1", "kinds": ["Kustomization"]})
    );

    // -v, and kubectl's log level for the requests.
    for v in [&["-v"][..], &["-v=6"], &["--v", "6"]] {
        let verbose = jobgate(&sb, "misc", &[&["status", "-o", "name"][..], v].concat()).await;
        assert_eq!(verbose.code, 0, "{v:?}: {}", verbose.stderr);
        assert!(
            verbose.stderr.lines().any(|l| l.starts_with(
                "jobgate: listed kustomizations in namespace apps (3 items, 1 page(s))"
            )),
            "{v:?}: {}",
            verbose.stderr
        );
    }

    // Not a terminal: each view of --watch follows the last, after a blank line.
    let mut child = command(BIN, sb.kubeconfig(), "misc", &["status", "--watch"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut views = 0;
    let mut changed = false;
    tokio::time::timeout(STEP, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("CHAIN ") {
                views += 1;
                if !changed {
                    sb.merge_patch(
                        "kustomize.toolkit.fluxcd.io",
                        "kustomizations",
                        "apps",
                        "app-deploy",
                        &json!({"spec": {"suspend": true}}),
                        false,
                    )
                    .unwrap();
                    changed = true;
                }
            }
            if views == 2 && line.starts_with("app-deploy") {
                assert!(line.contains("Suspended"), "{line}");
                return;
            }
        }
    })
    .await
    .expect("a second view after the change");
    child.kill().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_error_says_what_to_do() {
    let sb = sandbox("canonical").await;
    // A transient 500 on a read is retried, and said.
    sb.add_fault(Fault::Fail {
        path: "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations".into(),
        method: None,
        count: 1,
        status: 500,
        retry_after: None,
    });
    let r = jobgate(&sb, "server-error", &["status"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stderr.trim(),
        "◎ the API server answered 500 InternalError to list kustomizations in namespace apps: retrying in 500ms (1/5)"
    );
    // A persistent one, after the retries, says what to do.
    sb.add_fault(Fault::Fail {
        path: "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/apps/kustomizations".into(),
        method: None,
        count: 6,
        status: 500,
        retry_after: None,
    });
    let r = jobgate(&sb, "server-error", &["status"]).await;
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr.lines().last().unwrap_or(""),
        "error: the API server answered 500 InternalError: Internal error occurred: injected fault (jobgate-sandbox). \
         It may be overloaded or restarting: try again, and check its health with `kubectl get --raw /readyz`"
    );
}

/// KUBECONFIG as kubectl reads it: a missing file in the list is skipped; a
/// list of only missing files, a garbage file, and --user/--cluster naming
/// nothing in the kubeconfig each say exactly that, before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeconfig_lists_and_names_are_read_as_kubectl_reads_them() {
    let sb = sandbox("canonical").await;
    let dir = home("kubeconfig-list");
    let missing = dir.join("missing.yaml");
    let with_env = |value: &std::ffi::OsStr, args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("KUBECONFIG", value)
            .env("HOME", &dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    };
    let list = std::env::join_paths([missing.as_path(), sb.kubeconfig()]).unwrap();
    let r = run(with_env(&list, &["status", "-o", "name"])).await;
    assert_eq!(
        r.code, 0,
        "a missing file in the list is skipped: {}",
        r.stderr
    );
    assert_eq!(r.stdout.lines().count(), 3, "{}", r.stdout);

    let only_missing = std::env::join_paths([missing.as_path()]).unwrap();
    let r = run(with_env(&only_missing, &["status"])).await;
    assert_eq!(
        (r.code, r.stderr.trim().to_string()),
        (
            2,
            format!(
                "error: none of the files KUBECONFIG lists exists ({}): point KUBECONFIG at your kubeconfig, or pass --kubeconfig",
                missing.display()
            )
        )
    );

    let garbage = dir.join("garbage.yaml");
    std::fs::write(&garbage, "clusters: [unclosed\n").unwrap();
    let r = run(command(BIN, &garbage, "kubeconfig-list", &["status"])).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(&format!(
            "error: cannot parse the kubeconfig {}: ",
            garbage.display()
        )),
        "{}",
        r.stderr
    );

    sb.clear_requests();
    let r = jobgate(&sb, "kubeconfig-list", &["status", "--user", "nope"]).await;
    assert_eq!(
        (r.code, r.stderr.trim()),
        (
            2,
            "error: auth info \"nope\" does not exist in the kubeconfig: see `kubectl config get-users`"
        )
    );
    let r = jobgate(&sb, "kubeconfig-list", &["status", "--cluster", "nope"]).await;
    assert_eq!(
        (r.code, r.stderr.trim()),
        (
            2,
            "error: cluster \"nope\" does not exist in the kubeconfig: see `kubectl config get-clusters`"
        )
    );
    assert!(
        sb.requests().is_empty(),
        "nothing sent: {:?}",
        sb.requests()
    );
}

/// Cluster admins find jobgate in the audit log by its User-Agent (none was sent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_names_jobgate_in_its_user_agent() {
    let sb = sandbox("canonical").await;
    let r = jobgate(&sb, "user-agent", &["status"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let agents: std::collections::BTreeSet<String> =
        sb.requests().into_iter().map(|q| q.user_agent).collect();
    assert_eq!(
        agents.into_iter().collect::<Vec<_>>(),
        [format!("kubectl-jobgate/{}", env!("CARGO_PKG_VERSION"))]
    );
}

/// With `-n billing`, infra's stage showed as `database` and billing's own as
/// `billing/…`: exactly the names outside the asked namespace are qualified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_outside_the_asked_namespace_are_the_qualified_ones() {
    let sb = sandbox("multi-app").await;
    // The NAME column of the stages' rows.
    let names = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter(|l| !l.starts_with("CHAIN") && !l.starts_with("└─") && !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().next())
            .map(String::from)
            .collect()
    };
    for (ns, want) in [
        (
            "billing",
            ["infra/database", "billing-pre-deploy", "billing-deploy"],
        ),
        (
            "infra",
            [
                "database",
                "billing/billing-pre-deploy",
                "billing/billing-deploy",
            ],
        ),
    ] {
        let r = jobgate(&sb, "qualified", &["status", "-n", ns, "--no-headers"]).await;
        assert_eq!(names(&r.stdout), want, "-n {ns}:\n{}", r.stdout);
    }
}

/// `-v` says each request: the lists, the writes, and each watch as it (re)lists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_shows_lists_writes_and_watches() {
    let sb = Sandbox::start_with(
        Scenario::builtin("canonical").unwrap(),
        jobgate_sandbox::Options {
            speed: 100.0,
            ..jobgate_sandbox::Options::default()
        },
    )
    .await
    .unwrap();
    let r = jobgate(&sb, "verbose", &["reconcile", "app-pre-deploy", "-v"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    for said in [
        "jobgate: listed kustomizations in namespace apps (3 items, 1 page(s))",
        "jobgate: patch kustomizations apps/app-pre-deploy (reconcile.fluxcd.io/requestedAt=",
        "jobgate: watching kustomizations in namespace apps (listed 3 items)",
        "jobgate: watching jobs in namespace apps (listed ",
    ] {
        assert!(r.stderr.contains(said), "{said:?} in:\n{}", r.stderr);
    }
}

/// `-o yaml -w` printed JSON lines: it writes YAML documents, each after `---`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_in_yaml_writes_yaml_documents() {
    let sb = sandbox("canonical").await;
    let mut child = command(
        BIN,
        sb.kubeconfig(),
        "watch-yaml",
        &["status", "--watch", "-o", "yaml"],
    )
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut first = vec![];
    tokio::time::timeout(STEP, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("warnings:") || (line == "---" && !first.is_empty()) {
                break;
            }
            first.push(line);
            if first.iter().any(|l| l.starts_with("chains:")) && first.len() > 20 {
                break;
            }
        }
    })
    .await
    .expect("a document arrives");
    child.kill().await.ok();
    assert_eq!(first[0], "---", "{first:?}");
    assert_eq!(first[1], "apiVersion: jobgate.dev/v1", "{first:?}");
    assert!(first.iter().any(|l| l == "kind: ChainReport"), "{first:?}");
}

/// `NO_COLOR=1 --color always` printed bare `ESC[m` resets: the flag wins,
/// with whole colours; NO_COLOR alone has no escape at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn color_always_wins_over_no_color_with_whole_colours() {
    let sb = sandbox("canonical").await;
    let mut always = command(
        BIN,
        sb.kubeconfig(),
        "no-color",
        &["status", "--color", "always"],
    );
    always.env("NO_COLOR", "1");
    let r = run(always).await;
    assert!(
        r.stdout.contains("\u{1b}[38;5;10mUpToDate"),
        "{:?}",
        r.stdout
    );
    assert!(!r.stdout.contains("\u{1b}[m"), "{:?}", r.stdout);
    let mut plain = command(BIN, sb.kubeconfig(), "no-color", &["status"]);
    plain.env("NO_COLOR", "1");
    let r = run(plain).await;
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
}

/// `-A` on a terminal opens with the chains counted by state and draws the
/// healthy ones a line each; `--expand` (and a pipe) draw every chain in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_namespaces_on_a_terminal_is_a_summary_then_what_is_wrong() {
    let sb = sandbox("multi-app").await;
    let on_terminal = |args: &str| {
        let mut cmd = command(
            "script",
            sb.kubeconfig(),
            "compact",
            &[
                "-q",
                "-e",
                "-c",
                &format!("{BIN} status -A --color never {args}"),
                "/dev/null",
            ],
        );
        cmd.env("COLUMNS", "200");
        run(cmd)
    };
    let compact = on_terminal("").await;
    let text = compact.stdout.replace('\r', "");
    assert!(
        text.starts_with("5 chains: 1 healthy, 1 failed, 1 blocked, 1 progressing, 1 suspended\n"),
        "{text}"
    );
    assert!(text.contains("\nCHAIN  "), "the compact table: {text}");
    assert!(
        !text.contains("CHAIN nightly/nightly-pre-deploy"),
        "the healthy chain is one line: {text}"
    );
    assert!(
        text.contains("CHAIN shop/shop-pre-deploy  ◎ Progressing"),
        "{text}"
    );

    let expanded = on_terminal("--expand").await;
    let text = expanded.stdout.replace('\r', "");
    assert!(
        text.contains("CHAIN nightly/nightly-pre-deploy  ✔ UpToDate"),
        "{text}"
    );

    let piped = jobgate(&sb, "compact", &["status", "-A"]).await;
    assert_eq!(
        piped.stdout.matches("CHAIN ").count(),
        5,
        "{}",
        piped.stdout
    );
}

/// `--watch` prints a view only when it changed: a write that changes
/// nothing shown (a label) prints nothing; the next real change prints one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_a_view_only_when_it_changed() {
    let sb = sandbox("canonical").await;
    let (mut child, mut lines) = watch_json(&sb, "watch-same");
    next_document(&mut lines).await;
    for i in 0..3 {
        let label = json!({"metadata": {"labels": {"touched": i.to_string()}}});
        sb.merge_patch("batch", "jobs", "apps", "db-migration", &label, false)
            .unwrap();
        sb.merge_patch(
            "kustomize.toolkit.fluxcd.io",
            "kustomizations",
            "apps",
            "app-deploy",
            &label,
            false,
        )
        .unwrap();
    }
    sb.merge_patch(
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "apps",
        "app-deploy",
        &json!({"spec": {"suspend": true}}),
        false,
    )
    .unwrap();
    let next = next_document(&mut lines).await;
    assert_eq!(
        next["chains"][0]["stages"][1]["state"], "suspended",
        "the first view after the first: the real change, not a copy"
    );
    child.kill().await.ok();
}
