//! `reconcile NAME`: ask Flux to reconcile (the source first with
//! `--with-source`), then follow the stage — and with `--downstream` its
//! dependents, nudged as their dependencies become ready — to the source's
//! revision, failing fast.

use std::io::Write;

use super::follow::{Follower, Outcome, narrate};
use crate::cluster::{Cluster, Scope};
use crate::error::AppError;
use crate::model::progress::Goal;
use crate::model::{Snapshot, find_active};

/// Which Kustomization to reconcile, and how far to follow it.
pub struct Request<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub with_source: bool,
    pub downstream: bool,
    pub no_wait: bool,
}

/// How far a reconcile went.
pub enum Reconciled {
    /// `--no-wait`: requested, not followed.
    Requested(Snapshot),
    Followed(Outcome),
}

/// Refuses a suspended stage, requests the reconcile (the source's first with
/// `with_source`) and follows the stage, and its dependents with `downstream`.
pub async fn reconcile(
    cluster: &Cluster,
    req: &Request<'_>,
    err: &mut dyn Write,
) -> Result<Reconciled, AppError> {
    let scope = Scope::Namespace(req.namespace.to_string());
    let snap = cluster.snapshot(&scope).await?;
    let ks = find_active(&snap, req.namespace, req.name)
        .map_err(|e| AppError::unselectable(e, "Flux ignores reconcile requests while it is"))?;
    let key = format!("{}/{}", req.namespace, req.name);
    if req.downstream {
        for note in &snap.notes {
            writeln!(err, "note: {}", crate::render::sanitize(note))?;
        }
    }
    let source = ks.source_key();
    let mut follower = Follower::new(cluster, &scope, snap);
    if req.with_source {
        let (kind, sns, sname) = source;
        match cluster.request_source(&kind, &sns, &sname).await? {
            Some(token) => {
                writeln!(err, "► {kind}/{sns}/{sname}: reconcile requested")?;
                follower
                    .until(|s| {
                        s.source(&kind, &sns, &sname).is_some_and(|src| {
                            src.status.last_handled_reconcile_at.as_ref() == Some(&token)
                        })
                    })
                    .await?;
                let revision = follower
                    .snapshot
                    .source(&kind, &sns, &sname)
                    .and_then(|s| s.revision())
                    .unwrap_or("no artifact");
                // The revision is the source's status, written by whoever can.
                narrate(
                    err,
                    &format!(
                        "✔ {kind}/{sns}/{sname}: fetched {}",
                        crate::render::short_revision(revision)
                    ),
                )?;
            }
            None => writeln!(
                err,
                "◎ source kind {kind} is not one jobgate can reconcile; reconciling {key} only"
            )?,
        }
    }
    let token = cluster.request_reconcile(req.namespace, req.name).await?;
    writeln!(err, "► {key}: reconcile requested")?;
    if req.no_wait {
        return Ok(Reconciled::Requested(follower.snapshot));
    }
    let goal = Goal {
        token: Some(token),
        ..Goal::default()
    };
    let outcome = follower
        .follow_stage(req.namespace, req.name, goal, req.downstream, err)
        .await?;
    Ok(Reconciled::Followed(outcome))
}
