//! `doctor`'s and `lint`'s checks, one test per finding: the example
//! repository lints clean, and a copy broken in one way finds that one thing.

use std::path::Path;

use super::repo::{Files, RepoError, render};
use super::*;
use crate::model::Selection;
use crate::model::snapshot_from_yaml;

/// The files of a directory, as `lint` reads them.
fn files_under(root: &Path) -> Files {
    fn walk(root: &Path, dir: &Path, files: &mut Files) {
        for entry in std::fs::read_dir(dir).expect("a readable directory") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                walk(root, &path, files);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                let rel = path.strip_prefix(root).expect("under the root");
                files.insert(rel.to_string_lossy().replace('\\', "/"), text);
            }
        }
    }
    let mut files = Files::new();
    walk(root, root, &mut files);
    files
}

pub(super) fn example() -> Files {
    files_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/app-repo"))
}

fn lint(files: &Files) -> Diagnosis {
    let subject = render(files, "").expect("the repository renders");
    diagnose(&subject, &Selection::default())
}

fn codes(d: &Diagnosis) -> Vec<&'static str> {
    d.findings.iter().map(|f| f.code).collect()
}

#[test]
fn the_example_repository_lints_clean() {
    let d = lint(&example());
    assert_eq!(
        d.stages,
        [
            "apps/app-deploy",
            "apps/app-post-deploy",
            "apps/app-pre-deploy"
        ]
    );
    assert_eq!(
        d.summary.errors + d.summary.warnings,
        0,
        "{:#?}",
        d.findings
    );
    assert_eq!(
        codes(&d),
        ["JG014"],
        "only the dependency poll's cost, as info"
    );
    assert!(d.not_checked.is_empty(), "{:?}", d.not_checked);
}

/// The example with one file's text changed: `from` must occur in it.
fn broken(file: &str, from: &str, to: &str) -> Files {
    let mut files = example();
    let text = files.get_mut(file).expect("the example has the file");
    assert!(text.contains(from), "{file} holds {from:?}");
    *text = text.replacen(from, to, 1);
    files
}

/// The one finding of `code` in the linted copy (besides the poll's cost).
fn finding(files: &Files, code: &str) -> Finding {
    let d = lint(files);
    let found: Vec<&Finding> = d.findings.iter().filter(|f| f.code == code).collect();
    assert_eq!(found.len(), 1, "one {code} in {:#?}", d.findings);
    found[0].clone()
}

#[test]
fn a_job_with_a_ttl_is_an_error_located_at_the_job() {
    let files = broken(
        "pre-deploy/migration.job.yaml",
        "spec:\n  template:",
        "spec:\n  ttlSecondsAfterFinished: 600\n  template:",
    );
    let f = finding(&files, "JG001");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.object, "Job apps/db-migration");
    assert_eq!(f.stage.as_deref(), Some("apps/app-pre-deploy"));
    assert_eq!(
        f.message,
        "Job apps/db-migration sets ttlSecondsAfterFinished: 600"
    );
    assert_eq!(
        f.location,
        Some(Location {
            file: "pre-deploy/migration.job.yaml".into(),
            line: 1
        })
    );
    assert!(f.reference.ends_with("kustomize-controller/issues/1578"));
}

#[test]
fn a_job_stage_without_force_is_an_error_unless_the_job_is_annotated() {
    let files = broken("flux/pre-deploy.yaml", "  force: true\n", "");
    let f = finding(&files, "JG002");
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.object, "Job apps/db-migration");
    assert!(
        f.snippet
            .as_deref()
            .is_some_and(|s| s.contains("force: true"))
    );

    let mut annotated = files.clone();
    let job = annotated
        .get_mut("pre-deploy/migration.job.yaml")
        .expect("the Job");
    *job = job.replacen(
        "  name: db-migration\n",
        "  name: db-migration\n  annotations:\n    kustomize.toolkit.fluxcd.io/force: Enabled\n",
        1,
    );
    assert!(
        !codes(&lint(&annotated)).contains(&"JG002"),
        "the annotation, any case, forces the Job"
    );
}

