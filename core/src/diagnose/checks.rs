//! The checks: each a function from one stage (or chain) of a subject to its
//! findings. Chains and roles come from [`analyze`], as `status` shows them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::catalog::Code;
use super::subject::{Location, Manifest, NotChecked, Subject};
use super::{Diagnosis, Finding, Severity};
use crate::duration::{format_duration, parse_duration};
use crate::invocation;
use crate::model::flux::{Kustomization, parse_inventory_id};
use crate::model::{Key, Selection, analyze};
use crate::report::Chain;

/// kustomize-controller's default `--requeue-dependency`.
const REQUEUE_DEPENDENCY: Duration = Duration::from_secs(30);
/// A Job's `backoffLimit` when unset.
const DEFAULT_BACKOFF_LIMIT: i64 = 6;

/// Checks the selected chains of a subject.
pub fn diagnose(subject: &Subject, selection: &Selection) -> Diagnosis {
    let report = analyze(&subject.snapshot, selection);
    let mut findings = vec![];
    let mut not_checked = subject.not_checked.clone();
    let mut stages = vec![];
    for chain in &report.chains {
        let ctx = ChainView {
            subject,
            chain,
            kustomizations: chain
                .stages
                .iter()
                .filter_map(|s| {
                    let key = Key::new(s.namespace.clone(), s.name.clone());
                    let ks = subject.snapshot.kustomization(&s.namespace, &s.name)?;
                    Some((key, ks))
                })
                .collect(),
        };
        for stage in &chain.stages {
            stages.push(stage.key().to_string());
        }
        for (key, ks) in &ctx.kustomizations {
            if subject.live && ks.status.inventory.is_none() {
                not_checked.push(NotChecked {
                    what: format!("stage {key}"),
                    why: format!("Flux has not applied it yet, so what it holds is unknown: `{} lint` checks the repository instead", invocation::command()),
                });
            }
            let stage = ctx.stage(key, ks);
            for check in STAGE_CHECKS {
                findings.extend(check(&ctx, &stage));
            }
        }
        for check in CHAIN_CHECKS {
            findings.extend(check(&ctx));
        }
    }
    stages.sort();
    stages.dedup();
    not_checked.sort();
    not_checked.dedup();
    let kind = if subject.live {
        "DoctorReport"
    } else {
        "LintReport"
    };
    Diagnosis::new(kind, stages, findings, not_checked)
}

/// A chain being checked, with its Kustomizations looked up once.
struct ChainView<'a> {
    subject: &'a Subject,
    chain: &'a Chain,
    kustomizations: BTreeMap<Key, &'a Kustomization>,
}

impl<'a> ChainView<'a> {
    fn stage<'s>(&self, key: &'s Key, ks: &'s Kustomization) -> Stage<'s> {
        Stage {
            key,
            ks,
            location: self.subject.locations.get(key).cloned(),
        }
    }

    /// The stage named `namespace/name` in the report, if it exists.
    fn stage_named(&self, name: &str) -> Option<Stage<'_>> {
        let (key, ks) = self
            .kustomizations
            .iter()
            .find(|(k, _)| k.to_string() == name)?;
        Some(self.stage(key, ks))
    }

    fn dependents(&self, key: &Key) -> Vec<&Key> {
        self.kustomizations
            .iter()
            .filter(|(_, ks)| ks.dependencies().contains(key))
            .map(|(k, _)| k)
            .collect()
    }

    /// Whether the stage (of any chain) applies a Deployment, StatefulSet or DaemonSet.
    fn has_workloads(&self, key: &Key) -> bool {
        self.subject
            .snapshot
            .kustomization(&key.namespace, &key.name)
            .is_some_and(|ks| {
                inventory(ks).any(|(group, kind)| {
                    group == "apps"
                        && matches!(kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet")
                })
            })
    }

    fn has_jobs(&self, key: &Key) -> bool {
        self.subject
            .snapshot
            .kustomization(&key.namespace, &key.name)
            .is_some_and(|ks| !ks.inventory_jobs().is_empty())
    }

    /// Every stage `key` depends on, directly or not.
    fn upstream(&self, key: &Key) -> BTreeSet<Key> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![key.clone()];
        while let Some(k) = todo.pop() {
            for d in self
                .kustomizations
                .get(&k)
                .map(|ks| ks.dependencies())
                .unwrap_or_default()
            {
                if seen.insert(d.clone()) {
                    todo.push(d);
                }
            }
        }
        seen
    }
}

