//! `reconcile NAME`: ask Flux to reconcile (the source first with
//! `--with-source`), then follow the stage — and with `--downstream` its
//! dependents, nudged as their dependencies become ready — to the source's
//! revision, failing fast.

use super::follow::{Acted, Follower};
use crate::cluster::{Cluster, Scope};
use crate::error::AppError;
use crate::events::Event;
use crate::model::find_active;
use crate::model::progress::Goal;
use crate::narrate::Narrator;

/// Which Kustomization to reconcile, and how far to follow it.
pub struct Request<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub with_source: bool,
    pub downstream: bool,
    pub no_wait: bool,
}

/// Refuses a suspended stage, requests the reconcile (the source's first with
/// `with_source`) and follows the stage, and its dependents with `downstream`.
pub async fn reconcile(
    cluster: &Cluster,
    req: &Request<'_>,
    narrator: &Narrator,
) -> Result<Acted, AppError> {
    let scope = Scope::Namespace(req.namespace.to_string());
    let snap = cluster.snapshot(&scope).await?;
    let ks = find_active(&snap, req.namespace, req.name)
        .map_err(|e| AppError::unselectable(e, "Flux ignores reconcile requests while it is"))?;
    let key = format!("{}/{}", req.namespace, req.name);
    if req.downstream {
        for note in &snap.notes {
            narrator.say(Event::Note {
                message: note.clone(),
            });
        }
    }
    let source = ks.source_key();
    let mut follower = Follower::new(cluster, &scope, snap);
    if req.with_source {
        let (kind, sns, sname) = (&source.kind, &source.key.namespace, &source.key.name);
        match cluster.request_source(kind, sns, sname).await? {
            Some(token) => {
                narrator.say(Event::SourceRequested {
                    source: source.to_string(),
                });
                follower
                    .until(|s| {
                        s.source(kind, sns, sname).is_some_and(|src| {
                            src.status.last_handled_reconcile_at.as_deref() == Some(token.as_str())
                        })
                    })
                    .await?;
                let revision = follower
                    .snapshot
                    .source(kind, sns, sname)
                    .and_then(|s| s.revision())
                    .map_or("no artifact", |r| r.as_str());
                narrator.say(Event::SourceFetched {
                    source: source.to_string(),
                    revision: revision.to_string(),
                });
            }
            None => narrator.say(Event::SourceSkipped {
                kind: kind.to_string(),
                stage: key.clone(),
            }),
        }
    }
    let token = cluster.request_reconcile(req.namespace, req.name).await?;
    narrator.say(Event::Requested { stage: key });
    if req.no_wait {
        return Ok(Acted::Requested);
    }
    let goal = Goal {
        token: Some(token),
        ..Goal::default()
    };
    let outcome = follower
        .follow_stage(req.namespace, req.name, goal, req.downstream, narrator)
        .await?;
    Ok(Acted::Followed(Box::new(outcome)))
}
