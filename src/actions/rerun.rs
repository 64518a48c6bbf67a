//! `rerun NAME`: re-run the Jobs of a Kustomization, in two steps with the
//! confirmation between them (in `app`): [`prepare`] reads the cluster and
//! checks what would be deleted; [`execute`] deletes exactly that — only Jobs
//! in the stage's inventory that carry its owner labels, each with a uid
//! precondition and Background propagation — requests the reconcile once they
//! are gone (so Flux cannot see the old Job) and follows the new runs. What it
//! changed is written to a [`Journal`] as it goes, so that every way out
//! (an error, `--timeout`, Ctrl-C) can say it and the one command that recovers.

use std::sync::Mutex;

use super::follow::{Acted, Follower};
use crate::cluster::{Cluster, Deletion, Scope};
use crate::error::AppError;
use crate::events::Event;
use crate::model::progress::{Goal, is_deleted};
use crate::model::{Key, ReplacedJob, Selection, Snapshot, analyze, find_active};
use crate::narrate::Narrator;
use crate::report::{JobPhase, StageState};
use crate::report::{PlannedAction, PlannedJob, RerunPlan};

/// What to re-run, and how carefully.
pub struct Request<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub jobs: &'a [String],
    pub downstream: bool,
    pub force: bool,
    pub no_wait: bool,
}

/// A Job chosen for re-running.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub phase: JobPhase,
}

/// A checked rerun: what it deletes, and the snapshot that was decided on.
pub struct Plan {
    pub namespace: String,
    pub name: String,
    pub targets: Vec<Target>,
    snapshot: Snapshot,
}

impl Plan {
    /// The targets that exist, and so would be deleted.
    pub fn deletable(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().filter(|t| t.phase != JobPhase::Gone)
    }

    /// The plan as `rerun --dry-run` reports it.
    pub fn report(&self) -> RerunPlan {
        let jobs = self
            .targets
            .iter()
            .map(|t| PlannedJob {
                namespace: t.namespace.clone(),
                name: t.name.clone(),
                uid: t.uid.clone(),
                phase: t.phase,
                action: if t.phase == JobPhase::Gone {
                    PlannedAction::None
                } else {
                    PlannedAction::Delete
                },
            })
            .collect();
        RerunPlan::new(
            Key::new(self.namespace.clone(), self.name.clone()).to_string(),
            jobs,
        )
    }
}

/// What a rerun has changed so far. It lives outside the command's future,
/// which `--timeout` and Ctrl-C drop.
#[derive(Debug, Default)]
pub struct Journal(Mutex<Changes>);

#[derive(Debug, Default)]
struct Changes {
    stage: Option<Key>,
    /// Jobs deleted, or marked for deletion.
    deleted: Vec<Key>,
    requested: bool,
    /// The new runs were followed to an end: nothing to recover.
    settled: bool,
}

