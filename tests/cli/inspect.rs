//! `logs` and `events` as a user runs them: the built binary against the
//! sandbox (the failed scenario's recorded pods and Events, and live Jobs
//! under the simulated controllers), its exit code, stdout and stderr.

use std::process::Stdio;

use jobgate_sandbox::{Fault, Options, Sandbox, Scenario};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::actions::job;
use super::{BIN, STEP, command, interrupted, jobgate, sandbox};

/// The canonical chain under its controllers at `speed`, `db-migration` scripted by `edit`.
async fn scripted(
    speed: f64,
    edit: impl FnOnce(&mut jobgate_sandbox::scenario::JobScript),
) -> Sandbox {
    let mut scenario = Scenario::builtin("canonical").unwrap();
    let script = scenario
        .simulation
        .as_mut()
        .and_then(|s| s.jobs.iter_mut().find(|j| j.name == "db-migration"))
        .expect("the canonical scenario scripts db-migration");
    edit(script);
    Sandbox::start_with(
        scenario,
        Options {
            speed,
            ..Options::default()
        },
    )
    .await
    .unwrap()
}

fn headers(stdout: &str) -> Vec<&str> {
    stdout.lines().filter(|l| l.starts_with("==> ")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_show_the_newest_pod_of_each_job_under_a_header() {
    let sb = sandbox("failed").await;
    let r = jobgate(&sb, "logs", &["logs", "app-pre-deploy"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "==> Job apps/db-migration, pod db-migration-b7t5n (attempt 3 of 3): Failed, exit code 1 (Error) <==\n\
         starting db migration\n\
         applying 0042_add_users_v2_index\n\
         ERROR: relation \"users_v2\" does not exist\n\
         migration failed, rolling back\n"
    );
    // Every attempt, newest first; the last lines of each.
    let all = jobgate(
        &sb,
        "logs",
        &["logs", "app-pre-deploy", "--all-pods", "--tail", "1"],
    )
    .await;
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(
        headers(&all.stdout),
        [
            "==> Job apps/db-migration, pod db-migration-b7t5n (attempt 3 of 3): Failed, exit code 1 (Error) <==",
            "==> Job apps/db-migration, pod db-migration-h2m8v (attempt 2 of 3): Failed, exit code 1 (Error) <==",
            "==> Job apps/db-migration, pod db-migration-q9w4z (attempt 1 of 3): Failed, exit code 1 (Error) <==",
        ]
    );
    assert!(
        all.stdout
            .contains("(Error) <==\nmigration failed, rolling back\n\n"),
        "{}",
        all.stdout
    );
    let json = jobgate(&sb, "logs", &["logs", "app-pre-deploy", "-o", "json"]).await;
    let report: Value = serde_json::from_str(&json.stdout).expect("a report");
    assert_eq!(report["kind"], "LogsReport");
    assert_eq!(
        report["jobs"][0]["uid"],
        "0b8c1f7e-2d3a-4c5b-8e9f-1a2b3c4d5e6f"
    );
    assert_eq!(report["jobs"][0]["pods"][0]["exitCode"], 1);
    assert_eq!(
        report["jobs"][0]["pods"][0]["containers"][0]["name"],
        "migration"
    );
    let yaml = jobgate(&sb, "logs", &["logs", "app-pre-deploy", "-o", "yaml"]).await;
    assert!(yaml.stdout.contains("kind: LogsReport"), "{}", yaml.stdout);
    // What was asked for was found by the Job's name label, then kept by its uid.
    let lists: Vec<String> = sb
        .requests()
        .into_iter()
        .filter(|r| r.resource == "pods" && r.verb == "list")
        .map(|r| r.query.clone())
        .collect();
    assert!(
        lists
            .iter()
            .all(|q| q.contains("labelSelector=batch.kubernetes.io%2Fjob-name%3Ddb-migration")),
        "{lists:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_refuse_what_the_stage_does_not_hold() {
    let sb = sandbox("failed").await;
    let none = jobgate(&sb, "logs-refuse", &["logs", "app-deploy"]).await;
    assert_eq!(none.code, 2);
    assert!(
        none.stderr.contains(
            "apps/app-deploy has no Jobs in its inventory, so there are no Job logs to show"
        ),
        "{}",
        none.stderr
    );
    let other = jobgate(
        &sb,
        "logs-refuse",
        &["logs", "app-pre-deploy", "--job", "cache-refresh"],
    )
    .await;
    assert_eq!(other.code, 2);
    assert!(
        other.stderr.contains("Job \"cache-refresh\" is not in the inventory of apps/app-pre-deploy; its Jobs are: db-migration"),
        "{}",
        other.stderr
    );
    let container = jobgate(
        &sb,
        "logs-refuse",
        &["logs", "app-pre-deploy", "-c", "sidecar"],
    )
    .await;
    assert_eq!(container.code, 2);
    assert!(
        container.stderr.contains(
            "pod db-migration-b7t5n has no container \"sidecar\"; its containers are: migration"
        ),
        "{}",
        container.stderr
    );
    let unknown = jobgate(&sb, "logs-refuse", &["logs", "app-pre-deplyo"]).await;
    assert_eq!(unknown.code, 2);
    assert!(
        unknown
            .stderr
            .contains("Kustomization \"app-pre-deplyo\" not found in namespace \"apps\" (did you mean one of \"app-pre-deploy\""),
        "{}",
        unknown.stderr
    );
    let all = jobgate(&sb, "logs-refuse", &["logs", "app-pre-deploy", "-A"]).await;
    assert_eq!(all.code, 2);
    assert!(
        all.stderr.contains("logs acts on one Kustomization"),
        "{}",
        all.stderr
    );
    let follow_json = jobgate(
        &sb,
        "logs-refuse",
        &["logs", "app-pre-deploy", "-f", "-o", "json"],
    )
    .await;
    assert_eq!(follow_json.code, 2, "{}", follow_json.stderr);
}

/// A Job whose pods were deleted (or went with it by its TTL) said nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_job_whose_pods_are_gone_say_which_job_and_when_it_finished() {
    let sb = sandbox("failed").await;
    for pod in [
        "db-migration-q9w4z",
        "db-migration-h2m8v",
        "db-migration-b7t5n",
    ] {
        sb.delete("", "pods", "apps", pod).unwrap();
    }
    let r = jobgate(&sb, "logs-gone", &["logs", "app-pre-deploy"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains("warning: Job apps/db-migration (Failed at 2026-08-21T06:02:43Z) has no pods left: they were deleted"),
        "{}",
        r.stderr
    );
    // The Job itself gone, still in the inventory.
    sb.delete("batch", "jobs", "apps", "db-migration").unwrap();
    let r = jobgate(&sb, "logs-gone", &["logs", "app-pre-deploy"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Job apps/db-migration is in the stage's inventory but not in the cluster"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_pod_log_names_the_permission() {
    let sb = sandbox("failed").await;
    sb.add_fault(Fault::Deny {
        verb: "get".into(),
        group: String::new(),
        resource: "pods/log".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    let r = jobgate(&sb, "logs-forbidden", &["logs", "app-pre-deploy"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("==> Job apps/db-migration, pod db-migration-b7t5n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("the log of container migration of pod db-migration-b7t5n could not be read: reading it is forbidden (")
            && r.stderr.contains("it needs `get` on `pods/log` in namespace apps"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_waiting_to_start_says_why() {
    let sb = scripted(100.0, |s| s.waiting = Some("ImagePullBackOff".into())).await;
    let old = job(&sb, "db-migration").unwrap()["metadata"]["uid"].clone();
    let rerun = jobgate(
        &sb,
        "logs-waiting",
        &["rerun", "app-pre-deploy", "--yes", "--no-wait"],
    )
    .await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    // Until the new Job's pod has been told to wait: before that it is
    // Pending without container statuses, and the log endpoint says only
    // that its container is waiting to start.
    let deadline = tokio::time::Instant::now() + STEP;
    while !sb.objects("", "pods", "apps").iter().any(|p| {
        p["metadata"]["labels"]["controller-uid"] != old
            && p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "ImagePullBackOff"
    }) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new pod waits on its image: {:#?}",
            sb.objects("", "pods", "apps")
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = jobgate(&sb, "logs-waiting", &["logs", "app-pre-deploy"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stdout.contains("Pending (ImagePullBackOff) <=="),
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    assert!(
        r.stderr.contains("container migration of pod db-migration-")
            && r.stderr.contains("is waiting to start: ImagePullBackOff (Back-off pulling image \"ghcr.io/org/my-app:v1.0.0\"): its image cannot be pulled"),
        "{}",
        r.stderr
    );
}

/// `-f` follows the pod that runs, then the retry that replaces it after a
/// failure, and ends when the Job does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_the_retries_until_the_job_finishes() {
    // Slow enough that the first pod still runs when `-f` starts (its 20 s
    // take 2 s): following it is what is tested, not reading a finished one.
    let sb = scripted(10.0, |s| s.outcomes = vec!["fail".into(), "succeed".into()]).await;
    let old = job(&sb, "db-migration").unwrap()["metadata"]["uid"].clone();
    let rerun = jobgate(
        &sb,
        "logs-follow",
        &["rerun", "app-pre-deploy", "--yes", "--no-wait"],
    )
    .await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    // Until Flux has recreated it.
    let deadline = tokio::time::Instant::now() + STEP;
    while job(&sb, "db-migration").is_none_or(|j| j["metadata"]["uid"] == old) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Job was recreated"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = jobgate(&sb, "logs-follow", &["logs", "app-pre-deploy", "-f"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let h = headers(&r.stdout);
    assert_eq!(h.len(), 2, "{}", r.stdout);
    assert!(
        h[0].contains("(attempt 1 of 1)") && h[1].contains("(attempt 2 of 2)"),
        "{h:?}"
    );
    assert!(
        r.stdout
            .contains("applied 3 migrations\nERROR: migration failed\n==> Job"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("applied 3 migrations\n"), "{}", r.stdout);
    assert!(
        r.stderr.contains("Job apps/db-migration succeeded"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_merge_the_stages_objects_in_time_order() {
    let sb = sandbox("failed").await;
    let r = jobgate(&sb, "events", &["events", "app-pre-deploy"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("LAST SEEN   TYPE      REASON "),
        "{}",
        r.stdout
    );
    let reasons: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
        .collect();
    assert_eq!(
        reasons,
        [
            "Progressing",
            "SuccessfulCreate",
            "SuccessfulCreate",
            "SuccessfulCreate",
            "Scheduled",
            "Started",
            "BackoffLimitExceeded",
            "HealthCheckFailed"
        ],
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("app-deploy"),
        "another stage's Events: {}",
        r.stdout
    );
    let chain = jobgate(
        &sb,
        "events",
        &["events", "app-pre-deploy", "--for-chain", "-o", "json"],
    )
    .await;
    assert_eq!(chain.code, 0, "{}", chain.stderr);
    let report: Value = serde_json::from_str(&chain.stdout).expect("a report");
    assert_eq!(report["kind"], "EventsReport");
    assert_eq!(report["api"], "events.k8s.io/v1");
    assert_eq!(report["stages"].as_array().unwrap().len(), 3);
    let repeated = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["reason"] == "DependencyNotReady")
        .expect("the blocked stage's Events, with --for-chain");
    assert_eq!(repeated["count"], 12);
    assert!(chain_table_counts(&sb).await.contains("(x12 over "));
    // Read through events.k8s.io/v1, the preferred API.
    assert!(sb.requests().iter().any(|r| {
        r.path
            .starts_with("/apis/events.k8s.io/v1/namespaces/apps/events")
    }));
}

async fn chain_table_counts(sb: &Sandbox) -> String {
    jobgate(sb, "events", &["events", "app-deploy", "--for-chain"])
        .await
        .stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_fall_back_to_core_v1_where_events_k8s_io_is_not_served() {
    let sb = sandbox("failed").await;
    sb.add_fault(Fault::Fail {
        path: "/apis/events.k8s.io/*".into(),
        method: None,
        count: 100,
        status: 404,
        retry_after: None,
    });
    let r = jobgate(
        &sb,
        "events-core",
        &["events", "app-pre-deploy", "-o", "json"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: Value = serde_json::from_str(&r.stdout).expect("a report");
    assert_eq!(report["api"], "v1");
    assert_eq!(report["events"].as_array().unwrap().len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_event_list_is_reported_not_fatal() {
    let sb = sandbox("failed").await;
    sb.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "events.k8s.io".into(),
        resource: "events".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    let r = jobgate(&sb, "events-forbidden", &["events", "app-pre-deploy"]).await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: the Events in namespace apps could not be read: forbidden:"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("error:"), "{}", r.stderr);
}

/// `-w` adds the Events of a new run as they come; Ctrl-C ends it (130).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_watch_adds_a_new_runs_events_as_they_come() {
    let sb = scripted(100.0, |_| {}).await;
    let mut child = command(
        BIN,
        sb.kubeconfig(),
        "events-watch",
        &["events", "app-pre-deploy", "-w", "-o", "json"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("the command runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The recorded Events come first; then a rerun's, as they happen.
    let rerun = jobgate(
        &sb,
        "events-watch",
        &["rerun", "app-pre-deploy", "--yes", "--no-wait"],
    )
    .await;
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let started = tokio::time::timeout(STEP, async {
        while let Some(line) = lines.next_line().await.expect("stdout is readable") {
            let e: Value = serde_json::from_str(&line).expect("JSON Lines");
            if e["object"]["kind"] == "Pod" && e["reason"] == "Started" {
                return e;
            }
        }
        panic!("stdout ended");
    })
    .await
    .expect("the new pod's Started Event arrives");
    assert!(
        started["object"]["name"]
            .as_str()
            .unwrap()
            .starts_with("db-migration-")
    );
    assert_eq!(interrupted(&mut child).await, Some(130));
}

/// A pod of several containers: every container's log, each line prefixed
/// with its container; `-c` one of them, unprefixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_several_containers_are_prefixed() {
    let mut scenario = Scenario::builtin("failed").unwrap();
    let pod = scenario
        .objects
        .iter_mut()
        .find(|o| o["kind"] == "Pod" && o["metadata"]["name"] == "db-migration-b7t5n")
        .expect("the newest pod");
    pod["spec"]["initContainers"] =
        serde_json::json!([{"name": "wait-for-db", "image": "busybox:1.37"}]);
    pod["status"]["initContainerStatuses"] = serde_json::json!([{"name": "wait-for-db", "restartCount": 0,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]);
    let sb = Sandbox::start(scenario).await.unwrap();
    let r = jobgate(
        &sb,
        "logs-containers",
        &["logs", "app-pre-deploy", "--tail", "1"],
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "==> Job apps/db-migration, pod db-migration-b7t5n (attempt 3 of 3): Failed, exit code 1 (Error) <==\n\
         [wait-for-db] migration failed, rolling back\n\
         [migration] migration failed, rolling back\n"
    );
    let one = jobgate(
        &sb,
        "logs-containers",
        &["logs", "app-pre-deploy", "--tail", "1", "-c", "migration"],
    )
    .await;
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(
        one.stdout
            .ends_with("<==\nmigration failed, rolling back\n"),
        "{}",
        one.stdout
    );
    let containers: Vec<String> = sb
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/log"))
        .map(|r| r.query)
        .collect();
    assert!(
        containers
            .iter()
            .any(|q| q.contains("container=wait-for-db")),
        "{containers:?}"
    );
}
