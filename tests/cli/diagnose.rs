//! `doctor` against the sandbox (a clean chain, then each pitfall made live
//! on a fresh cluster) and `lint` against the example repository and broken
//! copies of it, as a user runs them: the built binary, its exit code, its
//! stdout and stderr.

use std::path::{Path, PathBuf};

use jobgate_sandbox::{Fault, Sandbox};
use serde_json::{Value, json};

use super::actions::{live, patch, patch_ks};
use super::{BIN, command, jobgate, run, sandbox};

fn codes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["code"].as_str().unwrap_or("").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_nothing_wrong_with_a_healthy_chain() {
    let sb = sandbox("canonical").await;
    let r = jobgate(&sb, "doctor-clean", &["doctor"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .ends_with("3 stages checked: 0 errors, 0 warnings, 1 info\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.starts_with("info[JG014] dependency-poll-cost: the chain apps/app-pre-deploy has 2 dependency edge(s): up to 1m idle"), "{}", r.stdout);
    let json = jobgate(&sb, "doctor-clean", &["doctor", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&json.stdout).expect("a report");
    assert_eq!(report["apiVersion"], "jobgate.dev/v1");
    assert_eq!(report["kind"], "DoctorReport");
    assert_eq!(codes(&report), ["JG014"]);
    let yaml = jobgate(&sb, "doctor-clean", &["doctor", "-o", "yaml"]).await;
    assert!(
        yaml.stdout.contains("kind: DoctorReport"),
        "{}",
        yaml.stdout
    );
    let refused = jobgate(&sb, "doctor-clean", &["doctor", "-o", "tree"]).await;
    assert_eq!(refused.code, 2);
    assert!(
        refused
            .stderr
            .contains("doctor prints text, or -o json|yaml"),
        "{}",
        refused.stderr
    );
    let unknown = jobgate(&sb, "doctor-clean", &["doctor", "app-deplyo"]).await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("did you mean \"app-deploy\"?"),
        "{}",
        unknown.stderr
    );
}

/// One pitfall, made live on a fresh canonical cluster.
struct Case {
    code: &'static str,
    exit: i32,
    make: fn(&Sandbox),
}

fn ready(sb: &Sandbox, name: &str, status: &str, reason: &str, message: &str) {
    let mut ks = sb
        .object(
            "kustomize.toolkit.fluxcd.io",
            "kustomizations",
            "apps",
            name,
        )
        .expect("the stage");
    let conditions = ks["status"]["conditions"]
        .as_array_mut()
        .expect("conditions");
    for c in conditions.iter_mut().filter(|c| c["type"] == "Ready") {
        c["status"] = json!(status);
        c["reason"] = json!(reason);
        c["message"] = json!(message);
    }
    let body = json!({"status": {"conditions": ks["status"]["conditions"]}});
    patch_ks(sb, name, body, true);
}

const CASES: &[Case] = &[
    Case {
        code: "JG001",
        exit: 1,
        make: |sb| {
            patch(
                sb,
                "batch",
                "jobs",
                "db-migration",
                json!({"spec": {"ttlSecondsAfterFinished": 600}}),
                false,
            )
        },
    },
    Case {
        code: "JG002",
        exit: 1,
        make: |sb| {
            patch_ks(
                sb,
                "app-pre-deploy",
                json!({"spec": {"force": false}}),
                false,
            )
        },
    },
    Case {
        code: "JG003",
        exit: 1,
        make: |sb| {
            patch_ks(
                sb,
                "app-pre-deploy",
                json!({"spec": {"wait": false}}),
                false,
            )
        },
    },
    Case {
        code: "JG004",
        exit: 0,
        make: |sb| {
            patch(
                sb,
                "batch",
                "jobs",
                "db-migration",
                json!({"spec": {"activeDeadlineSeconds": 100}}),
                false,
            )
        },
    },
    Case {
        code: "JG005",
        exit: 0,
        make: |sb| {
            patch_ks(
                sb,
                "app-post-deploy",
                json!({"spec": {"sourceRef": {"kind": "OCIRepository", "name": "my-app-cache"}}}),
                false,
            )
        },
    },
    Case {
        code: "JG006",
        exit: 0,
        make: |sb| {
            patch_ks(
                sb,
                "app-deploy",
                json!({"spec": {"dependsOn": null}}),
                false,
            )
        },
    },
    Case {
        code: "JG007",
        exit: 0,
        make: |sb| {
            patch_ks(
                sb,
                "app-post-deploy",
                json!({"spec": {"dependsOn": [{"name": "app-pre-deploy"}]}}),
                false,
            )
        },
    },
    Case {
        code: "JG008",
        exit: 0,
        make: |sb| {
            let body = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "ghcr.io/org/my-app:v1.1.0"}]}}}});
            patch(sb, "apps", "deployments", "my-app", body, false)
        },
    },
    Case {
        code: "JG011",
        exit: 1,
        make: |sb| {
            patch_ks(
                sb,
                "app-deploy",
                json!({"spec": {"dependsOn": [{"name": "app-predeploy"}]}}),
                false,
            )
        },
    },
    Case {
        code: "JG012",
        exit: 0,
        make: |sb| {
            patch_ks(
                sb,
                "app-deploy",
                json!({"spec": {"dependsOn": [{"name": "app-pre-deploy", "readyExpr": "dep.status.observedGeneration == dep.metadata.generation"}]}}),
                false,
            )
        },
    },
    Case {
        code: "JG015",
        exit: 0,
        make: |sb| {
            ready(
                sb,
                "app-deploy",
                "False",
                "HealthCheckCanceled",
                "New reconciliation triggered by GitRepository/apps/my-app",
            )
        },
    },
    Case {
        code: "JG016",
        exit: 1,
        make: |sb| {
            ready(
                sb,
                "app-pre-deploy",
                "False",
                "ReconciliationFailed",
                "Job/db-migration namespace not specified: the server could not find the requested resource",
            )
        },
    },
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_each_pitfall_in_a_live_cluster() {
    for case in CASES {
        // Controllers off (speed 0 would never tick): the pitfall stays as made.
        let sb = live("canonical", 1.0).await;
        (case.make)(&sb);
        let r = jobgate(&sb, "doctor-pitfall", &["doctor", "-o", "json"]).await;
        let report: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
            panic!(
                "{}: not a report ({e}): {}{}",
                case.code, r.stdout, r.stderr
            )
        });
        let found: Vec<String> = codes(&report)
            .into_iter()
            .filter(|c| c != "JG014")
            .collect();
        assert!(
            found.contains(&case.code.to_string()),
            "{}: {:#}",
            case.code,
            report["findings"]
        );
        assert_eq!(
            r.code, case.exit,
            "{}: exit {} ({})",
            case.code, r.code, r.stderr
        );
        sb.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_a_deleted_job_a_kubectl_edit_and_the_graphs_errors() {
    // A Job gone from the cluster but in the inventory (the multi-app
    // scenario's TTL Job), a cycle, a missing dependency.
    let sb = sandbox("multi-app").await;
    let r = jobgate(&sb, "doctor-multi", &["doctor", "-A", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&r.stdout).expect("a report");
    let found = codes(&report);
    for code in ["JG010", "JG011", "JG017"] {
        assert!(found.contains(&code.to_string()), "{code} in {found:?}");
    }
    assert_eq!(r.code, 1, "a cycle and a missing dependency are errors");
    let text = jobgate(&sb, "doctor-multi", &["doctor", "-A"]).await;
    assert!(text.stdout.contains("error[JG010] dependency-cycle: the stages depend on each other in a loop: legacy/legacy-api → legacy/legacy-worker → legacy/legacy-api"), "{}", text.stdout);

    // `kubectl patch` on a stage a parent Kustomization applies: Flux undoes it.
    let canonical = sandbox("canonical").await;
    let kubectl = run(command(
        "kubectl",
        canonical.kubeconfig(),
        "doctor-kubectl",
        &[
            "patch",
            "kustomizations.kustomize.toolkit.fluxcd.io",
            "app-deploy",
            "-n",
            "apps",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"timeout":"10m"}}"#,
        ],
    ))
    .await;
    assert_eq!(kubectl.code, 0, "{}", kubectl.stderr);
    let r = jobgate(&canonical, "doctor-kubectl", &["doctor", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&r.stdout).expect("a report");
    let f = report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["code"] == "JG013"))
        .unwrap_or_else(|| panic!("JG013 in {:#}", report["findings"]));
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("kubectl-patch")),
        "{f}"
    );
    assert_eq!(r.code, 0, "a warning does not fail doctor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_what_it_could_not_read_and_exits_2() {
    let sb = sandbox("canonical").await;
    sb.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "apps".into(),
        resource: "deployments".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    let r = jobgate(&sb, "doctor-403", &["doctor"]).await;
    assert_eq!(
        r.code, 2,
        "a partial check is not a clean bill: {}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Not checked:\n  the Deployments in namespace apps: forbidden"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("warning: not checked: the Deployments in namespace apps"),
        "{}",
        r.stderr
    );
}

