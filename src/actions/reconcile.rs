//! `reconcile NAME`: ask Flux to reconcile (the source first with
//! `--with-source`), then follow the stage — and with `--downstream` its
//! dependents, nudged as their dependencies become ready — to the source's
//! revision, failing fast.

use std::io::Write;

use super::follow::{Follower, Outcome, narrate};
use crate::cluster::{Cluster, Scope};
use crate::error::AppError;
use crate::model::progress::Goal;
use crate::model::{Kustomization, Snapshot};

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

/// The named Kustomization, refused when suspended; `consequence` says what
/// suspension means for the command.
pub fn find_active<'a>(
    snap: &'a Snapshot,
    ns: &str,
    name: &str,
    consequence: &str,
) -> Result<&'a Kustomization, AppError> {
    let ks = find(snap, ns, name)?;
    if ks.spec.suspend {
        return Err(AppError::Refused(format!(
            "{ns}/{name} is suspended: {consequence}. Resume it first with `flux resume kustomization {name} -n {ns}`"
        )));
    }
    Ok(ks)
}

/// The named Kustomization, or an error naming the closest ones.
pub fn find<'a>(
    snap: &'a Snapshot,
    ns: &str,
    name: &str,
) -> Result<&'a crate::model::Kustomization, AppError> {
    snap.kustomization(ns, name).ok_or_else(|| {
        let scope = Scope::Namespace(ns.to_string());
        match super::status::select(snap, &scope, &[name.to_string()]) {
            Err(e) => e,
            Ok(_) => AppError::Usage(format!(
                "Kustomization \"{name}\" not found in namespace \"{ns}\""
            )),
        }
    })
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
    let ks = find_active(
        &snap,
        req.namespace,
        req.name,
        "Flux ignores reconcile requests while it is",
    )?;
    let key = format!("{}/{}", req.namespace, req.name);
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
