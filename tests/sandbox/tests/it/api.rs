//! The protocol, verb by verb, over HTTPS with the sandbox's token.

use std::io::Read;
use std::time::Duration;

use jobgate_sandbox::{Fault, Options, Scenario};
use serde_json::{Value, json};

use crate::{JOBS, KS, PODS, start, start_with};

const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn discovery_documents() {
    let h = start("canonical").await;
    let v = h.get("/version").await.json();
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("33"))
    );

    let groups = h.get("/apis").await.json();
    assert_eq!(groups["kind"], "APIGroupList");
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for g in [
        "batch",
        "apps",
        "events.k8s.io",
        "kustomize.toolkit.fluxcd.io",
        "source.toolkit.fluxcd.io",
    ] {
        assert!(names.contains(&g), "{g} in {names:?}");
    }

    let list = h.get("/apis/kustomize.toolkit.fluxcd.io/v1").await.json();
    let resources: Vec<&str> = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(resources, ["kustomizations", "kustomizations/status"]);
    assert_eq!(list["resources"][0]["shortNames"], json!(["ks"]));
    let core = h.get("/api/v1").await.json();
    assert!(
        core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "pods/log")
    );

    // kubectl 1.32 asks for aggregated discovery first.
    let accept =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
    let agg = h
        .call("GET", "/apis", None, vec![], &[("accept", accept)])
        .await;
    assert_eq!(
        agg.headers["content-type"],
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
    let agg = agg.json();
    assert_eq!(agg["kind"], "APIGroupDiscoveryList");
    let batch = agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "batch")
        .unwrap();
    assert_eq!(batch["versions"][0]["resources"][0]["resource"], "jobs");
    assert_eq!(
        batch["versions"][0]["resources"][0]["subresources"][0]["subresource"],
        "status"
    );

    let openapi = h.get("/openapi/v3").await.json();
    assert!(openapi["paths"]["apis/batch/v1"]["serverRelativeURL"].is_string());
    assert_eq!(h.get("/openapi/v2").await.status, 404);
    assert_eq!(h.get("/apis/nope.example.com/v1/things").await.status, 404);
}

#[tokio::test]
async fn authentication_and_anonymous_access() {
    let h = start("canonical").await;
    let mut config = kube::Config::new(h.sandbox.url().parse().unwrap());
    config.root_cert = Some(vec![rustls_pem(h.sandbox.ca_pem().unwrap())]);
    let anonymous = kube::Client::try_from(config).unwrap();
    let send = |path: &'static str| {
        let c = anonymous.clone();
        async move {
            let req = http::Request::get(path)
                .body(kube::client::Body::empty())
                .unwrap();
            let resp = c.send(req).await.unwrap();
            let code = resp.status().as_u16();
            (code, resp.into_body().collect_bytes().await.unwrap())
        }
    };
    assert_eq!(send("/version").await.0, 200);
    assert_eq!(send("/healthz").await.0, 200);
    let (code, body) = send(KS).await;
    assert_eq!(code, 401);
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
    );

    h.sandbox.add_fault(Fault::ExpireToken);
    assert_eq!(h.get(KS).await.status, 401);
    h.sandbox.clear_faults();
    assert_eq!(h.get(KS).await.status, 200);
}

fn rustls_pem(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[tokio::test]
async fn get_and_not_found() {
    let h = start("canonical").await;
    let ks = h.get(&format!("{KS}/app-pre-deploy")).await;
    assert_eq!(ks.status, 200);
    let ks = ks.json();
    assert_eq!(
        (ks["kind"].as_str(), ks["apiVersion"].as_str()),
        (
            Some("Kustomization"),
            Some("kustomize.toolkit.fluxcd.io/v1")
        )
    );
    assert_eq!(
        ks["status"]["inventory"]["entries"][0]["id"],
        "apps_db-migration_batch_Job"
    );

    let missing = h.get(&format!("{KS}/nope")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "kustomizations.kustomize.toolkit.fluxcd.io \"nope\" not found",
            "reason": "NotFound", "details": {"name": "nope", "group": "kustomize.toolkit.fluxcd.io", "kind": "kustomizations"}, "code": 404,
        })
    );
    assert_eq!(
        h.get(&format!("{PODS}/nope")).await.json()["message"],
        "pods \"nope\" not found"
    );
}

