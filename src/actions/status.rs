//! `status`: read the chains and build their report.

use crate::cluster::{Cluster, NoLog, Scope};
use crate::error::AppError;
use crate::model::{Selection, Snapshot, analyze};
use crate::report::{ChainReport, JobPhase, Text};

/// What `status` read and what it shows.
pub struct Status {
    pub snapshot: Snapshot,
    pub selection: Selection,
    pub report: ChainReport,
}

/// Failed Jobs whose log tail is fetched, at most (two requests each).
const LOG_TAILS: usize = 5;
const TAIL_LINES: i64 = 5;

/// Reads the scope, selects the chains, analyzes them and adds failed Jobs' log tails.
pub async fn status(
    cluster: &Cluster,
    scope: &Scope,
    names: &[String],
) -> Result<Status, AppError> {
    let snapshot = cluster.snapshot(scope).await?;
    let selection = crate::model::select(&snapshot, scope.namespace(), names)
        .map_err(AppError::UnknownNames)?;
    let mut report = analyze(&snapshot, &selection);
    add_log_tails(cluster, &mut report).await;
    Ok(Status {
        snapshot,
        selection,
        report,
    })
}

/// The last lines of the logs of the first failed Jobs shown: why a migration failed.
async fn add_log_tails(cluster: &Cluster, report: &mut ChainReport) {
    use futures::StreamExt;
    let failed: Vec<(String, String)> = report
        .chains
        .iter()
        .flat_map(|c| &c.stages)
        .flat_map(|s| &s.jobs)
        .filter(|j| j.phase == JobPhase::Failed)
        .map(|j| (j.namespace.to_string(), j.name.to_string()))
        .take(LOG_TAILS)
        .collect();
    if failed.is_empty() {
        return;
    }
    let tails: Vec<((String, String), Result<String, NoLog>)> = futures::stream::iter(failed)
        .map(|(ns, name)| async move {
            let tail = cluster.job_log_tail(&ns, &name, TAIL_LINES).await;
            ((ns, name), tail)
        })
        .buffer_unordered(LOG_TAILS)
        .collect()
        .await;
    for job in report
        .chains
        .iter_mut()
        .flat_map(|c| c.stages.iter_mut())
        .flat_map(|s| s.jobs.iter_mut())
    {
        match tails
            .iter()
            .find(|((ns, name), _)| *ns == job.namespace && *name == job.name)
        {
            Some((_, Ok(tail))) => job.log_tail = Some(tail.lines().map(Text::from).collect()),
            Some((_, Err(why))) => job.log_unavailable = Some(Text::from(why.to_string())),
            None => {}
        }
    }
}
