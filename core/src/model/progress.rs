//! Where a followed stage stands against a goal: done, waiting (and on what),
//! or failed (and why). Pure predicates over a snapshot, in the manner of
//! kube-runtime's `wait::conditions`, used by `reconcile`, `rerun` and `wait`.

use super::chains::stage_state;
use super::flux::{Job, Kustomization, Snapshot, condition, short_revision};
use super::key::{Key, ReplacedJob};
use crate::report::{JobPhase, StageState};

/// What a stage must reach.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Goal {
    /// A `requestedAt` token the controller must have handled first.
    pub token: Option<String>,
    /// A revision to reach (exact, or a prefix such as `main@sha1:5a7c3e1f`);
    /// `None`: the source's current revision.
    pub revision: Option<String>,
    /// Jobs that must have been replaced by new runs.
    pub replaced_jobs: Vec<ReplacedJob>,
    /// With `revision`: the source's revision when following began. A source
    /// that moves from it to another revision without reaching `revision`
    /// will not bring it (the branch moved on past it, or never had it).
    pub source_seen: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    Done { revision: String },
    Waiting { state: StageState, why: String },
    Failed(Failure),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The stage that failed (upstream of the followed one, when `blocked`).
    pub stage: Key,
    /// The followed stage, when it is blocked by `stage`'s failure.
    pub blocked: Option<Key>,
    /// `namespace/name` of the failed Job, if one failed.
    pub job: Option<Key>,
    pub reason: String,
    pub message: String,
}

/// The artifact revision of `ks`'s source, if the snapshot has it.
pub fn source_revision<'a>(snap: &'a Snapshot, ks: &Kustomization) -> Option<&'a str> {
    let source = ks.source_key();
    snap.source(&source.kind, &source.key.namespace, &source.key.name)
        .and_then(|s| s.revision())
}

/// Whether a revision Flux recorded is the target: the same, a prefix of it
/// (`main@sha1:5a7c3e1f`), or a bare commit id (`5a7c3e1f…`, what CI knows)
/// that its digest starts with.
fn revision_matches(applied: Option<&str>, target: &str) -> bool {
    let bare = !target.is_empty() && !target.contains([':', '@']);
    applied.is_some_and(|a| {
        a == target
            || (!target.is_empty() && a.starts_with(target))
            || (bare
                && a.rsplit_once(':')
                    .is_some_and(|(_, digest)| digest.starts_with(target)))
    })
}

/// The stage's progress towards `goal`. `followed` are stages followed with
/// goals of their own: a failure upstream in one of them is theirs to report
/// (it may be stale until Flux handles a request made for it), so this stage
/// waits rather than fails on it.
pub fn progress(snap: &Snapshot, ns: &str, name: &str, goal: &Goal, followed: &[Key]) -> Progress {
    let p = progress_of(snap, ns, name, goal, followed);
    let (Progress::Waiting { .. }, Some(target), Some(seen)) =
        (&p, goal.revision.as_deref(), goal.source_seen.as_deref())
    else {
        return p;
    };
    let Some(ks) = snap.kustomization(ns, name) else {
        return p;
    };
    match source_revision(snap, ks) {
        Some(now)
            if now != seen
                && !revision_matches(Some(now), target)
                && !revision_matches(ks.status.last_applied_revision.as_deref(), target) =>
        {
            Progress::Failed(Failure {
                blocked: None,
                stage: Key::new(ns, name),
                job: None,
                reason: "RevisionPassed".into(),
                message: format!(
                    "its source moved from {} to {} without {}: Flux will not apply it (the branch moved on past it, or never had it). Wait for the newer revision instead",
                    short_revision(seen),
                    short_revision(now),
                    short_revision(target)
                ),
            })
        }
        _ => p,
    }
}