#[test]
fn a_job_stage_without_wait_is_an_error_unless_a_health_check_covers_the_job() {
    let files = broken("flux/pre-deploy.yaml", "  wait: true\n", "");
    let f = finding(&files, "JG003");
    assert_eq!(f.severity, Severity::Error, "the deploy depends on it");
    let covered = broken(
        "flux/pre-deploy.yaml",
        "  wait: true\n",
        "  healthChecks:\n    - apiVersion: batch/v1\n      kind: Job\n      name: db-migration\n      namespace: apps\n",
    );
    assert!(!codes(&lint(&covered)).contains(&"JG003"));
    // Nothing depends on the post stage: only a warning.
    let post = broken("flux/post-deploy.yaml", "  wait: true\n", "");
    assert_eq!(finding(&post, "JG003").severity, Severity::Warning);
}

#[test]
fn a_timeout_shorter_than_the_jobs_retries_is_a_warning() {
    let files = broken(
        "pre-deploy/migration.job.yaml",
        "spec:\n  template:",
        "spec:\n  activeDeadlineSeconds: 120\n  backoffLimit: 2\n  template:",
    );
    let f = finding(&files, "JG004");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message.contains("(5m)") && f.message.contains("120 × 3 attempts = 6m"),
        "{}",
        f.message
    );
    // Within the timeout: nothing to say.
    let fits = broken(
        "pre-deploy/migration.job.yaml",
        "spec:\n  template:",
        "spec:\n  activeDeadlineSeconds: 60\n  backoffLimit: 2\n  template:",
    );
    assert!(!codes(&lint(&fits)).contains(&"JG004"));
}

#[test]
fn stages_on_different_sources_are_a_warning_on_the_dependent() {
    let files = broken(
        "flux/deploy.yaml",
        "    name: my-app",
        "    name: my-app-deploy",
    );
    let d = lint(&files);
    let on: Vec<_> = d.findings.iter().filter(|f| f.code == "JG005").collect();
    let stages: Vec<_> = on.iter().filter_map(|f| f.stage.as_deref()).collect();
    // Both edges of the deploy cross sources: its own, and the post stage's.
    assert_eq!(stages, ["apps/app-deploy", "apps/app-post-deploy"]);
    let f = on[0];
    assert!(
        f.message.contains("GitRepository/apps/my-app-deploy")
            && f.message.contains("GitRepository/apps/my-app")
    );
}

#[test]
fn a_pre_stage_nothing_depends_on_names_the_deploy_it_should_gate() {
    let files = broken(
        "flux/deploy.yaml",
        "  dependsOn:\n    - name: app-pre-deploy\n",
        "",
    );
    let f = finding(&files, "JG006");
    assert_eq!(f.object, "Kustomization apps/app-pre-deploy");
    assert_eq!(f.fix, "add it to the dependsOn of apps/app-deploy");
    assert!(
        f.snippet
            .as_deref()
            .is_some_and(|s| s.contains("- name: app-pre-deploy"))
    );
}

#[test]
fn a_post_stage_that_does_not_follow_the_deploy_is_a_warning() {
    let files = broken(
        "flux/post-deploy.yaml",
        "    - name: app-deploy",
        "    - name: app-pre-deploy",
    );
    let f = finding(&files, "JG007");
    assert_eq!(f.object, "Kustomization apps/app-post-deploy");
}

#[test]
fn a_job_on_another_tag_than_the_app_is_a_warning() {
    let files = broken(
        "pre-deploy/kustomization.yaml",
        "newTag: v1.0.0",
        "newTag: v0.9.0",
    );
    let f = finding(&files, "JG008");
    assert_eq!(f.object, "Job apps/db-migration");
    assert_eq!(
        f.message,
        "Job apps/db-migration runs ghcr.io/org/my-app:v0.9.0; Deployment apps/my-app runs ghcr.io/org/my-app:v1.0.0"
    );
}

#[test]
fn a_job_with_generate_name_is_an_error() {
    let files = broken(
        "pre-deploy/migration.job.yaml",
        "  name: db-migration",
        "  generateName: db-migration-",
    );
    let f = finding(&files, "JG009");
    assert_eq!(f.object, "Job apps/db-migration-*");
}

#[test]
fn a_dependency_cycle_is_an_error() {
    let files = broken(
        "flux/pre-deploy.yaml",
        "spec:\n",
        "spec:\n  dependsOn:\n    - name: app-post-deploy\n",
    );
    let f = finding(&files, "JG010");
    assert!(f.message.contains(" → "), "{}", f.message);
    assert!(
        !codes(&lint(&files)).contains(&"JG014"),
        "no poll cost for a chain that never moves"
    );
}