/// The (group, kind) of each object in a Kustomization's inventory.
fn inventory(ks: &Kustomization) -> impl Iterator<Item = (String, String)> + '_ {
    ks.status
        .inventory
        .iter()
        .flat_map(|i| &i.entries)
        .filter_map(|e| parse_inventory_id(&e.id))
        .map(|r| (r.group.into(), r.kind.into()))
}

/// One stage being checked, and where it is written. A finding whose fix is
/// in the Kustomization is located there; one whose fix is in an object it
/// applies, at that object ([`Stage::about`]).
struct Stage<'a> {
    key: &'a Key,
    ks: &'a Kustomization,
    location: Option<Location>,
}

impl Stage<'_> {
    fn found(&self, code: Code, object: String, message: String, fix: String) -> Finding {
        let check = code.check();
        Finding {
            code: check.id,
            check: check.name,
            severity: check.severity,
            object,
            stage: Some(self.key.to_string()),
            message,
            why: check.why,
            reference: check.reference,
            fix,
            snippet: None,
            location: self.location.clone(),
        }
    }

    fn object(&self) -> String {
        format!("Kustomization {}", self.key)
    }

    /// A finding about one of the stage's manifests, located where it is written.
    fn about(&self, m: &Manifest, code: Code, message: String, fix: String) -> Finding {
        Finding {
            location: m.location.clone().or_else(|| self.location.clone()),
            ..self.found(code, m.describe(), message, fix)
        }
    }
}

type StageCheck = fn(&ChainView, &Stage) -> Vec<Finding>;
type ChainCheck = fn(&ChainView) -> Vec<Finding>;

const STAGE_CHECKS: &[StageCheck] = &[
    ttl_after_finished,
    job_not_forced,
    job_not_waited,
    timeout_shorter_than_job,
    mixed_sources,
    pre_stage_not_depended_on,
    post_stage_not_after_deploy,
    job_generate_name,
    dependency_missing,
    ready_expr,
    kubectl_field_manager,
    health_check_canceled,
    namespace_not_specified,
    job_gone,
    path_not_found,
];

const CHAIN_CHECKS: &[ChainCheck] = &[
    job_image_tag_differs,
    dependency_cycle,
    dependency_poll_cost,
];

fn ttl_after_finished(c: &ChainView, s: &Stage) -> Vec<Finding> {
    c.subject
        .jobs(s.key)
        .filter_map(|j| {
            let ttl = j.spec.ttl_seconds_after_finished?;
            Some(s.about(
                j,
                Code::TtlAfterFinished,
                format!("{} sets ttlSecondsAfterFinished: {ttl}", j.describe()),
                format!("remove spec.ttlSecondsAfterFinished from the Job: Flux replaces a finished Job itself when its spec changes (force: true), and `{} rerun` re-runs it on demand", invocation::command()),
            ))
        })
        .collect()
}

fn job_not_forced(c: &ChainView, s: &Stage) -> Vec<Finding> {
    if s.ks.spec.force {
        return vec![];
    }
    c.subject
        .jobs(s.key)
        .filter(|j| !j.metadata.forced())
        .map(|j| {
            Finding {
                snippet: Some(format!(
                    "# the Kustomization {}\nspec:\n  force: true\n# or, on the Job only:\nmetadata:\n  annotations:\n    kustomize.toolkit.fluxcd.io/force: enabled",
                    s.key
                )),
                ..s.found(
                    Code::JobNotForced,
                    j.describe(),
                    format!(
                        "{} is applied without force: the Kustomization has no spec.force: true and the Job no kustomize.toolkit.fluxcd.io/force: enabled",
                        j.describe()
                    ),
                    "set spec.force: true on the Kustomization (or the force annotation on the Job) so Flux recreates the Job when its template changes".into(),
                )
            }
        })
        .collect()
}

