//! kube-rs against the sandbox: typed lists, merge patches, deletes with
//! preconditions, and `kube::runtime::watcher` through a 410 Gone.

use futures::StreamExt;
use jobgate_sandbox::{Fault, Options, Scenario};
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use crate::{STEP, start, start_with};

type Events = futures::stream::BoxStream<'static, Result<Event<DynamicObject>, watcher::Error>>;

async fn next(events: &mut Events) -> Option<Result<Event<DynamicObject>, watcher::Error>> {
    tokio::time::timeout(STEP, events.next())
        .await
        .expect("the watcher stalled")
}

fn kustomizations(client: kube::Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
    ));
    Api::namespaced_with(client, "apps", &ar)
}

#[tokio::test]
async fn typed_list_patch_and_delete() {
    let h = start("canonical").await;
    let jobs: Api<Job> = Api::default_namespaced(h.client.clone());
    let list = jobs.list(&ListParams::default()).await.unwrap();
    let names: Vec<_> = list
        .items
        .iter()
        .filter_map(|j| j.metadata.name.clone())
        .collect();
    assert_eq!(names, ["cache-refresh", "db-migration"]);
    let job = jobs.get("db-migration").await.unwrap();
    let succeeded = job.status.as_ref().and_then(|s| s.succeeded);
    assert_eq!(succeeded, Some(1));

    let ks = kustomizations(h.client.clone());
    let paged = ks.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(paged.items.len(), 2);
    assert!(paged.metadata.continue_.is_some());
    let patched = ks
        .patch(
            "app-deploy",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "t1"}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        patched.metadata.annotations.unwrap()["reconcile.fluxcd.io/requestedAt"],
        "t1"
    );

    let applied = ks
        .patch(
            "app-deploy",
            &PatchParams::apply("jobgate"),
            &Patch::Apply(json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "app-deploy", "labels": {"team": "a"}},
            })),
        )
        .await
        .unwrap();
    assert_eq!(applied.metadata.labels.unwrap()["team"], "a");

    let stale = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("other".into()),
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    let err = jobs.delete("db-migration", &stale).await.unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
        }
        other => panic!("expected a 409, got {other:?}"),
    }
    let uid = job.metadata.uid.clone();
    let right = DeleteParams {
        preconditions: Some(Preconditions {
            uid,
            resource_version: None,
        }),
        ..DeleteParams::background()
    };
    let deleted = jobs.delete("db-migration", &right).await.unwrap();
    assert!(
        deleted.is_right(),
        "a built-in deleted at once answers with a Status"
    );
    assert!(jobs.get_opt("db-migration").await.unwrap().is_none());
}

#[tokio::test]
async fn kube_retries_throttled_and_unavailable_reads() {
    let h = start("canonical").await;
    let client = crate::client_for(&h.sandbox, true).await;
    h.sandbox.add_fault(Fault::Fail {
        path: "/apis/batch/v1/namespaces/apps/jobs".into(),
        method: None,
        count: 2,
        status: 503,
        retry_after: Some(0),
    });
    let jobs: Api<Job> = Api::namespaced(client, "apps");
    assert_eq!(
        jobs.list(&ListParams::default()).await.unwrap().items.len(),
        2
    );
    let codes: Vec<u16> = h
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.resource == "jobs")
        .map(|r| r.code)
        .collect();
    assert_eq!(codes, [503, 503, 200]);
}

#[tokio::test]
async fn runtime_watcher_sees_changes_and_recovers_from_410() {
    let h = start_with(Scenario::builtin("canonical").unwrap(), Options::default()).await;
    let ks = kustomizations(h.client.clone());
    // Short server-side timeouts make the watcher reconnect, which is when it meets the 410.
    let mut events = watcher::watcher(ks.clone(), watcher::Config::default().timeout(1)).boxed();

    let mut initial = 0;
    loop {
        match next(&mut events).await.unwrap().unwrap() {
            Event::Init => {}
            Event::InitApply(_) => initial += 1,
            Event::InitDone => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, 3);

    ks.patch(
        "app-post-deploy",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"seen": "1"}}})),
    )
    .await
    .unwrap();
    loop {
        if let Event::Apply(obj) = next(&mut events).await.unwrap().unwrap() {
            assert_eq!(obj.metadata.labels.unwrap()["seen"], "1");
            break;
        }
    }

    // History is lost while the watcher's version is behind: it must re-list.
    let jobs: Api<Job> = Api::namespaced(h.client.clone(), "apps");
    jobs.patch(
        "db-migration",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"bump": "1"}}})),
    )
    .await
    .unwrap();
    h.sandbox.add_fault(Fault::Gone);
    let mut saw_gone = false;
    loop {
        match next(&mut events).await.unwrap() {
            Err(watcher::Error::WatchError(status)) => {
                assert_eq!(status.code, 410);
                saw_gone = true;
            }
            Err(other) => panic!("unexpected {other}"),
            Ok(Event::Init) => {}
            Ok(Event::InitDone) => break,
            Ok(_) => {}
        }
    }
    assert!(saw_gone, "the watcher met the 410 Expired event");
    let rewatched = h
        .sandbox
        .requests()
        .iter()
        .filter(|r| r.verb == "list" && r.resource == "kustomizations")
        .count();
    assert!(rewatched >= 2, "the watcher re-listed after 410");
}
