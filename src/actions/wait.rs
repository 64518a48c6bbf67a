//! `wait [NAME...] [--all]`: block until the named chains (each whole chain,
//! upstream and downstream) are ready on their source's revision (or
//! `--for revision=REV`), from watches; fail fast on a failed stage or Job.

use super::follow::{Followed, Follower, Outcome};
use crate::cluster::{Cluster, Scope};
use crate::error::AppError;
use crate::events::Event;
use crate::model::progress::Goal;
use crate::model::{Key, analyze};
use crate::narrate::Narrator;
use crate::report::ChainReport;

/// Which chains to wait for, and for what.
pub struct Request<'a> {
    pub names: &'a [String],
    pub all: bool,
    pub revision: Option<String>,
    pub nudge: bool,
    pub allow_empty: bool,
}

/// How a wait ended, and the stages it followed (`namespace`, `name`).
pub struct Waited {
    pub outcome: Outcome,
    pub stages: Vec<Key>,
    /// The report of the first snapshot, when the outcome's is that one (the
    /// chains were settled at the first look): the view shows it as it is.
    pub report: Option<ChainReport>,
}

/// Follows the chains to the goal.
pub async fn wait(
    cluster: &Cluster,
    scope: &Scope,
    req: &Request<'_>,
    narrator: &Narrator,
) -> Result<Waited, AppError> {
    if req.names.is_empty() && !req.all {
        return Err(AppError::Usage(
            "name the Kustomizations whose chains to wait for, or pass --all".into(),
        ));
    }
    let snap = cluster.snapshot(scope).await?;
    for note in &snap.notes {
        narrator.say(Event::Note {
            message: note.clone(),
        });
    }
    // --all: every chain in scope, as `status` with no names.
    let names = if req.all { &[][..] } else { req.names };
    let selection =
        crate::model::select(&snap, scope.namespace(), names).map_err(AppError::UnknownNames)?;
    let report = analyze(&snap, &selection);
    let stages: Vec<Followed> = report
        .chains
        .iter()
        .flat_map(|c| &c.stages)
        .filter(|s| s.state != crate::report::StageState::Missing)
        .map(|s| {
            let goal = Goal {
                revision: req.revision.clone(),
                // A source that moves on from here without the revision never brings it.
                source_seen: req
                    .revision
                    .as_ref()
                    .and(s.source_revision.as_deref().map(String::from)),
                ..Goal::default()
            };
            Followed::new(&s.namespace, &s.name, goal)
        })
        .collect();
    let keys: Vec<Key> = stages.iter().map(Followed::key).collect();
    if stages.is_empty() {
        let place = match scope.namespace() {
            Some(ns) => format!("in namespace {ns}"),
            None => "in any namespace".to_string(),
        };
        if !req.allow_empty {
            // A gate that checks nothing must not pass: a typo in -n would.
            return Err(AppError::Usage(format!(
                "no Flux Kustomizations to wait for {place}: check the namespace (-n) and the names, or pass --allow-empty if nothing to wait for is a success"
            )));
        }
        narrator.say(Event::Info {
            message: format!("No Flux Kustomizations to wait for {place}."),
        });
        return Ok(Waited {
            outcome: Outcome::Done(snap),
            stages: keys,
            report: None,
        });
    }
    let (outcome, advanced) = Follower::new(cluster, scope, snap)
        .follow_on(stages, req.nudge, narrator)
        .await?;
    Ok(Waited {
        outcome,
        stages: keys,
        report: (!advanced).then_some(report),
    })
}
