//! Events of both APIs, as kube-apiserver serves them, decoded alike; the
//! objects of a stage found in them; the kubectl columns.

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::render::timeline::{Columns, last_seen, table};

const FAILED: &str = include_str!("../../../tests/sandbox/scenarios/failed.yaml");
const REAL: &str = include_str!("../../../tests/fixtures/real/events.yaml");

/// The real kube-apiserver's Events of a failed Job, through both APIs:
/// the same Occurrences, and every one of them the stage's.
#[test]
fn real_events_of_both_apis_decode_alike_and_belong_to_the_stage() {
    let doc: serde_json::Value = serde_saphyr::from_str(REAL).expect("the recording");
    let items = |api: &str| doc[api]["items"].as_array().expect("items").clone();
    let mut v1: Vec<Occurrence> = items("eventsV1")
        .into_iter()
        .map(|e| {
            serde_json::from_value::<EventV1>(e)
                .expect("decodes")
                .into()
        })
        .collect();
    let mut core: Vec<Occurrence> = items("coreV1")
        .into_iter()
        .map(|e| {
            serde_json::from_value::<CoreEvent>(e)
                .expect("decodes")
                .into()
        })
        .collect();
    order(&mut v1);
    order(&mut core);
    assert_eq!(v1, core);
    let mut subjects = Subjects::default();
    subjects
        .jobs
        .insert(("rec-events".into(), "db-migration".into()));
    let kept = select(&mut subjects, v1);
    let reasons: Vec<(&str, &str)> = kept
        .iter()
        .map(|e| (e.object.kind.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("Job", "SuccessfulCreate"),
            ("Pod", "Scheduled"),
            ("Job", "SuccessfulCreate"),
            ("Pod", "Scheduled"),
            ("Job", "BackoffLimitExceeded"),
        ]
    );
    // The scheduler writes only eventTime (no deprecated timestamps, no count).
    let scheduled = &kept[1];
    assert_eq!(scheduled.count, 1);
    assert!(scheduled.last_seen.is_some() && scheduled.reporter == "default-scheduler");
}

fn core_events(text: &str) -> Vec<Occurrence> {
    let doc: serde_json::Value = serde_saphyr::from_str(text).expect("a scenario");
    doc["spec"]["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter(|o| o["kind"] == "Event")
        .map(|o| {
            serde_json::from_value::<CoreEvent>(o.clone())
                .expect("decodes")
                .into()
        })
        .collect()
}

fn stage() -> Subjects {
    let mut s = Subjects::default();
    s.objects.insert(Regarding {
        kind: "Kustomization".into(),
        namespace: "apps".into(),
        name: "app-pre-deploy".into(),
    });
    s.jobs.insert(("apps".into(), "db-migration".into()));
    s
}

#[test]
fn both_apis_decode_to_the_same_occurrence() {
    let core: Occurrence = serde_json::from_value::<CoreEvent>(json!({
        "metadata": {"name": "db-migration.18a", "namespace": "apps"},
        "involvedObject": {"kind": "Job", "name": "db-migration", "namespace": "apps", "uid": "u"},
        "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit",
        "type": "Warning", "count": 3, "firstTimestamp": "2026-08-21T06:02:13Z", "lastTimestamp": "2026-08-21T06:02:43Z",
        "source": {"component": "job-controller"}, "reportingComponent": "job-controller",
    }))
    .unwrap()
    .into();
    // The same Event through events.k8s.io/v1 (kube-apiserver's conversion).
    let v1: Occurrence = serde_json::from_value::<EventV1>(json!({
        "metadata": {"name": "db-migration.18a", "namespace": "apps"},
        "regarding": {"kind": "Job", "name": "db-migration", "namespace": "apps", "uid": "u"},
        "reason": "BackoffLimitExceeded", "note": "Job has reached the specified backoff limit",
        "type": "Warning", "deprecatedCount": 3, "deprecatedFirstTimestamp": "2026-08-21T06:02:13Z",
        "deprecatedLastTimestamp": "2026-08-21T06:02:43Z", "eventTime": null,
        "deprecatedSource": {"component": "job-controller"}, "reportingController": "job-controller",
    }))
    .unwrap()
    .into();
    assert_eq!(core, v1);
    assert_eq!(core.count, 3);
}

#[test]
fn a_series_counts_as_kubectl_counts_it() {
    let e: Occurrence = serde_json::from_value::<EventV1>(json!({
        "metadata": {"name": "p.1", "namespace": "apps"},
        "regarding": {"kind": "Pod", "name": "db-migration-abcde", "namespace": "apps"},
        "reason": "BackOff", "note": "Back-off pulling image", "type": "Warning",
        "eventTime": "2026-08-21T06:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": "2026-08-21T06:05:00.000000Z"},
        "reportingController": "kubelet",
    }))
    .unwrap()
    .into();
    assert_eq!(e.count, 7);
    assert_eq!(e.first_seen.as_deref(), Some("2026-08-21T06:00:00.000000Z"));
    let now: Timestamp = "2026-08-21T06:10:00Z".parse().unwrap();
    assert_eq!(last_seen(now, &e), "5m (x7 over 10m)");
}