fn job_not_waited(c: &ChainView, s: &Stage) -> Vec<Finding> {
    if s.ks.spec.wait {
        return vec![];
    }
    let checked = |j: &Manifest| {
        s.ks.spec.health_checks.iter().any(|h| {
            h.kind == "Job"
                && h.name == j.metadata.name
                && h.namespace
                    .as_deref()
                    .is_none_or(|ns| ns == j.metadata.namespace || j.metadata.namespace.is_empty())
        })
    };
    let gates = !c.dependents(s.key).is_empty();
    c.subject
        .jobs(s.key)
        .filter(|j| !checked(j))
        .map(|j| {
            let mut f = s.found(
                Code::JobNotWaited,
                j.describe(),
                format!(
                    "{} is not waited for: the Kustomization has no wait: true and no health check on it",
                    j.describe()
                ),
                "set spec.wait: true on the Kustomization, or list the Job in spec.healthChecks".into(),
            );
            f.snippet = Some(format!("# the Kustomization {}\nspec:\n  wait: true", s.key));
            if !gates {
                // Nothing depends on the stage: only its own Ready is wrong.
                f.severity = Severity::Warning;
            }
            f
        })
        .collect()
}

fn timeout_shorter_than_job(c: &ChainView, s: &Stage) -> Vec<Finding> {
    let spec = &s.ks.spec;
    let waits = spec.wait || !spec.health_checks.is_empty();
    let written = spec
        .timeout
        .as_deref()
        .filter(|t| !t.is_empty())
        .unwrap_or(&spec.interval);
    let Ok(timeout) = parse_duration(written) else {
        return vec![];
    };
    if !waits || timeout.is_zero() {
        return vec![];
    }
    c.subject
        .jobs(s.key)
        .filter_map(|j| {
            let deadline = u64::try_from(j.spec.active_deadline_seconds?).ok()?;
            let tries = u64::try_from(j.spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT)).ok()? + 1;
            let worst = Duration::from_secs(deadline.saturating_mul(tries));
            (worst > timeout).then(|| {
                let mut f = s.found(
                    Code::TimeoutShorterThanJob,
                    j.describe(),
                    format!(
                        "the stage's timeout ({}) is shorter than {} may run: activeDeadlineSeconds {deadline} × {tries} attempts = {}",
                        format_duration(timeout),
                        j.describe(),
                        format_duration(worst)
                    ),
                    format!(
                        "raise spec.timeout to at least {}, or lower the Job's activeDeadlineSeconds or backoffLimit",
                        format_duration(worst)
                    ),
                );
                f.snippet = Some(format!(
                    "# the Kustomization {}\nspec:\n  timeout: {}",
                    s.key,
                    format_duration(worst)
                ));
                f
            })
        })
        .collect()
}

fn mixed_sources(c: &ChainView, s: &Stage) -> Vec<Finding> {
    let own = s.ks.source_key();
    s.ks.dependencies()
        .iter()
        .filter_map(|d| {
            let dep = c.kustomizations.get(d)?;
            let theirs = dep.source_key();
            (theirs != own).then(|| {
                s.found(
                    Code::MixedSources,
                    s.object(),
                    format!("{} uses {own} but its dependency {d} uses {theirs}", s.key),
                    "serve the stages of one app from one source, so Flux applies them on the same revision in order".into(),
                )
            })
        })
        .collect()
}

/// A stage of Jobs only: what a pre- or post-deploy stage is.
fn jobs_only(c: &ChainView, key: &Key) -> bool {
    c.has_jobs(key) && !c.has_workloads(key)
}

fn looks_post(key: &Key, ks: &Kustomization) -> bool {
    let words = format!("{} {}", ks.spec.path, key.name).to_lowercase();
    words.contains("post")
}