fn progress_of(snap: &Snapshot, ns: &str, name: &str, goal: &Goal, followed: &[Key]) -> Progress {
    let key = Key::new(ns, name);
    let Some(ks) = snap.kustomization(ns, name) else {
        if let Some(u) = snap.undecodable(ns, name) {
            // Nothing it says can be checked: a gate must not pass on it.
            return Progress::Failed(Failure {
                blocked: None,
                stage: key.clone(),
                job: None,
                reason: "Unreadable".into(),
                message: format!("Kustomization {key} exists but cannot be read: {}", u.error),
            });
        }
        return Progress::Failed(Failure {
            blocked: None,
            stage: key.clone(),
            job: None,
            reason: "NotFound".into(),
            message: format!("Kustomization {key} does not exist (any more)"),
        });
    };
    if ks.spec.suspend {
        return Progress::Failed(Failure {
            blocked: None,
            stage: key,
            job: None,
            reason: "Suspended".into(),
            message: "the Kustomization is suspended: Flux will not reconcile it until it is resumed (flux resume kustomization)".into(),
        });
    }
    let source = source_revision(snap, ks);
    let target = goal.revision.as_deref().or(source);
    let handled = goal
        .token
        .as_deref()
        .is_none_or(|t| handled(ks.status.last_handled_reconcile_at.as_deref(), t));
    if !handled {
        // Busy with an earlier run (health checks can take its whole timeout):
        // Flux handles the request after it.
        let busy = condition(&ks.status.conditions, "Ready")
            .filter(|c| c.status == "Unknown" && !c.message.is_empty());
        return Progress::Waiting {
            state: StageState::Progressing,
            why: match busy {
                Some(c) => format!(
                    "{} (an earlier reconcile; Flux handles the request after it)",
                    c.message
                ),
                None => "waiting for Flux to pick up the reconcile request".into(),
            },
        };
    }

    // The stage's Jobs, from its inventory: a failed run of the attempt at the
    // target fails the stage at once; one left from an earlier attempt is waited past.
    let mut jobs_done = true;
    let mut earlier_failure: Option<String> = None;
    for r in ks.inventory_jobs() {
        let job = snap.job(&r.namespace, &r.name);
        let replaced = goal
            .replaced_jobs
            .iter()
            .find(|j| j.key.namespace == r.namespace && j.key.name == r.name);
        match job {
            None => jobs_done = false,
            Some(j) if replaced.is_some_and(|old| old.uid == j.metadata.uid) => jobs_done = false,
            Some(j) => match j.phase() {
                (JobPhase::Failed, cond) => {
                    let reason = cond
                        .map(|c| c.reason.clone())
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| "Failed".into());
                    if replaced.is_some()
                        || goal.token.is_some()
                        || made_by_attempt_at(ks, j, target)
                    {
                        return Progress::Failed(Failure {
                            blocked: None,
                            stage: key,
                            job: Some(Key::new(r.namespace.clone(), r.name.clone())),
                            reason,
                            message: cond.map(|c| c.message.clone()).unwrap_or_default(),
                        });
                    }
                    earlier_failure
                        .get_or_insert(format!("Job {}/{}: {reason}", r.namespace, r.name));
                    jobs_done = false;
                }
                (JobPhase::Succeeded | JobPhase::Suspended, _) => {}
                _ => jobs_done = false,
            },
        }
    }

    let state = stage_state(ks, source);
    let ready = condition(&ks.status.conditions, "Ready");
    let reason = ready.map(|c| c.reason.clone()).unwrap_or_default();
    let message = ready.map(|c| c.message.clone()).unwrap_or_default();
    match state {
        StageState::Failed => {
            let attempted_target = goal.token.is_some()
                || target.is_some_and(|t| {
                    revision_matches(ks.status.last_attempted_revision.as_deref(), t)
                });
            if attempted_target {
                return Progress::Failed(Failure {
                    blocked: None,
                    stage: key,
                    job: None,
                    reason,
                    message,
                });
            }
            Progress::Waiting {
                state,
                why: not_yet_attempted(ks, target, earlier_failure.as_deref().unwrap_or(&reason)),
            }
        }
        _ if earlier_failure.is_some() && state != StageState::Blocked => Progress::Waiting {
            state,
            why: not_yet_attempted(ks, target, earlier_failure.as_deref().unwrap_or_default()),
        },
        s if s.is_ready() => match target {
            Some(t)
                if revision_matches(ks.status.last_applied_revision.as_deref(), t) && jobs_done =>
            {
                Progress::Done {
                    revision: ks.status.last_applied_revision.clone().unwrap_or_default(),
                }
            }
            Some(t) if !revision_matches(ks.status.last_applied_revision.as_deref(), t) => {
                let at = ks
                    .status
                    .last_applied_revision
                    .as_deref()
                    .map_or_else(|| "no revision".to_string(), short_revision);
                Progress::Waiting {
                    state,
                    why: format!("ready at {at}, waiting for {}", short_revision(t)),
                }
            }
            Some(_) => Progress::Waiting {
                state,
                why: "waiting for its Jobs".into(),
            },
            None => Progress::Waiting {
                state,
                why: "waiting for its source to have an artifact".into(),
            },
        },
        StageState::Blocked => match upstream_culprit(snap, ks, followed) {
            // Waiting on a stage that has failed, on one that does not exist, or on
            // itself would wait forever: name the culprit.
            Some(f) if f.reason == CYCLE => Progress::Failed(f),
            Some(mut f) => {
                f.blocked = Some(key);
                Progress::Failed(f)
            }
            None => Progress::Waiting {
                state,
                why: if message.is_empty() { reason } else { message },
            },
        },
        _ => Progress::Waiting {
            state,
            why: if message.is_empty() { reason } else { message },
        },
    }
}