#[tokio::test]
async fn lists_selectors_and_item_shapes() {
    let h = start("canonical").await;
    let jobs = h.get(JOBS).await.json();
    assert_eq!(jobs["kind"], "JobList");
    assert!(
        jobs["items"][0].get("kind").is_none(),
        "built-in list items carry no kind"
    );
    assert!(jobs["metadata"]["resourceVersion"].is_string());
    let ks = h.get(KS).await.json();
    assert_eq!(
        ks["items"][0]["kind"], "Kustomization",
        "custom resource items keep their kind"
    );
    assert_eq!(
        names(&ks),
        ["app-deploy", "app-post-deploy", "app-pre-deploy"]
    );

    let all = h
        .get("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations")
        .await
        .json();
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        3,
        "cluster-wide list for -A"
    );

    let q = |sel: &str| {
        format!(
            "{JOBS}?labelSelector={}",
            form_urlencoded::byte_serialize(sel.as_bytes()).collect::<String>()
        )
    };
    assert_eq!(
        names(
            &h.get(&q("kustomize.toolkit.fluxcd.io/name=app-pre-deploy"))
                .await
                .json()
        ),
        ["db-migration"]
    );
    assert_eq!(
        names(
            &h.get(&q(
                "kustomize.toolkit.fluxcd.io/name in (app-pre-deploy,app-post-deploy)"
            ))
            .await
            .json()
        ),
        ["cache-refresh", "db-migration"]
    );
    assert_eq!(
        names(
            &h.get(&q(
                "kustomize.toolkit.fluxcd.io/name notin (app-pre-deploy)"
            ))
            .await
            .json()
        ),
        ["cache-refresh"]
    );
    assert!(names(&h.get(&q("!kustomize.toolkit.fluxcd.io/name")).await.json()).is_empty());
    let pods = h
        .get(&format!(
            "{PODS}?labelSelector=batch.kubernetes.io/job-name%3Ddb-migration"
        ))
        .await
        .json();
    assert_eq!(names(&pods), ["db-migration-x7k2p"]);

    assert_eq!(
        names(
            &h.get(&format!("{KS}?fieldSelector=metadata.name%3Dapp-deploy"))
                .await
                .json()
        ),
        ["app-deploy"]
    );
    let bad = h.get(&format!("{KS}?fieldSelector=spec.path%3Dx")).await;
    assert_eq!(
        (bad.status, bad.json()["reason"].as_str()),
        (400, Some("BadRequest"))
    );
    assert_eq!(
        bad.json()["message"],
        "\"spec.path\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
}

#[tokio::test]
async fn events_in_both_api_groups_share_storage() {
    let h = start("failed").await;
    let core = h
        .get("/api/v1/namespaces/apps/events?fieldSelector=involvedObject.name%3Ddb-migration")
        .await
        .json();
    assert!(!core["items"].as_array().unwrap().is_empty());
    let reasons: Vec<&str> = core["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"BackoffLimitExceeded"), "{reasons:?}");

    let v1 = h.get("/apis/events.k8s.io/v1/namespaces/apps/events?fieldSelector=regarding.name%3Ddb-migration").await.json();
    assert_eq!(
        v1["items"].as_array().unwrap().len(),
        core["items"].as_array().unwrap().len()
    );
    let first = &v1["items"][0];
    assert_eq!(first["regarding"]["name"], "db-migration");
    assert!(first["note"].is_string() && first.get("message").is_none());

    let created = h
        .send_json("POST", "/apis/events.k8s.io/v1/namespaces/apps/events", "application/json", &json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
            "eventTime": "2026-08-21T06:03:00.000000Z", "reason": "Tested", "note": "hello", "type": "Normal",
            "action": "Test", "reportingController": "tests", "reportingInstance": "tests-1",
            "regarding": {"kind": "Job", "name": "db-migration", "namespace": "apps"},
        }))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let as_core = h.get("/api/v1/namespaces/apps/events/e1").await.json();
    assert_eq!(
        (
            as_core["message"].as_str(),
            as_core["involvedObject"]["name"].as_str()
        ),
        (Some("hello"), Some("db-migration"))
    );
}