#[test]
fn a_missing_dependency_is_an_error_with_a_suggestion() {
    let files = broken(
        "flux/deploy.yaml",
        "    - name: app-pre-deploy",
        "    - name: app-predeploy",
    );
    let f = finding(&files, "JG011");
    assert_eq!(
        f.message,
        "apps/app-deploy depends on apps/app-predeploy, which does not exist"
    );
    assert!(
        f.fix.starts_with("did you mean app-pre-deploy?"),
        "{}",
        f.fix
    );
}

#[test]
fn a_ready_expr_is_shown_as_info() {
    let files = broken(
        "flux/deploy.yaml",
        "    - name: app-pre-deploy\n",
        "    - name: app-pre-deploy\n      readyExpr: dep.status.conditions.all(c, c.status == 'True')\n",
    );
    let f = finding(&files, "JG012");
    assert_eq!(f.severity, Severity::Info);
}

#[test]
fn an_object_without_a_namespace_and_no_target_namespace_is_an_error() {
    // The seed's own manifests: kustomize-controller refuses them.
    let files = broken("pre-deploy/kustomization.yaml", "namespace: apps\n", "");
    let f = finding(&files, "JG016");
    assert_eq!(f.object, "Job db-migration");
    let targeted = {
        let mut files = files.clone();
        let ks = files.get_mut("flux/pre-deploy.yaml").expect("the stage");
        *ks = ks.replacen("  path:", "  targetNamespace: apps\n  path:", 1);
        files
    };
    assert!(!codes(&lint(&targeted)).contains(&"JG016"));
}

#[test]
fn kustomize_features_lint_does_not_read_are_reported_not_guessed() {
    let files = broken(
        "deploy/kustomization.yaml",
        "resources:\n",
        "components:\n  - ../components/tls\nconfigMapGenerator:\n  - name: cfg\nresources:\n  - https://github.com/org/base//deploy?ref=v1\n",
    );
    let d = lint(&files);
    let why: Vec<&str> = d.not_checked.iter().map(|n| n.why.as_str()).collect();
    assert!(why.iter().any(|w| w.contains("components")), "{why:?}");
    assert!(why.iter().any(|w| w.contains("generators")), "{why:?}");
    assert!(
        why.iter()
            .any(|w| w.contains("remote base https://github.com/org/base")),
        "{why:?}"
    );
}

#[test]
fn patches_apply_as_kustomize_applies_them() {
    // A strategic merge on the container by name, then RFC 6902.
    let mut files = broken(
        "pre-deploy/kustomization.yaml",
        "images:",
        "patches:\n  - path: ttl.yaml\n  - target: {kind: Job, name: db-migration}\n    patch: |\n      - op: add\n        path: /spec/activeDeadlineSeconds\n        value: 600\nimages:",
    );
    files.insert(
        "pre-deploy/ttl.yaml".into(),
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: db-migration\nspec:\n  ttlSecondsAfterFinished: 60\n".into(),
    );
    let d = lint(&files);
    assert!(
        codes(&d).contains(&"JG001"),
        "the merge patch added the TTL"
    );
    assert!(
        codes(&d).contains(&"JG004"),
        "the JSON patch added the deadline: 600 × 7 > 5m"
    );
}

#[test]
fn a_malformed_file_is_a_located_error() {
    let files = broken("flux/deploy.yaml", "  wait: true", "  wait: [true");
    match render(&files, "") {
        Err(RepoError::Yaml(e)) => {
            assert_eq!(e.file, "flux/deploy.yaml");
            assert!(e.line >= 15, "{e}");
            assert!(!e.message.contains('\n'), "one line: {e}");
        }
        other => panic!("a located error, got {other:?}"),
    }
}

#[test]
fn a_repository_without_flux_kustomizations_cannot_be_linted() {
    let files: Files = [("README.md".to_string(), "# nothing".to_string())].into();
    assert_eq!(render(&files, "").err(), Some(RepoError::NoKustomizations));
}

/// The live checks, from objects as a cluster holds them.
fn doctor(yaml: &str) -> Diagnosis {
    let snapshot = snapshot_from_yaml(yaml).expect("the objects parse");
    let mut subject = Subject {
        snapshot,
        live: true,
        ..Subject::default()
    };
    let jobs: Vec<_> = subject.snapshot.jobs().to_vec();
    for ks in subject.snapshot.kustomizations() {
        let mine: Vec<Manifest> = jobs
            .iter()
            .filter(|j| {
                ks.inventory_jobs()
                    .iter()
                    .any(|r| r.name == j.metadata.name)
            })
            .map(Manifest::from_job)
            .collect();
        subject.objects.insert(ks.key(), mine);
    }
    diagnose(&subject, &Selection::default())
}