/// Whether a failed Job is Flux's attempt at `target`: the stage has attempted
/// `target`, and either that attempt is over (Ready is no longer `Unknown`: Flux
/// judged the Jobs it found) or the Job was created after it began (the
/// `Ready=Unknown` transition every reconcile starts with). kustomize-controller
/// records `lastAttemptedRevision` before it applies, so until it re-creates a
/// Job the earlier run's failed one stands beside the new attempted revision.
fn made_by_attempt_at(ks: &Kustomization, job: &Job, target: Option<&str>) -> bool {
    let Some(target) = target else {
        return false;
    };
    if !revision_matches(ks.status.last_attempted_revision.as_deref(), target) {
        return false;
    }
    let Some(ready) = condition(&ks.status.conditions, "Ready") else {
        return true;
    };
    if ready.status != "Unknown" {
        return true;
    }
    let time = |t: Option<&String>| t.and_then(|t| t.parse::<jiff::Timestamp>().ok());
    match (
        time(job.metadata.creation_timestamp.as_ref()),
        time(ready.last_transition_time.as_ref()),
    ) {
        (Some(created), Some(began)) => created >= began,
        // Not known: Flux's verdict on the attempt will say.
        _ => false,
    }
}

/// Why a stage whose last run failed is still waited for: Flux has not yet
/// applied (or is applying) the revision the goal is about.
fn not_yet_attempted(ks: &Kustomization, target: Option<&str>, failure: &str) -> String {
    let attempted = ks
        .status
        .last_attempted_revision
        .as_deref()
        .filter(|a| !a.is_empty());
    let named = target.map_or_else(|| "its source's revision".to_string(), short_revision);
    match attempted {
        Some(a) if target.is_none_or(|t| !revision_matches(Some(a), t)) => format!(
            "{} failed ({failure}); Flux has not applied {named} yet",
            short_revision(a)
        ),
        _ => format!("an earlier run failed ({failure}); Flux is applying {named}"),
    }
}

/// Whether Flux has handled a request made with `token`: its
/// `lastHandledReconcileAt` is that token, or a later one. Flux handles only
/// the latest request, so another client's (a second `--nudge`, `flux
/// reconcile`, a webhook receiver) made after ours and handled instead counts.
fn handled(last: Option<&str>, token: &str) -> bool {
    let Some(last) = last else {
        return false;
    };
    if last == token {
        return true;
    }
    match (
        last.parse::<jiff::Timestamp>(),
        token.parse::<jiff::Timestamp>(),
    ) {
        (Ok(last), Ok(ours)) => last >= ours,
        _ => false,
    }
}

/// The reason of a [`Failure`] for a stage in a `dependsOn` cycle.
const CYCLE: &str = "DependencyCycle";

