//! The real kubectl against the running sandbox over HTTPS: it must read,
//! write, watch and wait as it does against a cluster, and show errors as
//! it shows a cluster's. kubectl is required: `.ci/run` installs it.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::{Harness, JOBS, KS, PODS, STEP, start};

struct Kubectl {
    kubeconfig: PathBuf,
    home: PathBuf,
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(h: &Harness, test: &str) -> Self {
        let home =
            std::env::temp_dir().join(format!("jobgate-kubectl-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        Kubectl {
            kubeconfig: h.sandbox.kubeconfig().to_path_buf(),
            home,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("kubectl");
        // A fresh HOME: no discovery cache or config from the machine leaks in.
        cmd.args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env_remove("KUBECTL_EXTERNAL_DIFF")
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        let out = tokio::time::timeout(STEP, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} hung"))
            .expect("kubectl is required for these tests: install it (Debian: apt-get install kubernetes-client); .ci/run does");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert_eq!(out.code, 0, "kubectl {args:?} failed: {}", out.stderr);
        assert!(
            !out.stderr.contains("couldn't get"),
            "kubectl {args:?} warned: {}",
            out.stderr
        );
        out.stdout
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_in_every_format() {
    let h = start("canonical").await;
    let k = Kubectl::new(&h, "reads");

    let table = k.ok(&["get", "kustomizations"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0]
            .split_whitespace()
            .eq(["NAME", "AGE", "READY", "STATUS"]),
        "{table}"
    );
    assert!(
        lines[3].starts_with("app-pre-deploy")
            && lines[3].contains("True")
            && lines[3].contains("Applied revision: main@sha1:9f1e2d3c"),
        "{table}"
    );

    let all = k.ok(&["get", "ks", "-A"]).await;
    assert!(
        all.lines().next().unwrap().starts_with("NAMESPACE"),
        "{all}"
    );
    assert_eq!(
        all.lines().filter(|l| l.starts_with("apps ")).count(),
        3,
        "{all}"
    );

    let json: Value =
        serde_json::from_str(&k.ok(&["get", "ks", "app-pre-deploy", "-o", "json"]).await).unwrap();
    assert_eq!(
        json["status"]["lastAppliedRevision"],
        "main@sha1:9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"
    );
    let list: Value = serde_json::from_str(&k.ok(&["get", "jobs", "-o", "json"]).await).unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        list["items"][0]["kind"], "Job",
        "kubectl fills in list items' kind"
    );

    let yaml = k
        .ok(&["get", "gitrepository", "my-app", "-o", "yaml"])
        .await;
    assert!(
        yaml.contains("kind: GitRepository")
            && yaml.contains("revision: main@sha1:9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"),
        "{yaml}"
    );

    let jobs = k.ok(&["get", "jobs"]).await;
    assert!(
        jobs.lines().next().unwrap().split_whitespace().eq([
            "NAME",
            "STATUS",
            "COMPLETIONS",
            "DURATION",
            "AGE"
        ]),
        "{jobs}"
    );
    let logs = k.ok(&["logs", "db-migration-x7k2p"]).await;
    assert_eq!(logs, "starting db migration\napplied 3 migrations\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_annotates_patches_and_deletes() {
    let h = start("canonical").await;
    let k = Kubectl::new(&h, "writes");
    let out = k
        .ok(&[
            "annotate",
            "ks",
            "app-deploy",
            "reconcile.fluxcd.io/requestedAt=2026-11-26T10:00:00Z",
        ])
        .await;
    assert_eq!(
        out.trim(),
        "kustomization.kustomize.toolkit.fluxcd.io/app-deploy annotated"
    );
    let out = k
        .ok(&[
            "patch",
            "ks",
            "app-deploy",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"suspend":true}}"#,
        ])
        .await;
    assert_eq!(
        out.trim(),
        "kustomization.kustomize.toolkit.fluxcd.io/app-deploy patched"
    );
    let ks = h.get(&format!("{KS}/app-deploy")).await.json();
    assert_eq!(
        ks["metadata"]["annotations"]["reconcile.fluxcd.io/requestedAt"],
        "2026-11-26T10:00:00Z"
    );
    assert_eq!(
        (
            ks["spec"]["suspend"].as_bool(),
            ks["metadata"]["generation"].as_i64()
        ),
        (Some(true), Some(2))
    );
    let managers: Vec<&str> = ks["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["kubectl-annotate", "kubectl-patch"]);

    let out = k
        .ok(&["delete", "job", "db-migration", "--cascade=background"])
        .await;
    assert_eq!(out.trim(), "job.batch \"db-migration\" deleted");
    assert_eq!(h.get(&format!("{JOBS}/db-migration")).await.status, 404);
    assert!(
        h.get(PODS).await.json()["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "background deletion removed the pod"
    );
    let delete = h
        .sandbox
        .requests()
        .into_iter()
        .find(|r| r.verb == "delete")
        .unwrap();
    assert_eq!(
        (delete.resource.as_str(), delete.name.as_str(), delete.code),
        ("jobs", "db-migration", 200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_errors_as_from_a_cluster() {
    let h = start("canonical").await;
    let k = Kubectl::new(&h, "errors");
    let missing = k.run(&["get", "ks", "nope"]).await;
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr.trim(),
        "Error from server (NotFound): kustomizations.kustomize.toolkit.fluxcd.io \"nope\" not found"
    );

    h.sandbox.add_fault(jobgate_sandbox::Fault::Deny {
        verb: "delete".into(),
        group: "batch".into(),
        resource: "jobs".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    let denied = k
        .run(&["delete", "job", "db-migration", "--cascade=background"])
        .await;
    assert_eq!(denied.code, 1);
    assert_eq!(
        denied.stderr.trim(),
        "Error from server (Forbidden): jobs.batch \"db-migration\" is forbidden: User \"sandbox-admin\" cannot delete resource \"jobs\" in API group \"batch\" in the namespace \"apps\""
    );
    h.sandbox.add_fault(jobgate_sandbox::Fault::ExpireToken);
    let expired = k.run(&["get", "ks"]).await;
    assert_eq!(expired.code, 1);
    assert!(
        expired.stderr.contains("Unauthorized"),
        "{}",
        expired.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_watch_receives_a_change() {
    let h = start("canonical").await;
    let k = Kubectl::new(&h, "watch");
    let mut child = k
        .command(&["get", "ks", "app-deploy", "-w", "-o", "json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut doc = String::new();
    let mut docs = vec![];
    // kubectl prints the current object, then every change, as indented JSON documents.
    let read = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            doc.push_str(&line);
            if line == "}" {
                docs.push(serde_json::from_str::<Value>(&doc).unwrap());
                doc.clear();
                if docs.len() == 1 {
                    h.send_json(
                        "PATCH",
                        &format!("{KS}/app-deploy"),
                        "application/merge-patch+json",
                        &json!({"metadata": {"labels": {"changed": "yes"}}}),
                    )
                    .await;
                } else {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(STEP, read)
        .await
        .expect("kubectl saw the change");
    assert!(docs[0]["metadata"]["labels"].get("changed").is_none());
    assert_eq!(docs[1]["metadata"]["labels"]["changed"], "yes");
    child.kill().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wait_for_condition_ready() {
    let h = start("canonical").await;
    let k = Kubectl::new(&h, "wait");
    let status = |ready: &str| json!({"status": {"conditions": [{"type": "Ready", "status": ready, "reason": "Progressing", "message": "Reconciliation in progress", "lastTransitionTime": "2026-08-20T10:15:02Z", "observedGeneration": 1}]}});
    let path = format!("{KS}/app-deploy/status");
    assert_eq!(
        h.send_json(
            "PATCH",
            &path,
            "application/merge-patch+json",
            &status("Unknown")
        )
        .await
        .status,
        200
    );
    let waiting = k
        .command(&[
            "wait",
            "--for=condition=Ready",
            "ks/app-deploy",
            "--timeout=15s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until kubectl is watching (its GET/LIST reached the sandbox) before flipping the condition.
    tokio::time::timeout(STEP, async {
        while !h
            .sandbox
            .requests()
            .iter()
            .any(|r| r.resource == "kustomizations" && (r.verb == "watch" || r.verb == "list"))
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("kubectl wait queried the sandbox");
    assert_eq!(
        h.send_json(
            "PATCH",
            &path,
            "application/merge-patch+json",
            &status("True")
        )
        .await
        .status,
        200
    );
    let out = tokio::time::timeout(STEP, waiting.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "kustomization.kustomize.toolkit.fluxcd.io/app-deploy condition met"
    );
}

/// What `logs` and `events` read, as kubectl reads it: the Events of a Job
/// (`kubectl events` reads events.k8s.io/v1), and a pod log's errors in the
/// kubelet's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_reads_events_and_pod_logs_as_from_a_cluster() {
    let h = start("failed").await;
    let k = Kubectl::new(&h, "events");
    let events = k.ok(&["events", "--for", "job/db-migration"]).await;
    let header = events.lines().next().unwrap_or_default();
    assert!(
        header
            .split_whitespace()
            .eq(["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]),
        "{events}"
    );
    assert!(
        events.contains("BackoffLimitExceeded")
            && events.contains("Created pod: db-migration-b7t5n"),
        "{events}"
    );
    let core = k
        .ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.kind=Pod",
        ])
        .await;
    assert!(
        core.contains("pod/db-migration-b7t5n") && core.contains("Scheduled"),
        "{core}"
    );
    let previous = k.run(&["logs", "db-migration-b7t5n", "--previous"]).await;
    assert_eq!(previous.code, 1);
    assert_eq!(
        previous.stderr.trim(),
        "Error from server (BadRequest): previous terminated container \"migration\" in pod \"db-migration-b7t5n\" not found"
    );
    let tail = k
        .ok(&[
            "logs",
            "db-migration-b7t5n",
            "--tail",
            "1",
            "-c",
            "migration",
        ])
        .await;
    assert_eq!(tail, "migration failed, rolling back\n");
}