impl Journal {
    fn record(&self, change: impl FnOnce(&mut Changes)) {
        change(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// After a stop with deleted Jobs not yet seen recreated: what was deleted,
    /// what Flux will do about it, and the one command that recovers.
    pub fn recovery(&self) -> Option<String> {
        let c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Key {
            namespace: ns,
            name,
        } = c.stage.as_ref()?;
        if c.deleted.is_empty() || c.settled {
            return None;
        }
        let jobs: Vec<String> = c
            .deleted
            .iter()
            .map(|job| format!("job.batch/{} in {}", job.name, job.namespace))
            .collect();
        let command = format!("{} reconcile {name} -n {ns}", crate::invocation::command());
        Some(if c.requested {
            format!(
                "stopped after deleting {} and requesting a reconcile of {ns}/{name}: Flux recreates them when it handles the request; follow that (or ask again) with `{command}`",
                jobs.join(", ")
            )
        } else {
            format!(
                "stopped after deleting {} before requesting a reconcile: Flux recreates them only at its next reconcile of {ns}/{name}; recover now with `{command}`",
                jobs.join(", ")
            )
        })
    }
}

/// Reads the stage's namespace and checks the rerun ([`plan`]).
pub async fn prepare(cluster: &Cluster, req: &Request<'_>) -> Result<Plan, AppError> {
    let scope = Scope::Namespace(req.namespace.to_string());
    let snapshot = cluster.snapshot(&scope).await?;
    let targets = plan(&snapshot, req)?;
    Ok(Plan {
        namespace: req.namespace.to_string(),
        name: req.name.to_string(),
        targets,
        snapshot,
    })
}

/// The Jobs a rerun would delete, checked before anything is: the stage is
/// active and not blocked (unless forced); each Job is in its inventory, is
/// labelled as its own (as Flux's prune checks), can be seen, and is not
/// running (unless forced).
pub fn plan(snap: &Snapshot, req: &Request<'_>) -> Result<Vec<Target>, AppError> {
    let ks = find_active(snap, req.namespace, req.name)
        .map_err(|e| AppError::unselectable(e, "Flux would not recreate its Jobs"))?;
    let key = format!("{}/{}", req.namespace, req.name);
    if !req.force {
        refuse_if_blocked(snap, req.namespace, req.name)?;
    }
    let inventory = ks.inventory_jobs();
    if inventory.is_empty() {
        return Err(AppError::Refused(format!(
            "{key} has no Jobs in its inventory: nothing to re-run"
        )));
    }
    for wanted in req.jobs {
        if !inventory.iter().any(|r| r.name == *wanted) {
            let names: Vec<String> = inventory.iter().map(|r| r.name.to_string()).collect();
            return Err(AppError::Refused(format!(
                "Job \"{wanted}\" is not in the inventory of {key}; its Jobs are: {}",
                names.join(", ")
            )));
        }
    }
    let mut targets = vec![];
    for r in inventory
        .iter()
        .filter(|r| req.jobs.is_empty() || req.jobs.iter().any(|j| *j == r.name))
    {
        let Some(job) = snap.job(&r.namespace, &r.name) else {
            if snap
                .unreadable_job_namespaces
                .iter()
                .any(|ns| ns == "*" || *ns == r.namespace)
            {
                // Not seen is not gone: deleting blind could delete nothing, or
                // the reconcile could meet a Job that should have been replaced.
                return Err(AppError::Refused(format!(
                    "cannot see Job {}/{}: listing jobs.batch in namespace {} is forbidden, so rerun cannot tell whether it exists or what it would delete. Ask for the verbs list, watch and delete on jobs.batch in namespace {} (examples/rbac.yaml, role kubectl-jobgate); nothing was deleted",
                    r.namespace, r.name, r.namespace, r.namespace
                )));
            }
            // Gone already (TTL, or deleted): nothing to delete, the reconcile recreates it.
            targets.push(Target {
                namespace: r.namespace.to_string(),
                name: r.name.to_string(),
                uid: String::new(),
                phase: JobPhase::Gone,
            });
            continue;
        };
        refuse_if_not_owned(job, req.namespace, req.name)?;
        let phase = job.phase().0;
        if matches!(phase, JobPhase::Running | JobPhase::Pending) && !req.force {
            let active = match job.status.active {
                0 => String::new(),
                n => format!(" ({n} active)"),
            };
            return Err(AppError::Refused(format!(
                "Job {}/{} is still {}{active}: wait for it, or pass --force to delete it anyway",
                r.namespace,
                r.name,
                phase.as_str().to_lowercase(),
            )));
        }
        targets.push(Target {
            namespace: r.namespace.to_string(),
            name: r.name.to_string(),
            uid: job.metadata.uid.to_string(),
            phase,
        });
    }
    Ok(targets)
}

/// kustomize-controller labels what it applies with its owner; its prune
/// deletes nothing without those labels naming the Kustomization, and rerun
/// neither: an inventory can be stale or edited by hand. Not overridable.
fn refuse_if_not_owned(job: &crate::model::Job, ns: &str, name: &str) -> Result<(), AppError> {
    let labels = &job.metadata.labels;
    let owner = (
        labels.owner_namespace.as_deref(),
        labels.owner_name.as_deref(),
    );
    if owner == (Some(ns), Some(name)) {
        return Ok(());
    }
    let whose = match owner {
        (Some(ons), Some(oname)) => format!("is labelled as owned by Kustomization {ons}/{oname}"),
        (None, None) => "carries no kustomize.toolkit.fluxcd.io/name and /namespace labels, so Flux did not apply it".into(),
        (ons, oname) => format!(
            "has incomplete owner labels (kustomize.toolkit.fluxcd.io/namespace={}, /name={})",
            ons.unwrap_or("<none>"),
            oname.unwrap_or("<none>")
        ),
    };
    Err(AppError::Refused(format!(
        "Job {}/{} is in the inventory of {ns}/{name} but {whose}: Flux's prune would not delete it, and neither does rerun (the inventory may be stale or edited by hand). Re-run the stage's own Jobs with --job, or look at it with `kubectl get job {} -n {} --show-labels`; nothing was deleted",
        job.metadata.namespace, job.metadata.name, job.metadata.name, job.metadata.namespace
    )))
}

/// A blocked stage (`DependencyNotReady`) is one Flux will not reconcile until
/// its upstream is healthy: its Jobs, once deleted, would stay gone (with
/// their pods and logs). Refused before anything is deleted, naming the culprit.
fn refuse_if_blocked(snap: &Snapshot, namespace: &str, name: &str) -> Result<(), AppError> {
    let selection = Selection {
        namespaces: None,
        names: vec![Key::new(namespace, name)],
    };
    let report = analyze(snap, &selection);
    let Some(stage) = report
        .chains
        .iter()
        .flat_map(|c| &c.stages)
        .find(|s| s.namespace == namespace && s.name == name)
    else {
        return Ok(());
    };
    if stage.state != StageState::Blocked {
        return Ok(());
    }
    let culprit = match &stage.blocked_by {
        Some(cause) => {
            let mut why = format!("{} ({}", cause.stage, cause.state.as_str());
            if let Some(job) = &cause.job {
                why.push_str(&format!(": Job {job}"));
            }
            if let Some(reason) = &cause.reason {
                why.push_str(&format!(": {reason}"));
            }
            why.push(')');
            why
        }
        None => "a dependency that is not ready".to_string(),
    };
    Err(AppError::Refused(format!(
        "{}/{} is blocked by {culprit}: Flux will not reconcile it, so its Jobs would be deleted and not re-created until that is healthy. Fix the upstream stage first, or pass --force to delete them anyway; nothing was deleted",
        namespace, name
    )))
}

/// Deletes the planned Jobs, requests the reconcile and follows the new runs;
/// narration goes to `narrator`, every change to `journal` as it is made.
pub async fn execute(
    cluster: &Cluster,
    plan: Plan,
    req: &Request<'_>,
    journal: &Journal,
    narrator: &Narrator,
) -> Result<Acted, AppError> {
    let Plan {
        namespace,
        name,
        targets,
        snapshot,
    } = plan;
    journal.record(|c| c.stage = Some(Key::new(namespace.clone(), name.clone())));
    let key = format!("{namespace}/{name}");
    let scope = Scope::Namespace(namespace.clone());
    let mut deleted: Vec<&Target> = vec![];
    let mut held: Vec<&Target> = vec![];
    for t in &targets {
        let job = format!("{}/{}", t.namespace, t.name);
        if t.phase == JobPhase::Gone {
            narrator.say(Event::JobGone { job });
            continue;
        }
        match cluster.delete_job(&t.namespace, &t.name, &t.uid).await {
            Ok(Deletion::Deleted) => {
                narrator.say(Event::JobDeleted {
                    job,
                    uid: t.uid.clone(),
                });
            }
            Ok(Deletion::Held(finalizers)) => {
                narrator.say(Event::JobDeleting {
                    job,
                    uid: t.uid.clone(),
                    finalizers,
                });
                held.push(t);
            }
            Ok(Deletion::AlreadyGone) => narrator.say(Event::JobAlreadyGone { job }),
            Ok(Deletion::Replaced) if deleted.is_empty() => {
                return Err(AppError::Refused(format!(
                    "Job {}/{} changed while jobgate was deleting (another run replaced it), so it was left alone; nothing was deleted",
                    t.namespace, t.name
                )));
            }
            Ok(Deletion::Replaced) => {
                return Err(AppError::Partial(format!(
                    "Job {}/{} changed while jobgate was deleting (another run replaced it), so it was left alone",
                    t.namespace, t.name
                )));
            }
            Err(e) if deleted.is_empty() => {
                return Err(AppError::Refused(format!(
                    "cannot delete Job {}/{}: {e}; nothing was deleted",
                    t.namespace, t.name
                )));
            }
            Err(e) => {
                return Err(AppError::Partial(format!(
                    "cannot delete Job {}/{}: {e}",
                    t.namespace, t.name
                )));
            }
        }
        journal.record(|c| {
            c.deleted
                .push(Key::new(t.namespace.clone(), t.name.clone()))
        });
        deleted.push(t);
    }
    // Flux must not see the old Jobs: wait until they are gone (or replaced).
    let mut follower = Follower::new(cluster, &scope, snapshot);
    let gone =
        |t: &Target| is_deleted(Key::new(t.namespace.clone(), t.name.clone()), t.uid.clone());
    for t in held {
        follower.until(gone(t)).await?;
        narrator.say(Event::JobDeleted {
            job: format!("{}/{}", t.namespace, t.name),
            uid: t.uid.clone(),
        });
    }
    follower
        .until(|s| deleted.iter().all(|t| gone(t)(s)))
        .await?;
    let token = cluster
        .request_reconcile(&namespace, &name)
        .await
        .map_err(|e| AppError::Partial(format!("cannot request the reconcile: {e}")))?;
    journal.record(|c| c.requested = true);
    narrator.say(Event::Requested { stage: key });
    if req.no_wait {
        journal.record(|c| c.settled = true);
        return Ok(Acted::Requested);
    }
    let replaced = targets
        .iter()
        .map(|t| ReplacedJob {
            key: Key::new(t.namespace.clone(), t.name.clone()),
            uid: t.uid.clone(),
        })
        .collect();
    let goal = Goal {
        token: Some(token),
        replaced_jobs: replaced,
        ..Goal::default()
    };
    let outcome = follower
        .follow_stage(&namespace, &name, goal, req.downstream, narrator)
        .await?;
    journal.record(|c| c.settled = true);
    Ok(Acted::Followed(Box::new(outcome)))
}