fn pre_stage_not_depended_on(c: &ChainView, s: &Stage) -> Vec<Finding> {
    if !jobs_only(c, s.key) || looks_post(s.key, s.ks) || !c.dependents(s.key).is_empty() {
        return vec![];
    }
    let words = format!("{} {}", s.ks.spec.path, s.key.name).to_lowercase();
    let pre_by_name = ["pre", "migrat"].iter().any(|w| words.contains(w));
    if !s.ks.dependencies().is_empty() && !pre_by_name {
        return vec![];
    }
    // The deploy it most likely gates: a stage of the namespace sharing the
    // longest start of its name.
    let deploy = c
        .subject
        .snapshot
        .kustomizations()
        .iter()
        .map(|k| k.key())
        .filter(|k| k.namespace == s.key.namespace && k != s.key && !jobs_only(c, k))
        .map(|k| (common_prefix(&k.name, &s.key.name), k))
        .filter(|(n, _)| *n >= 3)
        .max_by_key(|(n, _)| *n)
        .map(|(_, k)| k);
    let target = deploy
        .as_ref()
        .map_or("the stage that deploys the app".to_string(), |k| {
            k.to_string()
        });
    let mut f = s.found(
        Code::PreStageNotDependedOn,
        s.object(),
        format!("{} holds only Jobs and no stage depends on it", s.key),
        format!("add it to the dependsOn of {target}"),
    );
    f.snippet = Some(format!(
        "# the Kustomization {target}\nspec:\n  dependsOn:\n    - name: {}",
        s.key.name
    ));
    vec![f]
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

fn post_stage_not_after_deploy(c: &ChainView, s: &Stage) -> Vec<Finding> {
    if !jobs_only(c, s.key) || !looks_post(s.key, s.ks) {
        return vec![];
    }
    if c.upstream(s.key).iter().any(|k| c.has_workloads(k)) {
        return vec![];
    }
    vec![s.found(
        Code::PostStageNotAfterDeploy,
        s.object(),
        format!(
            "{} runs post-deploy Jobs but depends on no stage that deploys a workload",
            s.key
        ),
        "add the deploy stage to its spec.dependsOn".into(),
    )]
}

fn job_generate_name(c: &ChainView, s: &Stage) -> Vec<Finding> {
    c.subject
        .jobs(s.key)
        .filter(|j| j.metadata.name.is_empty() && !j.metadata.generate_name.is_empty())
        .map(|j| {
            s.about(
                j,
                Code::JobGenerateName,
                format!("{} has generateName and no name", j.describe()),
                format!(
                    "give the Job a fixed metadata.name (e.g. {}migrate); Flux recreates it by name",
                    j.metadata.generate_name
                ),
            )
        })
        .collect()
}

fn dependency_missing(c: &ChainView, s: &Stage) -> Vec<Finding> {
    let snap = &c.subject.snapshot;
    let readable = |ns: &str| {
        !snap
            .unreadable_kustomization_namespaces
            .iter()
            .any(|u| u == ns || u == "*")
    };
    s.ks.dependencies()
        .into_iter()
        .filter(|d| {
            snap.kustomization(&d.namespace, &d.name).is_none()
                && snap.undecodable(&d.namespace, &d.name).is_none()
                && readable(&d.namespace)
        })
        .map(|d| {
            let near = crate::model::suggest(
                &d.name,
                snap.kustomizations()
                    .iter()
                    .filter(|k| k.metadata.namespace == d.namespace)
                    .map(|k| k.metadata.name.as_str()),
            );
            let fix = match near.first() {
                Some(n) => {
                    format!("did you mean {n}? Fix the name in spec.dependsOn, or create {d}")
                }
                None => format!("create {d}, or remove it from spec.dependsOn"),
            };
            s.found(
                Code::DependencyMissing,
                s.object(),
                format!("{} depends on {d}, which does not exist", s.key),
                fix,
            )
        })
        .collect()
}

fn ready_expr(_: &ChainView, s: &Stage) -> Vec<Finding> {
    s.ks.spec
        .depends_on
        .iter()
        .filter_map(|d| {
            let expr = d.ready_expr.as_deref()?;
            Some(s.found(
                Code::ReadyExpr,
                s.object(),
                format!("its dependency {} is ready when: {expr}", d.name),
                "none needed; check that edge with `flux get ks` when jobgate and Flux disagree".into(),
            ))
        })
        .collect()
}

fn kubectl_field_manager(c: &ChainView, s: &Stage) -> Vec<Finding> {
    let labels = &s.ks.metadata.labels;
    let (Some(parent), true) = (&labels.owner_name, c.subject.live) else {
        return vec![];
    };
    let parent = match &labels.owner_namespace {
        Some(ns) => format!("{ns}/{parent}"),
        None => parent.to_string(),
    };
    let managers: BTreeSet<&str> =
        s.ks.metadata
            .managed_fields
            .iter()
            .filter(|m| m.by_hand())
            .map(|m| m.manager.as_str())
            .collect();
    if managers.is_empty() {
        return vec![];
    }
    let managers: Vec<&str> = managers.into_iter().collect();
    vec![s.found(
        Code::KubectlFieldManager,
        s.object(),
        format!(
            "{} has fields written by {} and is applied by the Kustomization {parent}",
            s.key,
            managers.join(", ")
        ),
        format!("make the change in Git, where {parent} reads it (to pause a stage, `flux suspend ks` is kept)"),
    )]
}

fn health_check_canceled(_: &ChainView, s: &Stage) -> Vec<Finding> {
    let ready = crate::model::flux::condition(&s.ks.status.conditions, "Ready");
    match ready {
        Some(r) if r.reason == "HealthCheckCanceled" => vec![s.found(
            Code::HealthCheckCanceled,
            s.object(),
            format!("{}: {}", s.key, r.message),
            "none needed; if it happens at every push, pushes arrive faster than the stage's Jobs run".into(),
        )],
        _ => vec![],
    }
}

/// Kinds that are cluster-scoped: everything else a stage applies is
/// taken to be namespaced only when it is a built-in namespaced kind.
const NAMESPACED: &[&str] = &[
    "Job",
    "CronJob",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Pod",
    "Service",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Ingress",
    "PersistentVolumeClaim",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
];

fn namespace_not_specified(c: &ChainView, s: &Stage) -> Vec<Finding> {
    let fix = || {
        format!(
            "set metadata.namespace on the object, `namespace:` in its kustomization.yaml, or spec.targetNamespace on {}",
            s.key
        )
    };
    if c.subject.live {
        let ready = crate::model::flux::condition(&s.ks.status.conditions, "Ready");
        return match ready {
            Some(r) if r.status == "False" && r.message.contains("namespace not specified") => {
                vec![s.found(
                    Code::NamespaceNotSpecified,
                    s.object(),
                    r.message.to_string(),
                    fix(),
                )]
            }
            _ => vec![],
        };
    }
    if s.ks
        .spec
        .target_namespace
        .as_deref()
        .is_some_and(|t| !t.is_empty())
    {
        return vec![];
    }
    c.subject
        .objects(s.key)
        .iter()
        .filter(|m| m.metadata.namespace.is_empty() && NAMESPACED.contains(&m.kind.as_str()))
        .map(|m| {
            s.about(
                m,
                Code::NamespaceNotSpecified,
                format!(
                    "{} has no namespace and {} sets no targetNamespace",
                    m.describe(),
                    s.key
                ),
                fix(),
            )
        })
        .collect()
}

fn job_gone(c: &ChainView, s: &Stage) -> Vec<Finding> {
    let snap = &c.subject.snapshot;
    if !c.subject.live {
        return vec![];
    }
    s.ks.inventory_jobs()
        .into_iter()
        .filter(|r| {
            !snap
                .unreadable_job_namespaces
                .iter()
                .any(|u| *u == r.namespace || u == "*")
                && snap.job(&r.namespace, &r.name).is_none()
        })
        .map(|r| {
            s.found(
                Code::JobGone,
                format!("Job {}/{}", r.namespace, r.name),
                format!(
                    "Job {}/{} is in the inventory of {} but not in the cluster: a ttlSecondsAfterFinished deleted it, or someone did",
                    r.namespace, r.name, s.key
                ),
                format!("remove ttlSecondsAfterFinished from the Job in Git; `{} rerun` re-runs a Job on purpose", invocation::command()),
            )
        })
        .collect()
}

fn path_not_found(c: &ChainView, s: &Stage) -> Vec<Finding> {
    let Some(path) = c.subject.missing_paths.get(s.key) else {
        return vec![];
    };
    vec![s.found(
        Code::PathNotFound,
        s.object(),
        format!("its spec.path {path:?} is not a directory of the repository"),
        "fix spec.path; it is relative to the repository's root (lint's --root, by default the PATH given)".into(),
    )]
}

/// An image reference split into its repository and tag (`latest` when unset;
/// `None` when pinned by digest only).
fn image_tag(image: &str) -> (&str, Option<&str>) {
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
        None if digest => (name, None),
        None => (name, Some("latest")),
    }
}

