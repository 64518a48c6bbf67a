//! Where a followed stage stands against a goal: done, waiting (and on what),
//! or failed (and why). Pure predicates over a snapshot, in the manner of
//! kube-runtime's `wait::conditions`, used by `reconcile`, `rerun` and `wait`.

use super::chains::stage_state;
use super::flux::{Job, Kustomization, Snapshot, condition, short_revision};
use super::key::{Key, ReplacedJob};
use crate::report::{JobPhase, StageState, Text};

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
    Waiting { state: StageState, why: Waiting },
    Failed(Failure),
}

/// What a stage that is not there yet waits for (worded by `render::narration`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "for", rename_all = "camelCase")]
pub enum Waiting {
    /// Flux has not picked up the reconcile request yet.
    #[serde(rename_all = "camelCase")]
    Request {
        /// The earlier reconcile Flux is busy with, in its words.
        #[serde(skip_serializing_if = "Option::is_none")]
        busy_with: Option<String>,
    },
    /// An earlier run failed; Flux has not applied the target yet (`attempted`
    /// is the revision that failed), or is applying it (`attempted: None`).
    #[serde(rename_all = "camelCase")]
    EarlierRun {
        failure: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        attempted: Option<String>,
        /// The revision waited for; `None`: the source's.
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// Ready at another revision than the one waited for.
    #[serde(rename_all = "camelCase")]
    Revision {
        #[serde(skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        target: String,
    },
    /// At the revision; its Jobs have not all run yet.
    Jobs,
    /// Its source has no artifact yet.
    Artifact,
    /// Flux's own words on the stage (its Ready condition).
    #[serde(rename_all = "camelCase")]
    Flux { message: String },
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
        .map(Text::as_str)
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

/// What the checks of one stage look at.
struct Followed<'a> {
    snap: &'a Snapshot,
    ks: &'a Kustomization,
    key: Key,
    goal: &'a Goal,
    /// The revision to reach: the goal's, else the source's.
    target: Option<&'a str>,
    followed: &'a [Key],
    jobs: Jobs,
    state: StageState,
    /// The Ready condition's reason and message.
    reason: String,
    message: String,
}

/// The stage's Jobs, from its inventory, against the goal.
struct Jobs {
    /// Every Job has run to success on this attempt.
    done: bool,
    /// A Job of the attempt at the target failed: the stage fails with it.
    failed: Option<Failure>,
    /// A Job left failed by an earlier attempt, waited past.
    earlier_failure: Option<String>,
}

/// A check of a followed stage: `Some` when it decides the progress, `None`
/// when the next check decides (kube-runtime's `wait::Condition`, composed in
/// order by [`progress_of`]).
type Check = fn(&Followed<'_>) -> Option<Progress>;

/// The checks, in the order they decide.
const CHECKS: &[Check] = &[
    active,
    request_handled,
    job_failed,
    stage_failed,
    earlier_run,
    at_revision,
    upstream_ok,
];

fn progress_of(snap: &Snapshot, ns: &str, name: &str, goal: &Goal, followed: &[Key]) -> Progress {
    let key = Key::new(ns, name);
    let Some(ks) = snap.kustomization(ns, name) else {
        return absent(snap, key);
    };
    let source = source_revision(snap, ks);
    let target = goal.revision.as_deref().or(source);
    let ready = condition(&ks.status.conditions, "Ready");
    let stage = Followed {
        snap,
        ks,
        goal,
        target,
        followed,
        jobs: jobs(snap, ks, &key, goal, target),
        key,
        state: stage_state(ks, source),
        reason: ready.map(|c| c.reason.to_string()).unwrap_or_default(),
        message: ready.map(|c| c.message.to_string()).unwrap_or_default(),
    };
    CHECKS
        .iter()
        .find_map(|check| check(&stage))
        .unwrap_or_else(|| Progress::Waiting {
            state: stage.state,
            why: stage.ready_words(),
        })
}

impl Followed<'_> {
    fn failure(&self, reason: impl Into<String>, message: impl Into<String>) -> Progress {
        Progress::Failed(Failure {
            blocked: None,
            stage: self.key.clone(),
            job: None,
            reason: reason.into(),
            message: message.into(),
        })
    }

    fn waiting(&self, why: Waiting) -> Progress {
        Progress::Waiting {
            state: self.state,
            why,
        }
    }

    /// The Ready condition in the controller's words.
    fn ready_words(&self) -> Waiting {
        Waiting::Flux {
            message: if self.message.is_empty() {
                self.reason.clone()
            } else {
                self.message.clone()
            },
        }
    }

    fn applied(&self, target: &str) -> bool {
        revision_matches(self.ks.status.last_applied_revision.as_deref(), target)
    }
}

/// Not in the snapshot: it exists but does not decode (nothing it says can
/// be checked, so a gate must not pass on it), or it is gone.
fn absent(snap: &Snapshot, key: Key) -> Progress {
    let (reason, message) = match snap.undecodable(&key.namespace, &key.name) {
        Some(u) => (
            "Unreadable",
            format!("Kustomization {key} exists but cannot be read: {}", u.error),
        ),
        None => (
            "NotFound",
            format!("Kustomization {key} does not exist (any more)"),
        ),
    };
    Progress::Failed(Failure {
        blocked: None,
        stage: key,
        job: None,
        reason: reason.into(),
        message,
    })
}

/// Suspended: Flux will not reconcile it.
fn active(s: &Followed<'_>) -> Option<Progress> {
    s.ks.spec.suspend.then(|| {
        s.failure(
            "Suspended",
            "the Kustomization is suspended: Flux will not reconcile it until it is resumed (flux resume kustomization)",
        )
    })
}

/// A request not handled yet: Flux may be busy with an earlier run (health
/// checks can take its whole timeout), and handles the request after it.
fn request_handled(s: &Followed<'_>) -> Option<Progress> {
    let token = s.goal.token.as_deref()?;
    if handled(s.ks.status.last_handled_reconcile_at.as_deref(), token) {
        return None;
    }
    let busy = condition(&s.ks.status.conditions, "Ready")
        .filter(|c| c.status == "Unknown" && !c.message.is_empty());
    Some(Progress::Waiting {
        state: StageState::Progressing,
        why: Waiting::Request {
            busy_with: busy.map(|c| c.message.to_string()),
        },
    })
}

/// A failed run of the attempt at the target fails the stage at once.
fn job_failed(s: &Followed<'_>) -> Option<Progress> {
    s.jobs.failed.clone().map(Progress::Failed)
}

/// Failed, on the attempt at the target (or on Flux's answer to our request);
/// a failure of an earlier attempt is waited past.
fn stage_failed(s: &Followed<'_>) -> Option<Progress> {
    if s.state != StageState::Failed {
        return None;
    }
    let attempted_target = s.goal.token.is_some()
        || s.target
            .is_some_and(|t| revision_matches(s.ks.status.last_attempted_revision.as_deref(), t));
    Some(if attempted_target {
        s.failure(s.reason.clone(), s.message.clone())
    } else {
        s.waiting(not_yet_attempted(
            s.ks,
            s.target,
            s.jobs.earlier_failure.as_deref().unwrap_or(&s.reason),
        ))
    })
}

/// A Job left failed by an earlier attempt: wait until Flux re-creates it.
fn earlier_run(s: &Followed<'_>) -> Option<Progress> {
    let earlier = s.jobs.earlier_failure.as_deref()?;
    (s.state != StageState::Blocked).then(|| s.waiting(not_yet_attempted(s.ks, s.target, earlier)))
}

/// Ready: done once at the target with every Job run, else waiting on which.
fn at_revision(s: &Followed<'_>) -> Option<Progress> {
    if !s.state.is_ready() {
        return None;
    }
    Some(match s.target {
        Some(t) if s.applied(t) && s.jobs.done => Progress::Done {
            revision: s
                .ks
                .status
                .last_applied_revision
                .as_deref()
                .unwrap_or_default()
                .to_string(),
        },
        Some(t) if !s.applied(t) => s.waiting(Waiting::Revision {
            at: s
                .ks
                .status
                .last_applied_revision
                .as_deref()
                .map(String::from),
            target: t.to_string(),
        }),
        Some(_) => s.waiting(Waiting::Jobs),
        None => s.waiting(Waiting::Artifact),
    })
}

/// Blocked on a stage that has failed, one that does not exist, or itself
/// would wait forever: name the culprit.
fn upstream_ok(s: &Followed<'_>) -> Option<Progress> {
    if s.state != StageState::Blocked {
        return None;
    }
    let f = upstream_culprit(s.snap, s.ks, s.followed)?;
    Some(Progress::Failed(if f.reason == CYCLE {
        f
    } else {
        Failure {
            blocked: Some(s.key.clone()),
            ..f
        }
    }))
}

/// The stage's Jobs, from its inventory: which are done, and whether one
/// failed on the attempt at the target or was left failed by an earlier one.
fn jobs(snap: &Snapshot, ks: &Kustomization, key: &Key, goal: &Goal, target: Option<&str>) -> Jobs {
    let mut jobs = Jobs {
        done: true,
        failed: None,
        earlier_failure: None,
    };
    for r in ks.inventory_jobs() {
        let replaced = goal
            .replaced_jobs
            .iter()
            .find(|j| j.key.namespace == r.namespace && j.key.name == r.name);
        let Some(j) = snap.job(&r.namespace, &r.name) else {
            jobs.done = false;
            continue;
        };
        if replaced.is_some_and(|old| old.uid == j.metadata.uid) {
            jobs.done = false;
            continue;
        }
        match j.phase() {
            (JobPhase::Failed, cond) => {
                let reason = cond
                    .map(|c| c.reason.clone())
                    .filter(|r| !r.is_empty())
                    .unwrap_or_else(|| "Failed".into());
                jobs.done = false;
                if replaced.is_some() || goal.token.is_some() || made_by_attempt_at(ks, j, target) {
                    jobs.failed.get_or_insert(Failure {
                        blocked: None,
                        stage: key.clone(),
                        job: Some(Key::new(r.namespace.clone(), r.name.clone())),
                        reason: reason.to_string(),
                        message: cond.map(|c| c.message.to_string()).unwrap_or_default(),
                    });
                } else {
                    jobs.earlier_failure
                        .get_or_insert(format!("Job {}/{}: {reason}", r.namespace, r.name));
                }
            }
            (JobPhase::Succeeded | JobPhase::Suspended, _) => {}
            _ => jobs.done = false,
        }
    }
    jobs
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
    let time = |t: Option<&Text>| t.and_then(|t| t.parse::<jiff::Timestamp>().ok());
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
fn not_yet_attempted(ks: &Kustomization, target: Option<&str>, failure: &str) -> Waiting {
    let attempted = ks
        .status
        .last_attempted_revision
        .as_deref()
        .filter(|a| !a.is_empty())
        .filter(|a| target.is_none_or(|t| !revision_matches(Some(a), t)));
    Waiting::EarlierRun {
        failure: failure.to_string(),
        attempted: attempted.map(String::from),
        target: target.map(String::from),
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
                        .unwrap_or_else(|| "Failed".into())
                        .to_string(),
                    message: job
                        .and_then(|(_, c)| c.map(|c| c.message))
                        .or_else(|| ready.map(|c| c.message.clone()))
                        .unwrap_or_default()
                        .to_string(),
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

/// Whether the Job with this uid is gone (kube-runtime's `is_deleted(uid)`):
/// absent, or replaced by another of the same name.
pub fn is_deleted(job: Key, uid: String) -> impl Fn(&Snapshot) -> bool {
    move |snap| {
        snap.job(&job.namespace, &job.name)
            .is_none_or(|j| j.metadata.uid != uid)
    }
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

    /// The checks one by one, from the scenarios' YAML: each decides only
    /// what it is about and passes the rest on.
    #[test]
    fn each_check_decides_only_its_own_case() {
        let canonical = snapshot_from_yaml(CANONICAL).unwrap();
        let failed = snapshot_from_yaml(FAILED).unwrap();
        let stage = |snap: &'static Snapshot, name: &str, goal: &'static Goal| {
            let ks = snap.kustomization("apps", name).unwrap();
            let source = source_revision(snap, ks);
            let target = goal.revision.as_deref().or(source);
            let key = Key::new("apps", name);
            let ready = condition(&ks.status.conditions, "Ready");
            Followed {
                snap,
                ks,
                goal,
                target,
                followed: &[],
                jobs: jobs(snap, ks, &key, goal, target),
                key,
                state: stage_state(ks, source),
                reason: ready
                    .map(|c| c.reason.clone())
                    .unwrap_or_default()
                    .to_string(),
                message: ready
                    .map(|c| c.message.clone())
                    .unwrap_or_default()
                    .to_string(),
            }
        };
        let canonical: &'static Snapshot = Box::leak(Box::new(canonical));
        let failed: &'static Snapshot = Box::leak(Box::new(failed));
        let none: &'static Goal = Box::leak(Box::default());
        let asked: &'static Goal = Box::leak(Box::new(Goal {
            token: Some("2099-01-01T00:00:00Z".into()),
            ..Goal::default()
        }));
        let healthy = stage(canonical, "app-pre-deploy", none);
        for check in [
            active,
            request_handled,
            job_failed,
            stage_failed,
            earlier_run,
            upstream_ok,
        ] {
            assert_eq!(check(&healthy), None);
        }
        assert!(matches!(at_revision(&healthy), Some(Progress::Done { .. })));
        // A request Flux has not handled yet is waited for, whatever else holds.
        assert!(matches!(
            request_handled(&stage(canonical, "app-pre-deploy", asked)),
            Some(Progress::Waiting { .. })
        ));
        // The failed scenario: Flux judged its attempt at the source's
        // revision, so the failed Job is that attempt's and fails the stage.
        let pre = stage(failed, "app-pre-deploy", none);
        match job_failed(&pre) {
            Some(Progress::Failed(f)) => assert_eq!(f.job, Some(Key::new("apps", "db-migration"))),
            other => panic!("{other:?}"),
        }
        assert_eq!(active(&pre), None);
        let blocked = stage(failed, "app-deploy", none);
        match upstream_ok(&blocked) {
            Some(Progress::Failed(f)) => {
                assert_eq!(f.stage, Key::new("apps", "app-pre-deploy"));
                assert_eq!(f.blocked, Some(Key::new("apps", "app-deploy")));
            }
            other => panic!("{other:?}"),
        }
    }

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
            Progress::Waiting {
                why:
                    Waiting::EarlierRun {
                        failure,
                        attempted: Some(attempted),
                        target: Some(target),
                    },
                ..
            } => {
                assert_eq!(failure, "Job apps/db-migration: BackoffLimitExceeded");
                assert!(attempted.starts_with("main@sha1:5a7c3e1f"), "{attempted}");
                assert_eq!(target, fix);
            }
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
                uid: uid.to_string(),
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