const CANONICAL: &str = include_str!("../../../tests/sandbox/scenarios/canonical.yaml");

#[test]
fn the_canonical_cluster_has_no_pitfalls() {
    let d = doctor(CANONICAL);
    assert_eq!(d.kind, "DoctorReport");
    assert_eq!(codes(&d), ["JG014"], "{:#?}", d.findings);
}

#[test]
fn a_job_gone_from_the_cluster_is_a_warning() {
    let without: String = CANONICAL.replacen(
        "name: db-migration\n      namespace: apps\n      uid",
        "name: db-migration-deleted\n      namespace: apps\n      uid",
        1,
    );
    assert_ne!(without, CANONICAL, "the Job's metadata was found");
    let d = doctor(&without);
    let f = d
        .findings
        .iter()
        .find(|f| f.code == "JG017")
        .expect("JG017");
    assert_eq!(f.object, "Job apps/db-migration");
}

#[test]
fn a_stage_edited_with_kubectl_under_a_parent_is_a_warning() {
    let edited = CANONICAL.replacen(
        "      name: app-deploy\n      namespace: apps\n",
        "      name: app-deploy\n      namespace: apps\n      managedFields:\n      - manager: kubectl-edit\n        operation: Update\n",
        1,
    );
    let d = doctor(&edited);
    let f = d
        .findings
        .iter()
        .find(|f| f.code == "JG013")
        .expect("JG013");
    assert!(
        f.message.contains("kubectl-edit") && f.message.contains("flux-system/flux-system"),
        "{}",
        f.message
    );
}

#[test]
fn a_canceled_health_check_is_info_and_a_namespace_error_is_an_error() {
    let canceled = CANONICAL.replacen(
        "reason: ReconciliationSucceeded",
        "reason: HealthCheckCanceled",
        1,
    );
    assert!(codes(&doctor(&canceled)).contains(&"JG015"));
    let refused = CANONICAL.replacen(
        "        message: 'Applied revision: main@sha1:9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6'\n        observedGeneration: 1\n        reason: ReconciliationSucceeded\n        status: \"True\"",
        "        message: 'Job/db-migration namespace not specified: the server could not find the requested resource'\n        observedGeneration: 1\n        reason: ReconciliationFailed\n        status: \"False\"",
        1,
    );
    assert_ne!(refused, CANONICAL);
    assert!(codes(&doctor(&refused)).contains(&"JG016"));
}

/// The sandbox's canonical scenario serves what the example repository holds:
/// each path's objects, as `lint` renders them, are the scenario's.
#[test]
fn the_sandbox_serves_the_example_repository() {
    let scenario: serde_json::Value =
        serde_saphyr::from_str(CANONICAL).expect("the scenario parses");
    let repo = &scenario["spec"]["simulation"]["repositories"][0];
    assert_eq!(repo["name"], "my-app");
    let manifests = repo["manifests"].as_object().expect("manifests by path");
    assert_eq!(manifests.len(), 3);
    for (path, objects) in manifests {
        let built = super::repo::build(&example(), path).expect("the path builds");
        assert_eq!(&serde_json::Value::Array(built), objects, "{path}");
    }
}

#[test]
fn a_path_that_is_not_in_the_repository_is_an_error() {
    let files = broken(
        "flux/deploy.yaml",
        "  path: ./deploy/",
        "  path: ./deploy-typo/",
    );
    let f = finding(&files, "JG018");
    assert_eq!(f.stage.as_deref(), Some("apps/app-deploy"));
    assert!(f.message.contains("./deploy-typo/"));
}

/// Every view of one report, for a copy with an error, a warning and an info.
#[test]
fn the_views_of_a_lint_report() {
    let mut files = broken("flux/pre-deploy.yaml", "  force: true\n", "");
    let job = files
        .get_mut("pre-deploy/migration.job.yaml")
        .expect("the Job");
    *job = job.replacen(
        "spec:\n  template:",
        "spec:\n  activeDeadlineSeconds: 120\n  template:",
        1,
    );
    let d = lint(&files);
    let styles = crate::render::Styles::default();
    insta::assert_snapshot!("lint_text", crate::render::findings::text(&d, styles));
    insta::assert_snapshot!("lint_github", crate::render::findings::github(&d));
    insta::assert_json_snapshot!("lint_json", d);
    let clean = lint(&example());
    insta::assert_snapshot!(
        "lint_text_clean",
        crate::render::findings::text(&clean, styles)
    );
}