#[tokio::test]
async fn pagination_with_continue_tokens() {
    let h = start("canonical").await;
    let mut seen = vec![];
    let mut path = format!("{KS}?limit=1");
    let first = h.get(&path).await.json();
    let first_rv = first["metadata"]["resourceVersion"].clone();
    assert_eq!(first["metadata"]["remainingItemCount"], 2);
    let mut page = first;
    loop {
        seen.extend(names(&page));
        assert_eq!(
            page["metadata"]["resourceVersion"], first_rv,
            "every page reports the list's resourceVersion"
        );
        match page["metadata"]["continue"].as_str() {
            Some(token) => {
                path = format!("{KS}?limit=1&continue={token}");
                page = h.get(&path).await.json();
            }
            None => break,
        }
    }
    assert_eq!(seen, ["app-deploy", "app-post-deploy", "app-pre-deploy"]);

    // resourceVersion=0 is served from the cache, which ignores limit.
    assert_eq!(
        names(
            &h.get(&format!("{KS}?limit=1&resourceVersion=0"))
                .await
                .json()
        )
        .len(),
        3
    );

    // A continue token older than the history expires with 410.
    let token = h.get(&format!("{KS}?limit=1")).await.json()["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_string();
    h.send_json(
        "PATCH",
        &format!("{KS}/app-deploy"),
        MERGE,
        &json!({"metadata": {"labels": {"x": "1"}}}),
    )
    .await;
    h.sandbox.add_fault(Fault::Gone);
    let expired = h.get(&format!("{KS}?limit=1&continue={token}")).await;
    assert_eq!(
        (expired.status, expired.json()["reason"].as_str()),
        (410, Some("Expired"))
    );
    assert_eq!(
        h.get(&format!("{KS}?limit=1&continue=garbage"))
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn create_defaults_and_rejections() {
    let h = start("canonical").await;
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "smoke"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}},
    });
    let created = h.send_json("POST", JOBS, "application/json", &job).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    let uid = created["metadata"]["uid"].as_str().unwrap();
    assert_eq!(created["metadata"]["generation"], 1);
    assert!(created["metadata"]["creationTimestamp"].is_string());
    assert_eq!(
        created["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        uid
    );
    assert_eq!(
        created["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"],
        "smoke"
    );
    assert_eq!(created["spec"]["backoffLimit"], 6);

    let again = h.send_json("POST", JOBS, "application/json", &job).await;
    assert_eq!(
        (again.status, again.json()["message"].as_str()),
        (409, Some("jobs.batch \"smoke\" already exists"))
    );

    let mut no_restart = job.clone();
    no_restart["metadata"]["name"] = json!("bad");
    no_restart["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("restartPolicy");
    let invalid = h
        .send_json("POST", JOBS, "application/json", &no_restart)
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(
        invalid.json()["message"],
        "Job.batch \"bad\" is invalid: spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
    );

    let elsewhere = h
        .send_json(
            "POST",
            "/apis/batch/v1/namespaces/ghost/jobs",
            "application/json",
            &job,
        )
        .await;
    assert_eq!(
        (elsewhere.status, elsewhere.json()["message"].as_str()),
        (404, Some("namespaces \"ghost\" not found"))
    );

    let mut generated = job.clone();
    generated["metadata"] = json!({"generateName": "run-"});
    let g = h
        .send_json("POST", JOBS, "application/json", &generated)
        .await
        .json();
    let name = g["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("run-") && name.len() == 9, "{name}");

    let dry = h.send_json("POST", &format!("{JOBS}?dryRun=All"), "application/json", &json!({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "dry"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}], "restartPolicy": "Never"}}},
    })).await;
    assert_eq!(dry.status, 201);
    assert_eq!(
        h.get(&format!("{JOBS}/dry")).await.status,
        404,
        "a dry run stores nothing"
    );
}

