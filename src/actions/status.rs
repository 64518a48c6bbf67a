//! `status`: read the chains and build their report.

use crate::cluster::{Cluster, Scope};
use crate::error::{AppError, UnknownName};
use crate::model::{Selection, Snapshot, analyze, suggest};
use crate::report::ChainReport;

/// What `status` read and what it shows.
pub struct Status {
    pub snapshot: Snapshot,
    pub selection: Selection,
    pub report: ChainReport,
}

pub async fn status(
    cluster: &Cluster,
    scope: &Scope,
    names: &[String],
) -> Result<Status, AppError> {
    let snapshot = cluster.snapshot(scope).await?;
    let selection = select(&snapshot, scope, names)?;
    let report = analyze(&snapshot, &selection);
    Ok(Status {
        snapshot,
        selection,
        report,
    })
}

/// The chains to show: those in scope, or those containing the named
/// Kustomizations; a name that matches nothing is an error with suggestions.
pub fn select(snapshot: &Snapshot, scope: &Scope, names: &[String]) -> Result<Selection, AppError> {
    let namespace = match scope {
        Scope::Namespace(ns) => Some(ns.clone()),
        Scope::All => None,
    };
    let in_scope = |ns: &str| namespace.as_deref().is_none_or(|n| n == ns);
    let mut pairs = vec![];
    let mut unknown = vec![];
    for name in names {
        let found: Vec<(String, String)> = snapshot
            .kustomizations
            .iter()
            .filter(|k| k.metadata.name == *name && in_scope(&k.metadata.namespace))
            .map(|k| (k.metadata.namespace.clone(), k.metadata.name.clone()))
            .collect();
        if found.is_empty() {
            let candidates = snapshot
                .kustomizations
                .iter()
                .filter(|k| in_scope(&k.metadata.namespace))
                .map(|k| k.metadata.name.as_str());
            unknown.push(UnknownName {
                namespace: namespace.clone(),
                name: name.clone(),
                suggestions: suggest(name, candidates),
            });
        }
        pairs.extend(found);
    }
    if !unknown.is_empty() {
        return Err(AppError::UnknownNames(unknown));
    }
    Ok(Selection {
        namespaces: namespace.map(|n| vec![n]),
        names: pairs,
    })
}