/// What holds a blocked `ks` for good, walking upstream through blocked
/// stages: a failed stage (with its failed Job), a dependency that does not
/// exist (where its namespace could be read), or a cycle back to `ks`. None
/// when the failed stage is one of `followed` (it reports itself).
fn upstream_culprit(snap: &Snapshot, ks: &Kustomization, followed: &[Key]) -> Option<Failure> {
    let start: Key = ks.key();
    let show = |k: &Key| k.to_string();
    // Each stage reached, and the stage it was reached from.
    let mut parent: Vec<(Key, Key)> = vec![];
    let mut queue: Vec<(Key, Key)> = ks
        .dependencies()
        .into_iter()
        .map(|d| (start.clone(), d))
        .collect();
    while let Some((from, dep_key)) = queue.pop() {
        if dep_key == start {
            // Back at the start: the path there, from `from` back up the parents.
            let mut path = vec![show(&start), show(&from)];
            let mut at = from.clone();
            while let Some((_, up)) = parent.iter().find(|(k, _)| *k == at) {
                path.push(show(up));
                at = up.clone();
            }
            path.reverse();
            return Some(Failure {
                blocked: None,
                stage: start.clone(),
                job: None,
                reason: CYCLE.into(),
                message: format!(
                    "{} is in a dependsOn cycle ({}): Flux reconciles none of its stages until the cycle is broken in Git",
                    show(&start),
                    path.join(" → ")
                ),
            });
        }
        if parent.iter().any(|(k, _)| *k == dep_key) {
            continue;
        }
        parent.push((dep_key.clone(), from.clone()));
        let (ns, name) = (&dep_key.namespace, &dep_key.name);
        let Some(dep) = snap.kustomization(ns, name) else {
            // Exists but does not decode: not missing; Flux will say whether it blocks.
            let readable = snap.undecodable(ns, name).is_none()
                && !snap
                    .unreadable_kustomization_namespaces
                    .iter()
                    .any(|u| u == "*" || u == ns);
            if readable {
                return Some(Failure {
                    blocked: None,
                    stage: dep_key.clone(),
                    job: None,
                    reason: "DependencyNotFound".into(),
                    message: format!(
                        "{} depends on {}, which does not exist: Flux will not reconcile it until it does. Fix its dependsOn, or create {}",
                        show(&from),
                        show(&dep_key),
                        show(&dep_key)
                    ),
                });
            }
            continue;
        };
        match stage_state(dep, source_revision(snap, dep)) {
            StageState::Failed if followed.contains(&dep_key) => return None,
            StageState::Failed => {
                let job = dep.inventory_jobs().into_iter().find_map(|r| {
                    snap.job(&r.namespace, &r.name)
                        .filter(|j| j.phase().0 == JobPhase::Failed)
                        .map(|j| (r, j.phase().1.cloned()))
                });
                let ready = condition(&dep.status.conditions, "Ready");
                return Some(Failure {
                    blocked: None,
                    stage: dep_key.clone(),
                    job: job
                        .as_ref()
                        .map(|(r, _)| Key::new(r.namespace.clone(), r.name.clone())),
                    reason: job
                        .as_ref()
                        .and_then(|(_, c)| c.as_ref().map(|c| c.reason.clone()))
                        .or_else(|| ready.map(|c| c.reason.clone()))
                        .unwrap_or_else(|| "Failed".into()),
                    message: job
                        .and_then(|(_, c)| c.map(|c| c.message))
                        .or_else(|| ready.map(|c| c.message.clone()))
                        .unwrap_or_default(),
                });
            }
            StageState::Blocked => {
                queue.extend(dep.dependencies().into_iter().map(|d| (dep_key.clone(), d)))
            }
            _ => {}
        }
    }
    None
}

/// Whether a blocked stage can be woken now: every dependency is done for `goal`.
pub fn dependencies_done(
    snap: &Snapshot,
    ns: &str,
    name: &str,
    goal_of: impl Fn(&str, &str) -> Goal,
) -> bool {
    let Some(ks) = snap.kustomization(ns, name) else {
        return false;
    };
    ks.dependencies().iter().all(|d| {
        matches!(
            progress(
                snap,
                &d.namespace,
                &d.name,
                &goal_of(&d.namespace, &d.name),
                &[]
            ),
            Progress::Done { .. }
        )
    })
}