#[tokio::test]
async fn updates_conflicts_generation_and_status() {
    let h = start("canonical").await;
    let path = format!("{KS}/app-deploy");
    let ks = h.get(&path).await.json();

    // A spec change bumps generation; the status in the body is ignored.
    let mut changed = ks.clone();
    changed["spec"]["suspend"] = json!(true);
    changed["status"]["observedGeneration"] = json!(99);
    let updated = h
        .send_json("PUT", &path, "application/json", &changed)
        .await
        .json();
    assert_eq!(updated["metadata"]["generation"], 2);
    assert_eq!(updated["status"]["observedGeneration"], 1);

    // The old resourceVersion is now stale.
    let stale = h
        .send_json("PUT", &path, "application/json", &changed)
        .await;
    assert_eq!(stale.status, 409);
    assert_eq!(
        stale.json()["message"],
        "Operation cannot be fulfilled on kustomizations.kustomize.toolkit.fluxcd.io \"app-deploy\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // A custom resource update needs a resourceVersion.
    let mut no_rv = updated.clone();
    no_rv["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let invalid = h.send_json("PUT", &path, "application/json", &no_rv).await;
    assert_eq!(invalid.status, 422);
    assert!(invalid.json()["message"].as_str().unwrap().ends_with(
        "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    ));

    // Through /status: the status changes, the spec and generation do not.
    let mut status_write = updated.clone();
    status_write["spec"]["suspend"] = json!(false);
    status_write["status"]["observedGeneration"] = json!(2);
    let after = h
        .send_json(
            "PUT",
            &format!("{path}/status"),
            "application/json",
            &status_write,
        )
        .await
        .json();
    assert_eq!(
        (
            after["status"]["observedGeneration"].as_i64(),
            after["spec"]["suspend"].as_bool(),
            after["metadata"]["generation"].as_i64()
        ),
        (Some(2), Some(true), Some(2))
    );

    // A metadata-only change keeps the generation.
    let annotated = h
        .send_json(
            "PATCH",
            &path,
            MERGE,
            &json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "t1"}}}),
        )
        .await
        .json();
    assert_eq!(annotated["metadata"]["generation"], 2);

    // Built-ins accept an update without resourceVersion.
    let mut job = h.get(&format!("{JOBS}/db-migration")).await.json();
    job["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    job["metadata"]["labels"]["extra"] = json!("yes");
    assert_eq!(
        h.send_json(
            "PUT",
            &format!("{JOBS}/db-migration"),
            "application/json",
            &job
        )
        .await
        .status,
        200
    );

    // A no-op patch does not bump the resourceVersion.
    let before = h.get(&path).await.json()["metadata"]["resourceVersion"].clone();
    let noop = h
        .send_json("PATCH", &path, MERGE, &json!({"spec": {"suspend": true}}))
        .await
        .json();
    assert_eq!(noop["metadata"]["resourceVersion"], before);
}

#[tokio::test]
async fn patches_of_every_type() {
    let h = start("canonical").await;
    let path = format!("{KS}/app-post-deploy");
    let p = h
        .send_json(
            "PATCH",
            &path,
            JSON_PATCH,
            &json!([{"op": "add", "path": "/metadata/labels/team", "value": "a"}]),
        )
        .await;
    assert_eq!(
        (p.status, p.json()["metadata"]["labels"]["team"].as_str()),
        (200, Some("a"))
    );
    let failed_test = h
        .send_json(
            "PATCH",
            &path,
            JSON_PATCH,
            &json!([{"op": "test", "path": "/metadata/labels/team", "value": "b"}]),
        )
        .await;
    assert_eq!(failed_test.status, 422);

    let smp = h
        .send_json(
            "PATCH",
            &path,
            STRATEGIC,
            &json!({"spec": {"suspend": true}}),
        )
        .await;
    assert_eq!(
        (smp.status, smp.json()["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let smp_builtin = h
        .send_json(
            "PATCH",
            &format!("{JOBS}/db-migration"),
            STRATEGIC,
            &json!({"metadata": {"labels": {"a": "b"}, "$setElementOrder/finalizers": []}}),
        )
        .await
        .json();
    assert_eq!(smp_builtin["metadata"]["labels"]["a"], "b");
    assert!(
        smp_builtin["metadata"]
            .get("$setElementOrder/finalizers")
            .is_none(),
        "directives are not stored"
    );

    // Server-side apply: create, conflict with another manager, force.
    let cm_path = format!("{JOBS}/applied?fieldManager=flux");
    let manifest = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: applied\n  labels: {owner: flux}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: 'busybox:1'}]\n      restartPolicy: Never\n";
    let created = h.call("PATCH", &cm_path, Some(APPLY), manifest, &[]).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let mf = &created.json()["metadata"]["managedFields"];
    assert_eq!(
        (mf[0]["manager"].as_str(), mf[0]["operation"].as_str()),
        (Some("flux"), Some("Apply"))
    );

    h.send_json(
        "PATCH",
        &format!("{JOBS}/applied?fieldManager=kubectl-label"),
        MERGE,
        &json!({"metadata": {"labels": {"owner": "me"}}}),
    )
    .await;
    let conflict = h.call("PATCH", &cm_path, Some(APPLY), manifest, &[]).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(
        conflict.json()["message"],
        "Apply failed with 1 conflict: conflict with \"kubectl-label\" using batch/v1: .metadata.labels.owner"
    );
    assert_eq!(
        conflict.json()["details"]["causes"][0]["reason"],
        "FieldManagerConflict"
    );
    let forced = h
        .call(
            "PATCH",
            &format!("{cm_path}&force=true"),
            Some(APPLY),
            manifest,
            &[],
        )
        .await;
    assert_eq!(
        (
            forced.status,
            forced.json()["metadata"]["labels"]["owner"].as_str()
        ),
        (200, Some("flux"))
    );
    assert_eq!(
        h.call(
            "PATCH",
            &format!("{JOBS}/applied"),
            Some(APPLY),
            manifest,
            &[]
        )
        .await
        .status,
        400,
        "apply needs a field manager"
    );
    assert_eq!(
        h.call(
            "PATCH",
            &format!("{JOBS}/applied"),
            Some("text/plain"),
            "x",
            &[]
        )
        .await
        .status,
        415
    );
}

#[tokio::test]
async fn job_spec_template_is_immutable() {
    let h = start("canonical").await;
    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "migration", "image": "ghcr.io/org/my-app:v2"}]}}}});
    let r = h
        .send_json("PATCH", &format!("{JOBS}/db-migration"), MERGE, &image)
        .await;
    assert_eq!(r.status, 422);
    let s = r.json();
    assert_eq!(s["reason"], "Invalid");
    let msg = s["message"].as_str().unwrap();
    assert!(msg.starts_with("Job.batch \"db-migration\" is invalid: spec.template: Invalid value: core.PodTemplateSpec{"), "{msg}");
    assert!(
        msg.ends_with("}: field is immutable") && msg.contains("ghcr.io/org/my-app:v2"),
        "{msg}"
    );
    assert_eq!(s["details"]["causes"][0]["field"], "spec.template");
    assert_eq!(s["details"]["kind"], "Job");

    let both = h
        .send_json(
            "PATCH",
            &format!("{JOBS}/db-migration"),
            MERGE,
            &json!({"spec": {"completions": 2, "selector": {"matchLabels": {"a": "b"}}}}),
        )
        .await;
    let msg = both.json()["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("is invalid: [spec.selector: Invalid value: v1.LabelSelector{")
            && msg.contains("spec.completions: Invalid value: 2: field is immutable]"),
        "{msg}"
    );
}

#[tokio::test]
async fn deletes_with_preconditions_and_propagation() {
    let h = start("canonical").await;
    let job = h.get(&format!("{JOBS}/db-migration")).await.json();
    let uid = job["metadata"]["uid"].as_str().unwrap();

    let wrong = h
        .send_json(
            "DELETE",
            &format!("{JOBS}/db-migration"),
            "application/json",
            &json!({"preconditions": {"uid": "not-it"}}),
        )
        .await;
    assert_eq!(wrong.status, 409);
    assert_eq!(
        wrong.json()["message"],
        format!(
            "Operation cannot be fulfilled on jobs.batch \"db-migration\": Precondition failed: UID in precondition: not-it, UID in object meta: {uid}"
        )
    );
    let wrong_rv = h
        .send_json(
            "DELETE",
            &format!("{JOBS}/db-migration"),
            "application/json",
            &json!({"preconditions": {"resourceVersion": "1"}}),
        )
        .await;
    assert!(
        wrong_rv.json()["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed: ResourceVersion in precondition: 1")
    );

    // Background with the right uid: the Job goes, its Pods with it.
    let ok = h
        .send_json(
            "DELETE",
            &format!("{JOBS}/db-migration"),
            "application/json",
            &json!({"propagationPolicy": "Background", "preconditions": {"uid": uid}}),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.json(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": {"name": "db-migration", "group": "batch", "kind": "jobs", "uid": uid}})
    );
    assert!(ok.headers.get("warning").is_none());
    assert_eq!(h.get(&format!("{JOBS}/db-migration")).await.status, 404);
    assert!(
        names(&h.get(PODS).await.json()).is_empty(),
        "Background propagation deletes the pods"
    );
}

#[tokio::test]
async fn deleting_a_job_without_a_policy_orphans_its_pods() {
    let h = start("canonical").await;
    let r = h
        .call("DELETE", &format!("{JOBS}/db-migration"), None, vec![], &[])
        .await;
    assert_eq!(r.status, 200);
    let warning = r.headers["warning"].to_str().unwrap();
    assert!(
        warning.starts_with("299 - \"child pods are preserved by default when jobs are deleted;"),
        "{warning}"
    );
    let pods = h.get(PODS).await.json();
    assert_eq!(names(&pods), ["db-migration-x7k2p"]);
    assert!(
        pods["items"][0]["metadata"]
            .get("ownerReferences")
            .is_none(),
        "orphaned pods lose the owner reference"
    );
}

#[tokio::test]
async fn foreground_deletion_and_finalizers() {
    let h = start("canonical").await;
    let r = h
        .send_json(
            "DELETE",
            &format!("{JOBS}/db-migration"),
            "application/json",
            &json!({"propagationPolicy": "Foreground"}),
        )
        .await;
    assert_eq!(
        r.status, 200,
        "dependents are collected at once, so the deletion completes"
    );
    assert_eq!(h.get(&format!("{JOBS}/db-migration")).await.status, 404);
    assert!(names(&h.get(PODS).await.json()).is_empty());

    // Flux objects carry finalizers: deletion marks them and waits for the controller.
    let ks = format!("{KS}/app-pre-deploy");
    let pending = h.call("DELETE", &ks, None, vec![], &[]).await;
    assert_eq!(pending.status, 202);
    let marked = pending.json();
    assert!(marked["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(
        marked["metadata"]["generation"], 2,
        "setting deletionTimestamp bumps the generation"
    );
    let done = h
        .send_json(
            "PATCH",
            &ks,
            MERGE,
            &json!({"metadata": {"finalizers": null}}),
        )
        .await;
    assert_eq!(done.status, 200);
    assert_eq!(
        h.get(&ks).await.status,
        404,
        "removing the last finalizer completes the deletion"
    );

    // A custom resource without finalizers returns the deleted object.
    let gone = h
        .send_json(
            "PATCH",
            &format!("{KS}/app-deploy"),
            MERGE,
            &json!({"metadata": {"finalizers": null}}),
        )
        .await;
    assert_eq!(gone.status, 200);
    let del = h
        .call("DELETE", &format!("{KS}/app-deploy"), None, vec![], &[])
        .await;
    assert_eq!(
        (del.status, del.json()["kind"].as_str()),
        (200, Some("Kustomization"))
    );
}

#[tokio::test]
async fn watches_resume_expire_and_translate_selectors() {
    let h = start_with(
        Scenario::builtin("canonical").unwrap(),
        Options {
            bookmark_interval: Duration::from_millis(100),
            controllers: false,
            ..Options::default()
        },
    )
    .await;
    let list = h.get(KS).await.json();
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();

    let mut w = h
        .stream(&format!(
            "{KS}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
        ))
        .await;
    h.send_json(
        "PATCH",
        &format!("{KS}/app-deploy"),
        MERGE,
        &json!({"metadata": {"annotations": {"a": "1"}}}),
    )
    .await;
    let ev = w.until(|e| e["type"] != "BOOKMARK").await;
    assert_eq!(
        (
            ev["type"].as_str(),
            ev["object"]["metadata"]["name"].as_str()
        ),
        (Some("MODIFIED"), Some("app-deploy"))
    );
    assert_eq!(ev["object"]["kind"], "Kustomization");
    let bookmark = w.until(|e| e["type"] == "BOOKMARK").await;
    assert_eq!(bookmark["object"]["kind"], "Kustomization");
    assert!(bookmark["object"]["metadata"]["resourceVersion"].is_string());

    // Resuming from the list's version replays what happened since.
    let mut again = h
        .stream(&format!("{KS}?watch=true&resourceVersion={rv}"))
        .await;
    let replay = again.next_event().await.unwrap();
    assert_eq!(
        (
            replay["type"].as_str(),
            replay["object"]["metadata"]["annotations"]["a"].as_str()
        ),
        (Some("MODIFIED"), Some("1"))
    );

    // Without a version: the current objects as ADDED first.
    let mut fresh = h.stream(&format!("{KS}?watch=1")).await;
    for _ in 0..3 {
        assert_eq!(fresh.next_event().await.unwrap()["type"], "ADDED");
    }

    // A label change moving an object out of the selector is a DELETED for that watch.
    let mut selected = h
        .stream(&format!(
            "{JOBS}?watch=1&labelSelector=kustomize.toolkit.fluxcd.io/name%3Dapp-pre-deploy"
        ))
        .await;
    assert_eq!(selected.next_event().await.unwrap()["type"], "ADDED");
    h.send_json(
        "PATCH",
        &format!("{JOBS}/db-migration"),
        MERGE,
        &json!({"metadata": {"labels": {"kustomize.toolkit.fluxcd.io/name": "other"}}}),
    )
    .await;
    assert_eq!(selected.next_event().await.unwrap()["type"], "DELETED");

    // Expired history: HTTP 200, then an ERROR event with a 410 Status.
    h.sandbox.add_fault(Fault::Gone);
    let mut expired = h
        .stream(&format!("{KS}?watch=1&resourceVersion={rv}"))
        .await;
    let err = expired.next_event().await.unwrap();
    assert_eq!(err["type"], "ERROR");
    assert_eq!(
        (
            err["object"]["code"].as_i64(),
            err["object"]["reason"].as_str()
        ),
        (Some(410), Some("Expired"))
    );
    assert!(
        err["object"]["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("too old resource version: {rv} ("))
    );
    assert!(
        expired.next_line().await.is_none(),
        "the stream ends after the error"
    );
}

#[tokio::test]
async fn watch_timeouts_initial_events_and_cuts() {
    let h = start("canonical").await;
    let mut timed = h
        .stream(&format!(
            "{KS}?watch=1&timeoutSeconds=1&resourceVersion={}",
            h.sandbox.api().store.resource_version()
        ))
        .await;
    assert!(
        timed.next_line().await.is_none(),
        "timeoutSeconds ends the stream"
    );

    let mut initial = h.stream(&format!("{KS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true")).await;
    for _ in 0..3 {
        assert_eq!(initial.next_event().await.unwrap()["type"], "ADDED");
    }
    let end = initial.next_event().await.unwrap();
    assert_eq!(
        (
            end["type"].as_str(),
            end["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"].as_str()
        ),
        (Some("BOOKMARK"), Some("true"))
    );

    h.sandbox.add_fault(Fault::CutWatch {
        path: "*kustomizations".into(),
        after_events: Some(2),
        after_seconds: None,
        count: Some(1),
    });
    let mut cut = h.stream(&format!("{KS}?watch=1")).await;
    assert!(cut.next_event().await.is_some() && cut.next_event().await.is_some());
    assert!(cut.next_line().await.is_none(), "cut after two events");
    let mut uncut = h.stream(&format!("{KS}?watch=1")).await;
    for _ in 0..3 {
        assert!(
            uncut.next_event().await.is_some(),
            "the fault applied to one watch only"
        );
    }
}

#[tokio::test]
async fn tables_for_kubectl_get() {
    let h = start("canonical").await;
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let t = h
        .call("GET", KS, None, vec![], &[("accept", accept)])
        .await
        .json();
    assert_eq!(t["kind"], "Table");
    let cols: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Name", "Age", "Ready", "Status"]);
    assert_eq!(t["rows"][2]["cells"][0], "app-pre-deploy");
    assert_eq!(t["rows"][2]["cells"][2], "True");
    assert_eq!(t["rows"][2]["object"]["kind"], "PartialObjectMetadata");

    let jobs = h
        .call("GET", JOBS, None, vec![], &[("accept", accept)])
        .await
        .json();
    let cols: Vec<&str> = jobs["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        &cols[..5],
        ["Name", "Status", "Completions", "Duration", "Age"]
    );
    assert_eq!(
        jobs["rows"][1]["cells"].as_array().unwrap()[1..4],
        [json!("Complete"), json!("1/1"), json!("21s")]
    );
}

#[tokio::test]
async fn large_responses_are_gzipped_when_accepted() {
    let h = start_with(Scenario::scale(200), Options::default()).await;
    let path = "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations";
    let r = h
        .call("GET", path, None, vec![], &[("accept-encoding", "gzip")])
        .await;
    assert_eq!(r.headers["content-encoding"], "gzip");
    let mut json = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut json)
        .unwrap();
    let list: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 600);
    let plain = h.get(path).await;
    assert!(plain.headers.get("content-encoding").is_none());
    assert_eq!(plain.body.len(), json.len());
}

#[tokio::test]
async fn pod_logs_plain_tailed_and_followed() {
    let h = start("failed").await;
    let log = h.get(&format!("{PODS}/db-migration-b7t5n/log")).await;
    assert_eq!(log.headers["content-type"], "text/plain");
    assert!(log.text().ends_with("migration failed, rolling back\n"));
    assert_eq!(
        h.get(&format!("{PODS}/db-migration-b7t5n/log?tailLines=2"))
            .await
            .text(),
        "ERROR: relation \"users_v2\" does not exist\nmigration failed, rolling back\n"
    );
    let bad = h
        .get(&format!("{PODS}/db-migration-b7t5n/log?container=nope"))
        .await;
    assert_eq!(
        (bad.status, bad.json()["message"].as_str()),
        (
            400,
            Some("container nope is not valid for pod db-migration-b7t5n")
        )
    );
    assert_eq!(h.get(&format!("{PODS}/gone/log")).await.status, 404);

    // Follow a running pod: appended lines arrive, and the stream ends when the pod does.
    let api = h.sandbox.api();
    api.load(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "runner", "namespace": "apps"},
        "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running"}})).unwrap();
    api.store.append_log("apps", "runner", "one\n");
    let mut follow = h.stream(&format!("{PODS}/runner/log?follow=true")).await;
    assert_eq!(follow.next_line().await.as_deref(), Some("one"));
    api.store.append_log("apps", "runner", "two\n");
    assert_eq!(follow.next_line().await.as_deref(), Some("two"));
    h.sandbox
        .merge_patch(
            "",
            "pods",
            "apps",
            "runner",
            &json!({"status": {"phase": "Succeeded"}}),
            true,
        )
        .unwrap();
    assert!(follow.next_line().await.is_none());
}

