//! Pods of a Job from real YAML (the sandbox's failed scenario, written as
//! kube-apiserver writes pods) and from hand-written awkward ones.

use serde_json::json;

use super::*;
use crate::render::logs as view;

const FAILED: &str = include_str!("../../../tests/sandbox/scenarios/failed.yaml");
const UID: &str = "0b8c1f7e-2d3a-4c5b-8e9f-1a2b3c4d5e6f";

fn pods(text: &str) -> Vec<Pod> {
    let doc: serde_json::Value = serde_saphyr::from_str(text).expect("a scenario");
    doc["spec"]["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["kind"] == "Pod")
        .map(|o| serde_json::from_value(o.clone()).expect("a pod decodes"))
        .collect()
}

#[test]
fn a_jobs_runs_are_its_pods_oldest_first() {
    let mut all = pods(FAILED);
    all.reverse();
    let runs = runs(all, UID);
    let names: Vec<&str> = runs.iter().map(|p| p.metadata.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "db-migration-q9w4z",
            "db-migration-h2m8v",
            "db-migration-b7t5n"
        ]
    );
    let last = PodLogs::of(&runs[2], 3);
    assert_eq!(
        (last.phase.as_str(), last.exit_code, last.reason.as_deref()),
        ("Failed", Some(1), Some("Error"))
    );
}

#[test]
fn an_earlier_jobs_pods_of_the_same_name_are_not_its_runs() {
    let old: Pod = serde_json::from_value(json!({
        "metadata": {"name": "db-migration-aaaaa", "labels": {"batch.kubernetes.io/job-name": "db-migration",
            "batch.kubernetes.io/controller-uid": "old-uid"},
            "ownerReferences": [{"kind": "Job", "uid": "old-uid"}]},
    }))
    .unwrap();
    let by_label_only: Pod = serde_json::from_value(json!({
        "metadata": {"name": "db-migration-bbbbb", "labels": {"controller-uid": "new-uid"}},
    }))
    .unwrap();
    let runs = runs(vec![old.clone(), by_label_only], "new-uid");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].metadata.name, "db-migration-bbbbb");
    assert!(!old.owned_by(""), "no uid owns nothing");
}

#[test]
fn a_container_waiting_to_start_says_why() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "db-migration-ccccc"},
        "spec": {"containers": [{"name": "migration", "image": "ghcr.io/org/my-app:v9"}]},
        "status": {"phase": "Pending", "containerStatuses": [{"name": "migration", "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"ghcr.io/org/my-app:v9\""}}}]},
    }))
    .unwrap();
    let w = pod.waiting("migration").expect("waiting");
    assert!(!pod.started("migration"));
    assert_eq!(
        not_started("db-migration-ccccc", "migration", w),
        "container migration of pod db-migration-ccccc is waiting to start: ImagePullBackOff (Back-off pulling image \"ghcr.io/org/my-app:v9\"): its image cannot be pulled; check the image name and tag, and the pull secret"
    );
    let header = PodLogs::of(&pod, 1);
    assert_eq!(header.reason.as_deref(), Some("ImagePullBackOff"));
    assert_eq!(header.exit_code, None);
}

#[test]
fn null_fields_decode_as_empty() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p", "labels": null, "ownerReferences": null},
        "spec": {"containers": null},
        "status": {"containerStatuses": null, "phase": null},
    }))
    .unwrap();
    assert!(pod.containers().is_empty());
    assert_eq!(PodLogs::of(&pod, 1).phase, "Unknown");
}

#[test]
fn the_text_view_has_a_header_per_pod_and_prefixes_several_containers() {
    let job = |pods| JobLogs {
        namespace: "apps".into(),
        name: "db-migration".into(),
        uid: UID.into(),
        phase: JobPhase::Failed,
        finished_at: None,
        attempts: 2,
        pods,
        unavailable: None,
    };
    let pod = |name: &str, attempt, containers| PodLogs {
        name: name.into(),
        attempt,
        phase: "Failed".into(),
        exit_code: Some(1),
        reason: Some("Error".into()),
        containers,
    };
    let c = |name: &str, log: Option<&str>| ContainerLog {
        name: name.into(),
        log: log.map(String::from),
        unavailable: log.is_none().then(|| "gone".to_string()),
    };
    let report = LogsReport::new(
        "apps/app-pre-deploy".into(),
        vec![job(vec![
            pod(
                "db-migration-b7t5n",
                2,
                vec![c("migration", Some("one\n\x1b[31mtwo\x1b[0m\tcol\n"))],
            ),
            pod(
                "db-migration-q9w4z",
                1,
                vec![c("wait-for-db", Some("ok\n")), c("migration", None)],
            ),
        ])],
    );
    insta::assert_snapshot!(view::text(&report), @r"
    ==> Job apps/db-migration, pod db-migration-b7t5n (attempt 2 of 2): Failed, exit code 1 (Error) <==
    one
    \u{1b}[31mtwo\u{1b}[0m	col

    ==> Job apps/db-migration, pod db-migration-q9w4z (attempt 1 of 2): Failed, exit code 1 (Error) <==
    [wait-for-db] ok
    ");
    assert_eq!(report.unavailable(), ["gone"]);
    insta::assert_json_snapshot!("logs_report", report);
}

#[test]
fn a_job_without_pods_says_which_and_when_it_finished() {
    assert_eq!(
        no_pods(
            "apps/db-migration",
            JobPhase::Failed,
            Some("2026-08-21T06:02:43Z"),
            Some(600)
        ),
        "Job apps/db-migration (Failed at 2026-08-21T06:02:43Z) has no pods left: they were deleted, or are being removed with the Job by its ttlSecondsAfterFinished (600s)"
    );
    assert!(no_pods("apps/x", JobPhase::Succeeded, None, None).contains("deleted (by hand"));
}
