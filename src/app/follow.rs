//! `reconcile` and `wait`: act, follow, then the chains' final view on
//! stdout and the failed Job's log on stderr.

use std::io::Write;

use super::{namespace_of, unserializable, view};
use crate::actions;
use crate::actions::follow::{Acted, Outcome};
use crate::cluster::Cluster;
use crate::error::{AppError, Exit};
use crate::events::Event;
use crate::model::analyze;
use crate::model::{Key, Selection, Snapshot};
use crate::narrate::Narrator;
use crate::render::{self, Format};
use crate::report::ChainReport;
use crate::settings::{ReconcileSettings, Settings, WaitSettings};

/// The final result on stdout (the chains of `names`), the failure's log tail
/// on stderr, and the exit code.
/// Which chains the final view shows.
pub(super) enum Shown {
    /// The chains of these stages, analyzed from the last snapshot.
    Chains(Vec<Key>),
    /// The report of the last snapshot, already made (`wait` on chains
    /// settled at its first look).
    Report(ChainReport),
}

fn finish(
    settings: &Settings,
    format: Format,
    snapshot: Snapshot,
    shown: Shown,
    here: Option<&str>,
    failed: bool,
    out: &mut dyn Write,
) -> Result<Exit, AppError> {
    let report = match shown {
        Shown::Report(report) => report,
        Shown::Chains(names) => analyze(
            &snapshot,
            &Selection {
                namespaces: None,
                names,
            },
        ),
    };
    // The view is of the report alone: the objects are let go as it is drawn.
    let _dropping = super::let_go(snapshot);
    let text = render::render(&report, format, &view(settings, false, false, here, false))
        .map_err(unserializable)?;
    out.write_all(text.as_bytes())?;
    super::leave(report);
    Ok(if failed { Exit::Unhealthy } else { Exit::Ok })
}

pub(super) fn outcome(
    settings: &Settings,
    format: Format,
    result: Outcome,
    shown: Shown,
    here: Option<&str>,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    match result {
        Outcome::Done(snapshot) => finish(settings, format, snapshot, shown, here, false, out),
        Outcome::Failed {
            failure,
            log_tail,
            snapshot,
        } => {
            match (log_tail, &failure.job) {
                (Some(Ok(tail)), Some(job)) => narrator.say(Event::JobLog {
                    job: job.to_string(),
                    lines: tail.lines().map(String::from).collect(),
                }),
                (Some(Err(why)), Some(job)) => narrator.say(Event::JobLogUnavailable {
                    job: job.to_string(),
                    why: why.to_string(),
                }),
                _ => {}
            }
            finish(settings, format, snapshot, shown, here, true, out)
        }
    }
}

pub(super) async fn reconcile(
    settings: &Settings,
    r: &ReconcileSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let namespace = namespace_of(&r.namespace, &cluster);
    let req = r.request(&namespace);
    let acted = actions::reconcile::reconcile(&cluster, &req, narrator).await?;
    finish_acted(
        settings,
        r.format,
        acted,
        Key::new(namespace.clone(), r.name.clone()),
        out,
        narrator,
    )
}

/// How `reconcile` and `rerun` end: at once after `--no-wait`, else with the
/// outcome of following `stage` (its chain's view, in its namespace).
pub(super) fn finish_acted(
    settings: &Settings,
    format: Format,
    acted: Acted,
    stage: Key,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    match acted {
        Acted::Requested => Ok(Exit::Ok),
        Acted::Followed(result) => {
            let here = stage.namespace.clone();
            outcome(
                settings,
                format,
                *result,
                Shown::Chains(vec![stage]),
                Some(&here),
                out,
                narrator,
            )
        }
    }
}

pub(super) async fn wait(
    settings: &Settings,
    w: &WaitSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let scope = settings.namespaces.scope(cluster.default_namespace());
    let req = w.request();
    let waited = actions::wait::wait(&cluster, &scope, &req, narrator).await?;
    outcome(
        settings,
        w.format,
        waited.outcome,
        match waited.report {
            Some(report) => Shown::Report(report),
            None => Shown::Chains(waited.stages),
        },
        scope.namespace(),
        out,
        narrator,
    )
}