fn job_image_tag_differs(c: &ChainView) -> Vec<Finding> {
    // Each repository the chain's workloads run, with its tags and who runs it.
    let mut apps: BTreeMap<&str, Vec<(&str, String)>> = BTreeMap::new();
    for key in c.kustomizations.keys() {
        for m in c.subject.objects(key).iter().filter(|m| m.is_workload()) {
            for image in m.spec.template.images() {
                if let (repo, Some(tag)) = image_tag(image) {
                    apps.entry(repo).or_default().push((tag, m.describe()));
                }
            }
        }
    }
    let mut found = vec![];
    for (key, ks) in &c.kustomizations {
        let stage = c.stage(key, ks);
        for job in c.subject.jobs(key) {
            for image in job.spec.template.images() {
                let (repo, Some(tag)) = image_tag(image) else {
                    continue;
                };
                let Some(runs) = apps.get(repo) else {
                    continue;
                };
                if runs.iter().any(|(t, _)| *t == tag) {
                    continue;
                }
                let (app_tag, who) = &runs[0];
                found.push(stage.about(
                    job,
                    Code::JobImageTagDiffers,
                    format!("{} runs {image}; {who} runs {repo}:{app_tag}", job.describe()),
                    format!(
                        "give the Job the app's tag ({repo}:{app_tag}), through the same images: entry in kustomization.yaml"
                    ),
                ));
            }
        }
    }
    found
}

