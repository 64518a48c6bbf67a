//! `rerun NAME`: re-run the Jobs of a Kustomization. Only Jobs in its
//! inventory, never anything else; each deleted with a uid precondition and
//! Background propagation; the reconcile requested only once they are gone
//! (so Flux cannot see the old Job); then the new runs followed to completion.
//! Every step is narrated; a failure after a deletion says what state the
//! cluster is in and the one command that recovers.

use std::io::Write;

use super::follow::{Follower, Outcome, narrate};
use super::reconcile::find_active;
use crate::cluster::{Cluster, Deletion, Scope};
use crate::error::AppError;
use crate::model::progress::Goal;
use crate::model::{Selection, Snapshot, analyze};
use crate::report::{JobPhase, StageState};

/// What to re-run, and how carefully.
pub struct Request<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub jobs: &'a [String],
    pub downstream: bool,
    pub force: bool,
    pub dry_run: bool,
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

/// How far a rerun went.
pub enum Rerun {
    /// `--dry-run`: what would be deleted.
    Planned(Vec<Target>),
    /// `--no-wait`: deleted and requested, not followed.
    Requested(Snapshot),
    Followed(Outcome),
}

/// The Jobs a rerun would delete, checked: from the inventory only, existing,
/// not running unless forced.
pub fn plan(snap: &Snapshot, req: &Request<'_>) -> Result<Vec<Target>, AppError> {
    let ks = find_active(
        snap,
        req.namespace,
        req.name,
        "Flux would not recreate its Jobs",
    )?;
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
            let names: Vec<String> = inventory.iter().map(|r| r.name.clone()).collect();
            return Err(AppError::Refused(format!(
                "Job \"{wanted}\" is not in the inventory of {key}; its Jobs are: {}",
                names.join(", ")
            )));
        }
    }
    let mut targets = vec![];
    for r in inventory
        .iter()
        .filter(|r| req.jobs.is_empty() || req.jobs.contains(&r.name))
    {
        let Some(job) = snap.job(&r.namespace, &r.name) else {
            // Gone already (TTL, or deleted): nothing to delete, the reconcile recreates it.
            targets.push(Target {
                namespace: r.namespace.clone(),
                name: r.name.clone(),
                uid: String::new(),
                phase: JobPhase::Gone,
            });
            continue;
        };
        let phase = job.phase().0;
        if matches!(phase, JobPhase::Running | JobPhase::Pending) && !req.force {
            return Err(AppError::Refused(format!(
                "Job {}/{} is still {} ({} active): wait for it, or pass --force to delete it anyway",
                r.namespace,
                r.name,
                phase.as_str().to_lowercase(),
                job.status.active
            )));
        }
        targets.push(Target {
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            uid: job.metadata.uid.clone(),
            phase,
        });
    }
    Ok(targets)
}

/// A blocked stage (`DependencyNotReady`) is one Flux will not reconcile until
/// its upstream is healthy: its Jobs, once deleted, would stay gone (with
/// their pods and logs). Refused before anything is deleted, naming the culprit.
fn refuse_if_blocked(snap: &Snapshot, namespace: &str, name: &str) -> Result<(), AppError> {
    let selection = Selection {
        namespaces: None,
        names: vec![(namespace.to_string(), name.to_string())],
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

/// Deletes the planned Jobs (after `confirm`), requests the reconcile and
/// follows the new runs; narration goes to `err`.
pub async fn rerun(
    cluster: &Cluster,
    req: &Request<'_>,
    confirm: &mut dyn FnMut(&[Target]) -> bool,
    err: &mut dyn Write,
) -> Result<Rerun, AppError> {
    let scope = Scope::Namespace(req.namespace.to_string());
    let snap = cluster.snapshot(&scope).await?;
    let targets = plan(&snap, req)?;
    if req.dry_run {
        return Ok(Rerun::Planned(targets));
    }
    if !confirm(&targets) {
        return Err(AppError::Refused(
            "not confirmed: nothing was deleted".into(),
        ));
    }
    let key = format!("{}/{}", req.namespace, req.name);
    let recover = format!(
        "kubectl jobgate reconcile {} -n {}",
        req.name, req.namespace
    );
    let mut deleted: Vec<Target> = vec![];
    let state = |deleted: &[Target]| -> String {
        if deleted.is_empty() {
            "nothing was deleted".to_string()
        } else {
            let names: Vec<String> = deleted
                .iter()
                .map(|t| format!("{}/{}", t.namespace, t.name))
                .collect();
            format!(
                "deleted: {}; Flux recreates them at the next reconcile of {key}, now with `{recover}`",
                names.join(", ")
            )
        }
    };
    for t in &targets {
        if t.phase == JobPhase::Gone {
            narrate(
                err,
                &format!(
                    "◎ job.batch/{} in {} is gone already (TTL, or deleted): the reconcile recreates it",
                    t.name, t.namespace
                ),
            )?;
            continue;
        }
        match cluster.delete_job(&t.namespace, &t.name, &t.uid).await {
            Ok(Deletion::Deleted) => narrate(
                err,
                &format!(
                    "✔ deleted job.batch/{} in {} (uid {})",
                    t.name, t.namespace, t.uid
                ),
            )?,
            Ok(Deletion::AlreadyGone) => narrate(
                err,
                &format!("◎ job.batch/{} in {} was already gone", t.name, t.namespace),
            )?,
            Ok(Deletion::Replaced) => {
                return Err(AppError::Partial(format!(
                    "Job {}/{} changed while jobgate was deleting (another run replaced it), so it was left alone; {}",
                    t.namespace,
                    t.name,
                    state(&deleted)
                )));
            }
            // A permission, not a state of the chain: exit 2, like every 403.
            Err(e) if e.is_forbidden() && deleted.is_empty() => {
                return Err(AppError::Refused(format!(
                    "cannot delete Job {}/{}: {e}; nothing was deleted",
                    t.namespace, t.name
                )));
            }
            Err(e) => {
                return Err(AppError::Partial(format!(
                    "cannot delete Job {}/{}: {e}; {}",
                    t.namespace,
                    t.name,
                    state(&deleted)
                )));
            }
        }
        deleted.push(t.clone());
    }
    // Flux must not see the old Jobs: wait until they are gone (or replaced).
    let mut follower = Follower::new(cluster, &scope, snap);
    let gone = |s: &Snapshot| {
        deleted.iter().all(|t| {
            !s.jobs.iter().any(|j| {
                j.metadata.namespace == t.namespace
                    && j.metadata.name == t.name
                    && j.metadata.uid == t.uid
            })
        })
    };
    follower
        .until(gone)
        .await
        .map_err(|e| AppError::Partial(format!("{e}; {}", state(&deleted))))?;
    let token = cluster
        .request_reconcile(req.namespace, req.name)
        .await
        .map_err(|e| {
            AppError::Partial(format!(
                "cannot request the reconcile: {e}; {}",
                state(&deleted)
            ))
        })?;
    narrate(err, &format!("► {key}: reconcile requested"))?;
    if req.no_wait {
        return Ok(Rerun::Requested(follower.snapshot));
    }
    let replaced = targets
        .iter()
        .map(|t| (t.namespace.clone(), t.name.clone(), t.uid.clone()))
        .collect();
    let goal = Goal {
        token: Some(token),
        replaced_jobs: replaced,
        ..Goal::default()
    };
    let outcome = follower
        .follow_stage(req.namespace, req.name, goal, req.downstream, err)
        .await?;
    Ok(Rerun::Followed(outcome))
}