/// A copy of the example repository in a fresh directory, with `edit` applied.
fn repo_copy(test: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jobgate-lint-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app-repo");
    copy_dir(&src, &dir);
    edit(&dir);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn replace(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{} holds {from:?}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

async fn lint(args: &[&str]) -> super::Run {
    run(command(
        BIN,
        Path::new("/nonexistent-kubeconfig"),
        "lint",
        args,
    ))
    .await
}

/// Every file under `dir`, with its bytes: what lint must leave as it found it.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            all.extend(contents(&path));
        } else {
            all.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    all.sort();
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_passes_the_example_and_needs_no_cluster() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/app-repo");
    let before = contents(&example);
    let r = lint(&["lint", example.to_str().unwrap()]).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .ends_with("3 stages checked: 0 errors, 0 warnings, 1 info\n"),
        "{}",
        r.stdout
    );
    assert_eq!(contents(&example), before, "nothing under PATH is written");
    let json = lint(&["lint", example.to_str().unwrap(), "-o", "json"]).await;
    let report: Value = serde_json::from_str(&json.stdout).expect("a report");
    assert_eq!(report["kind"], "LintReport");
    assert_eq!(
        report["findings"][0]["location"]["file"],
        "flux/pre-deploy.yaml"
    );
    // The Flux manifests in a sub-directory, their paths relative to --root.
    let flux = example.join("flux");
    let rooted = lint(&[
        "lint",
        flux.to_str().unwrap(),
        "--root",
        example.to_str().unwrap(),
    ])
    .await;
    assert_eq!(rooted.code, 0, "{}{}", rooted.stdout, rooted.stderr);
    let unrooted = lint(&["lint", flux.to_str().unwrap()]).await;
    assert_eq!(unrooted.code, 1, "without --root the paths point nowhere");
    assert!(
        unrooted.stdout.contains("error[JG018] path-not-found"),
        "{}",
        unrooted.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_annotates_a_pull_request_and_fails_on_errors() {
    let dir = repo_copy("broken", |d| {
        replace(&d.join("flux/pre-deploy.yaml"), "  force: true\n", "");
        replace(
            &d.join("pre-deploy/migration.job.yaml"),
            "spec:\n  template:",
            "spec:\n  ttlSecondsAfterFinished: 300\n  template:",
        );
    });
    let r = lint(&["lint", dir.to_str().unwrap(), "--format", "github"]).await;
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with("::error file=pre-deploy/migration.job.yaml,line=1,title=JG001 ttl-after-finished::Job apps/db-migration sets ttlSecondsAfterFinished: 300. Fix:")), "{}", r.stdout);
    assert!(
        lines.iter().any(|l| l
            .starts_with("::error file=flux/pre-deploy.yaml,line=1,title=JG002 job-not-forced::")),
        "{}",
        r.stdout
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("::notice file=flux/pre-deploy.yaml,line=1,title=JG014")),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .contains("3 stage(s) checked: 2 error(s), 0 warning(s), 1 info(s)"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lint_of_a_repository_it_cannot_read_exits_2_with_the_place() {
    let dir = repo_copy("malformed", |d| {
        replace(&d.join("flux/deploy.yaml"), "  wait: true", "  wait: [true")
    });
    let r = lint(&["lint", dir.to_str().unwrap()]).await;
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    let line = r.stderr.lines().next().unwrap_or("");
    assert!(
        line.starts_with("error: ")
            && line.contains("flux/deploy.yaml:1")
            && line.ends_with("Fix the YAML; nothing was checked"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "one paragraph: {}", r.stderr);

    let missing = lint(&["lint", "/nonexistent/repo"]).await;
    assert_eq!(missing.code, 2);
    assert!(
        missing
            .stderr
            .starts_with("error: cannot read /nonexistent/repo: "),
        "{}",
        missing.stderr
    );
    let empty = repo_copy("empty", |d| {
        std::fs::remove_dir_all(d.join("flux")).unwrap();
    });
    let none = lint(&["lint", empty.to_str().unwrap()]).await;
    assert_eq!(none.code, 2);
    assert!(
        none.stderr
            .contains("no Flux Kustomization (kustomize.toolkit.fluxcd.io) found"),
        "{}",
        none.stderr
    );
}