fn dependency_cycle(c: &ChainView) -> Vec<Finding> {
    let Some(first) = c.chain.cycle.first() else {
        return vec![];
    };
    let Some(stage) = c.stage_named(first) else {
        return vec![];
    };
    let mut path = c.chain.cycle.clone();
    path.push(first.clone());
    vec![stage.found(
        Code::DependencyCycle,
        stage.object(),
        format!(
            "the stages depend on each other in a loop: {}",
            path.join(" → ")
        ),
        "remove one of these dependsOn entries".into(),
    )]
}

fn dependency_poll_cost(c: &ChainView) -> Vec<Finding> {
    let edges: usize = c
        .kustomizations
        .values()
        .map(|ks| ks.spec.depends_on.len())
        .sum();
    let Some(stage) = c.stage_named(&c.chain.name) else {
        return vec![];
    };
    if edges == 0 || !c.chain.cycle.is_empty() {
        return vec![];
    }
    let idle = REQUEUE_DEPENDENCY * u32::try_from(edges).unwrap_or(u32::MAX);
    vec![stage.found(
        Code::DependencyPollCost,
        stage.object(),
        format!(
            "the chain {} has {edges} dependency edge(s): up to {} idle in dependency polls per release",
            c.chain.name,
            format_duration(idle)
        ),
        format!("in CI, `{} wait --nudge` asks each stage to reconcile as soon as its dependencies are ready", invocation::command()),
    )]
}

#[cfg(test)]
mod tests {
    use super::image_tag;

    #[test]
    fn images_split_into_repository_and_tag() {
        assert_eq!(
            image_tag("ghcr.io/acme/app:1.4.0"),
            ("ghcr.io/acme/app", Some("1.4.0"))
        );
        assert_eq!(
            image_tag("localhost:5000/app"),
            ("localhost:5000/app", Some("latest"))
        );
        assert_eq!(
            image_tag("localhost:5000/app:v2"),
            ("localhost:5000/app", Some("v2"))
        );
        assert_eq!(image_tag("app@sha256:abc"), ("app", None));
        assert_eq!(image_tag("app:1@sha256:abc"), ("app", Some("1")));
        assert_eq!(image_tag(""), ("", Some("latest")));
    }
}