#[test]
fn a_stages_events_are_its_kustomizations_jobs_and_pods() {
    let mut subjects = stage();
    let mut events = core_events(FAILED);
    // A pod of the stage's Job, named only by the Job controller's Event, and
    // another Job's whose name starts alike.
    let pod_event = |pod: &str, t: &str| Occurrence {
        namespace: "apps".into(),
        name: format!("{pod}.1"),
        type_: "Normal".into(),
        reason: "Started".into(),
        object: Regarding {
            kind: "Pod".into(),
            namespace: "apps".into(),
            name: pod.into(),
        },
        message: "Started container migration".into(),
        count: 1,
        first_seen: Some(t.into()),
        last_seen: Some(t.into()),
        reporter: "kubelet".into(),
    };
    events.push(pod_event("db-migration-b7t5n", "2026-08-21T06:02:39Z"));
    events.push(pod_event(
        "db-migration-cleanup-x1y2z",
        "2026-08-21T06:02:39Z",
    ));
    events.push(pod_event("db-migration-0-k2j4h", "2026-08-21T06:02:40Z"));
    let kept = select(&mut subjects, events);
    let objects: Vec<String> = kept.iter().map(crate::render::timeline::object).collect();
    assert!(
        !objects.contains(&"Kustomization/app-deploy".to_string()),
        "{objects:?}"
    );
    assert!(
        !objects.contains(&"Pod/db-migration-cleanup-x1y2z".to_string()),
        "{objects:?}"
    );
    assert!(
        objects.contains(&"Pod/db-migration-b7t5n".to_string()),
        "{objects:?}"
    );
    assert!(
        objects.contains(&"Pod/db-migration-0-k2j4h".to_string()),
        "indexed: {objects:?}"
    );
    assert!(
        objects.contains(&"Job/db-migration".to_string()),
        "{objects:?}"
    );
    let now: Timestamp = "2026-08-21T06:12:44Z".parse().unwrap();
    insta::assert_snapshot!(table(now, &kept, Columns::default()));
    let report = EventsReport::new(
        vec!["apps/app-pre-deploy".into()],
        "events.k8s.io/v1".into(),
        kept,
        vec![],
    );
    insta::assert_json_snapshot!("events_report", report);
}

#[test]
fn events_are_in_the_order_they_were_last_seen() {
    let at = |name: &str, last: Option<&str>| Occurrence {
        namespace: "apps".into(),
        name: name.into(),
        type_: "Normal".into(),
        reason: "R".into(),
        object: Regarding::default(),
        message: String::new(),
        count: 1,
        first_seen: last.map(String::from),
        last_seen: last.map(String::from),
        reporter: String::new(),
    };
    // Fractional seconds (events.k8s.io's eventTime) sort by time, not text.
    let mut events = vec![
        at("c", Some("2026-08-21T06:00:01Z")),
        at("b", Some("2026-08-21T06:00:00.500000Z")),
        at("a", None),
    ];
    order(&mut events);
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let now: Timestamp = "2026-08-21T06:00:10Z".parse().unwrap();
    assert_eq!(last_seen(now, &events[0]), "<unknown>");
}