/// The stage's dependents, transitively, in dependency order (for `--downstream`).
pub fn downstream(snap: &Snapshot, ns: &str, name: &str) -> Vec<Key> {
    let start = Key::new(ns, name);
    let mut order: Vec<Key> = vec![];
    let mut frontier = vec![start.clone()];
    while let Some(current) = frontier.pop() {
        for ks in snap.kustomizations() {
            let key = ks.key();
            if ks.dependencies().contains(&current) && !order.contains(&key) && key != start {
                order.push(key.clone());
                frontier.push(key);
            }
        }
    }
    // Dependencies first: a stage is placed once none of its dependencies is still unplaced.
    let mut sorted: Vec<Key> = vec![];
    while !order.is_empty() {
        let placeable: Vec<Key> = order
            .iter()
            .filter(|k| {
                snap.kustomization(&k.namespace, &k.name)
                    .map(|ks| ks.dependencies())
                    .unwrap_or_default()
                    .iter()
                    .all(|d| !order.contains(d))
            })
            .cloned()
            .collect();
        if placeable.is_empty() {
            // A cycle: the rest in the order found.
            sorted.append(&mut order);
            break;
        }
        order.retain(|k| !placeable.contains(k));
        sorted.extend(placeable);
    }
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::flux::KustomizationSpec;
    use crate::model::snapshot_from_yaml;

    const CANONICAL: &str = include_str!("../../../tests/sandbox/scenarios/canonical.yaml");
    const FAILED: &str = include_str!("../../../tests/sandbox/scenarios/failed.yaml");

    #[test]
    fn a_healthy_stage_is_done_and_a_failed_one_fails_with_its_job() {
        let snap = snapshot_from_yaml(CANONICAL).unwrap();
        assert!(matches!(
            progress(&snap, "apps", "app-pre-deploy", &Goal::default(), &[]),
            Progress::Done { .. }
        ));
        let failed = snapshot_from_yaml(FAILED).unwrap();
        match progress(&failed, "apps", "app-pre-deploy", &Goal::default(), &[]) {
            Progress::Failed(f) => {
                assert_eq!(f.job, Some(Key::new("apps", "db-migration")));
                assert_eq!(f.reason, "BackoffLimitExceeded");
            }
            other => panic!("{other:?}"),
        }
        match progress(&failed, "apps", "app-post-deploy", &Goal::default(), &[]) {
            Progress::Failed(f) => {
                assert_eq!(
                    (f.stage.to_string(), f.job.clone()),
                    (
                        "apps/app-pre-deploy".to_string(),
                        Some(Key::new("apps", "db-migration"))
                    )
                );
                assert_eq!(f.blocked, Some(Key::new("apps", "app-post-deploy")));
            }
            other => panic!("the upstream culprit: {other:?}"),
        }
    }

    /// The moment between kustomize-controller recording its attempt at a new
    /// revision and re-creating the Job: the old failed run is not the attempt's.
    #[test]
    fn a_failed_job_counts_only_against_the_attempt_that_created_it() {
        let mut snap = snapshot_from_yaml(FAILED).unwrap();
        let fix = "main@sha1:1111111111111111111111111111111111111111";
        let goal = Goal {
            revision: Some(fix.into()),
            ..Goal::default()
        };
        let job_created = snap
            .job("apps", "db-migration")
            .and_then(|j| j.metadata.creation_timestamp.clone())
            .unwrap();
        let at = |snap: &Snapshot| progress(snap, "apps", "app-pre-deploy", &goal, &[]);
        // Flux has not fetched the fix: the old revision failed, and says so.
        match at(&snap) {
            Progress::Waiting { why, .. } => assert_eq!(
                why,
                "main@sha1:5a7c3e1f failed (Job apps/db-migration: BackoffLimitExceeded); Flux has not applied main@sha1:11111111 yet"
            ),
            other => panic!("{other:?}"),
        }
        // Flux attempts the fix: Ready=Unknown since after the old Job was created.
        let ks = snap
            .kustomizations_mut()
            .iter_mut()
            .find(|k| k.metadata.name == "app-pre-deploy")
            .unwrap();
        ks.status.last_attempted_revision = Some(fix.into());
        let ready = ks
            .status
            .conditions
            .iter_mut()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        ready.status = "Unknown".into();
        ready.reason = "Progressing".into();
        ready.last_transition_time = Some("2030-01-01T00:00:00Z".into());
        assert!(
            matches!(at(&snap), Progress::Waiting { .. }),
            "{:?}",
            at(&snap)
        );
        // The attempt created this run (or Flux judged it): it fails the goal.
        let ready = snap
            .kustomizations_mut()
            .iter_mut()
            .find(|k| k.metadata.name == "app-pre-deploy")
            .and_then(|k| k.status.conditions.iter_mut().find(|c| c.type_ == "Ready"))
            .unwrap();
        ready.last_transition_time = Some(job_created);
        assert!(matches!(at(&snap), Progress::Failed(_)), "{:?}", at(&snap));
    }

    #[test]
    fn a_followed_upstream_stage_reports_its_own_failure() {
        let failed = snapshot_from_yaml(FAILED).unwrap();
        let followed = [Key::new("apps", "app-pre-deploy")];
        assert!(matches!(
            progress(
                &failed,
                "apps",
                "app-post-deploy",
                &Goal::default(),
                &followed
            ),
            Progress::Waiting {
                state: StageState::Blocked,
                ..
            }
        ));
    }

    #[test]
    fn an_unhandled_token_means_waiting_whatever_the_stale_state() {
        let failed = snapshot_from_yaml(FAILED).unwrap();
        let goal = Goal {
            token: Some("later".into()),
            ..Goal::default()
        };
        assert!(matches!(
            progress(&failed, "apps", "app-pre-deploy", &goal, &[]),
            Progress::Waiting { .. }
        ));
        let canonical = snapshot_from_yaml(CANONICAL).unwrap();
        assert!(
            matches!(
                progress(&canonical, "apps", "app-pre-deploy", &goal, &[]),
                Progress::Waiting { .. }
            ),
            "a stale Ready is not done"
        );
    }

    #[test]
    fn replaced_jobs_must_have_new_uids() {
        let snap = snapshot_from_yaml(CANONICAL).unwrap();
        let uid = snap
            .jobs()
            .iter()
            .find(|j| j.metadata.name == "db-migration")
            .unwrap()
            .metadata
            .uid
            .clone();
        let goal = Goal {
            replaced_jobs: vec![ReplacedJob {
                key: Key::new("apps", "db-migration"),
                uid,
            }],
            ..Goal::default()
        };
        assert!(matches!(
            progress(&snap, "apps", "app-pre-deploy", &goal, &[]),
            Progress::Waiting { .. }
        ));
    }

    /// CI knows the commit it pushed, not Flux's `main@sha1:` form: a bare sha
    /// never matched, and `wait --for revision=SHA` timed out on real Flux.
    #[test]
    fn a_bare_commit_id_matches_the_revision_it_names() {
        let rev = Some("main@sha1:0ba685becb92f7e29fdb15aa036ff8c070602e87");
        assert!(revision_matches(
            rev,
            "0ba685becb92f7e29fdb15aa036ff8c070602e87"
        ));
        assert!(revision_matches(rev, "0ba685be"));
        assert!(revision_matches(rev, "main@sha1:0ba685be"));
        assert!(!revision_matches(rev, "85becb92"));
        assert!(!revision_matches(rev, ""));
        assert!(!revision_matches(None, "0ba685be"));
        // OCI revisions carry a digest too.
        assert!(revision_matches(Some("latest@sha256:abc123"), "abc1"));
    }

    #[test]
    fn revisions_match_by_prefix_and_downstream_is_ordered() {
        let snap = snapshot_from_yaml(CANONICAL).unwrap();
        let goal = Goal {
            revision: Some("main@sha1:9f1e2d3c".into()),
            ..Goal::default()
        };
        assert!(matches!(
            progress(&snap, "apps", "app-deploy", &goal, &[]),
            Progress::Done { .. }
        ));
        let other = Goal {
            revision: Some("main@sha1:0000".into()),
            ..Goal::default()
        };
        assert!(matches!(
            progress(&snap, "apps", "app-deploy", &other, &[]),
            Progress::Waiting { .. }
        ));
        assert_eq!(
            downstream(&snap, "apps", "app-pre-deploy"),
            [
                Key::new("apps", "app-deploy"),
                Key::new("apps", "app-post-deploy")
            ]
        );
        assert!(dependencies_done(
            &snap,
            "apps",
            "app-post-deploy",
            |_, _| Goal::default()
        ));
    }

    fn blocked(snap: &mut Snapshot, name: &str, message: &str) {
        let ks = snap
            .kustomizations_mut()
            .iter_mut()
            .find(|k| k.metadata.name == name)
            .unwrap();
        let ready = ks
            .status
            .conditions
            .iter_mut()
            .find(|c| c.type_ == "Ready")
            .unwrap();
        ready.status = "False".into();
        ready.reason = "DependencyNotReady".into();
        ready.message = message.into();
    }

    fn depend(snap: &mut Snapshot, name: &str, on: &str) {
        let yaml = format!("dependsOn: [{{name: {on}}}]");
        let spec: KustomizationSpec = serde_saphyr::from_str(&yaml).unwrap();
        let ks = snap
            .kustomizations_mut()
            .iter_mut()
            .find(|k| k.metadata.name == name)
            .unwrap();
        ks.spec.depends_on = spec.depends_on;
    }

    /// `wait` waited until --timeout on a stage Flux will never reconcile:
    /// one whose dependency does not exist, or one in a dependsOn cycle.
    #[test]
    fn a_missing_dependency_and_a_cycle_fail_the_stage() {
        let mut snap = snapshot_from_yaml(CANONICAL).unwrap();
        depend(&mut snap, "app-deploy", "nonexistent");
        blocked(
            &mut snap,
            "app-deploy",
            "dependency 'apps/nonexistent' not found",
        );
        match progress(&snap, "apps", "app-deploy", &Goal::default(), &[]) {
            Progress::Failed(f) => {
                assert_eq!(f.reason, "DependencyNotFound");
                assert_eq!(
                    f.message,
                    "apps/app-deploy depends on apps/nonexistent, which does not exist: Flux will not reconcile it until it does. Fix its dependsOn, or create apps/nonexistent"
                );
            }
            other => panic!("{other:?}"),
        }
        // Where the dependency's namespace could not be read, it is unknown, not missing.
        let mut unknown = snap.clone();
        unknown.unreadable_kustomization_namespaces = vec!["apps".into()];
        assert!(matches!(
            progress(&unknown, "apps", "app-deploy", &Goal::default(), &[]),
            Progress::Waiting { .. }
        ));

        let mut snap = snapshot_from_yaml(CANONICAL).unwrap();
        depend(&mut snap, "app-pre-deploy", "app-post-deploy");
        for name in ["app-pre-deploy", "app-deploy", "app-post-deploy"] {
            blocked(&mut snap, name, "dependency not ready");
        }
        match progress(&snap, "apps", "app-deploy", &Goal::default(), &[]) {
            Progress::Failed(f) => {
                assert_eq!(f.reason, "DependencyCycle");
                assert_eq!(
                    f.message,
                    "apps/app-deploy is in a dependsOn cycle (apps/app-deploy → apps/app-pre-deploy → apps/app-post-deploy → apps/app-deploy): Flux reconciles none of its stages until the cycle is broken in Git"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// Another client's request made after ours (a second --nudge, `flux
    /// reconcile`, a webhook) is handled instead of ours: that counts.
    #[test]
    fn a_later_request_handled_instead_of_ours_counts_as_handled() {
        assert!(handled(
            Some("2026-12-02T10:00:01.5Z"),
            "2026-12-02T10:00:01.25Z"
        ));
        assert!(handled(
            Some("2026-12-02T12:00:02+02:00"),
            "2026-12-02T10:00:01Z"
        ));
        assert!(handled(Some("same"), "same"));
        assert!(!handled(
            Some("2026-12-02T10:00:00Z"),
            "2026-12-02T10:00:01Z"
        ));
        assert!(!handled(Some("earlier"), "2026-12-02T10:00:01Z"));
        assert!(!handled(None, "2026-12-02T10:00:01Z"));
    }

    /// `wait --for revision=REV` waited forever once the source had moved on
    /// to a newer commit without REV.
    #[test]
    fn a_source_that_moves_on_without_the_revision_fails_the_wait() {
        let snap = snapshot_from_yaml(CANONICAL).unwrap();
        let wanted = "main@sha1:1111111111111111111111111111111111111111";
        let goal = |seen: &str| Goal {
            revision: Some(wanted.into()),
            source_seen: Some(seen.into()),
            ..Goal::default()
        };
        let now = "main@sha1:9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6";
        // The source is where it was when the wait began: Flux may still fetch REV.
        assert!(matches!(
            progress(&snap, "apps", "app-deploy", &goal(now), &[]),
            Progress::Waiting { .. }
        ));
        // It moved, to another revision: REV will not come.
        match progress(&snap, "apps", "app-deploy", &goal("main@sha1:0000000"), &[]) {
            Progress::Failed(f) => {
                assert_eq!(f.reason, "RevisionPassed");
                assert_eq!(
                    f.message,
                    "its source moved from main@sha1:0000000 to main@sha1:9f1e2d3c without main@sha1:11111111: Flux will not apply it (the branch moved on past it, or never had it). Wait for the newer revision instead"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