#[tokio::test]
async fn injected_faults_and_the_request_log() {
    let h = start("canonical").await;
    h.sandbox.add_fault(Fault::Fail {
        path: "/apis/batch/v1/*".into(),
        method: None,
        count: 2,
        status: 503,
        retry_after: Some(3),
    });
    let first = h.get(JOBS).await;
    assert_eq!(
        (first.status, first.headers["retry-after"].to_str().unwrap()),
        (503, "3")
    );
    assert_eq!(first.json()["reason"], "ServiceUnavailable");
    assert_eq!(h.get(JOBS).await.status, 503);
    assert_eq!(
        h.get(JOBS).await.status,
        200,
        "the fault ran out after two requests"
    );

    h.sandbox.add_fault(Fault::Fail {
        path: "*".into(),
        method: Some("GET".into()),
        count: 1,
        status: 429,
        retry_after: Some(1),
    });
    let throttled = h.get(KS).await;
    assert_eq!(
        (
            throttled.status,
            throttled.json()["details"]["retryAfterSeconds"].as_i64()
        ),
        (429, Some(1))
    );

    h.sandbox.add_fault(Fault::Latency {
        path: KS.into(),
        method: None,
        millis: 50,
        count: Some(1),
    });
    assert_eq!(
        h.get(KS).await.status,
        200,
        "latency delays but does not fail"
    );

    h.sandbox.add_fault(Fault::Deny {
        verb: "list".into(),
        group: "batch".into(),
        resource: "jobs".into(),
        namespace: Some("apps".into()),
        name: None,
    });
    let denied = h.get(JOBS).await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.json()["message"],
        "jobs.batch is forbidden: User \"sandbox-admin\" cannot list resource \"jobs\" in API group \"batch\" in the namespace \"apps\""
    );
    assert_eq!(h.get(KS).await.status, 200, "other resources stay readable");

    // The control endpoint speaks the same faults over HTTP.
    let added = h
        .send_json(
            "POST",
            "/sandbox/v1/faults",
            "application/json",
            &json!({"type": "deny", "verb": "get", "resource": "pods", "namespace": "apps"}),
        )
        .await;
    assert_eq!(added.status, 201);
    let pod = h.get(&format!("{PODS}/db-migration-x7k2p")).await;
    assert_eq!(
        pod.json()["message"],
        "pods \"db-migration-x7k2p\" is forbidden: User \"sandbox-admin\" cannot get resource \"pods\" in API group \"\" in the namespace \"apps\""
    );
    assert_eq!(
        h.call("DELETE", "/sandbox/v1/faults", None, vec![], &[])
            .await
            .status,
        200
    );
    assert_eq!(h.get(JOBS).await.status, 200);

    let log = h.sandbox.requests();
    let lists: Vec<_> = log
        .iter()
        .filter(|r| r.verb == "list" && r.resource == "jobs")
        .collect();
    assert_eq!(
        lists.iter().map(|r| r.code).collect::<Vec<_>>(),
        [503, 503, 200, 403, 200]
    );
    assert_eq!(lists[0].namespace, "apps");
    let via_http = h.get("/sandbox/v1/requests").await.json();
    assert_eq!(via_http.as_array().unwrap().len(), log.len());
}

#[tokio::test]
async fn scale_scenario_loads_and_lists() {
    let h = start_with(Scenario::scale(300), Options::default()).await;
    let ks = h
        .get("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations?limit=500")
        .await
        .json();
    assert_eq!(ks["items"].as_array().unwrap().len(), 500);
    assert_eq!(ks["metadata"]["remainingItemCount"], 400);
    let jobs = h.get("/apis/batch/v1/jobs?resourceVersion=0").await.json();
    assert_eq!(jobs["items"].as_array().unwrap().len(), 600);
    let one = h
        .get("/apis/batch/v1/namespaces/team-002/jobs/app-00250-db-migration")
        .await
        .json();
    assert_eq!(one["status"]["succeeded"], 1);
    assert_eq!(
        one["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"],
        one["metadata"]["uid"]
    );
}
