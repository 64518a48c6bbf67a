//! `doctor`: read the chains, the Jobs and Deployments their stages applied,
//! and check them for the pitfalls of [`crate::diagnose`].

use std::collections::BTreeSet;

use crate::cluster::{Cluster, Scope};
use crate::diagnose::{Diagnosis, Manifest, NotChecked, Subject, diagnose};
use crate::error::AppError;
use crate::model::flux::parse_inventory_id;

/// Reads the scope (or the chains of `names`) and checks it.
pub async fn doctor(
    cluster: &Cluster,
    scope: &Scope,
    names: &[String],
) -> Result<Diagnosis, AppError> {
    let snapshot = cluster.snapshot(scope).await?;
    let selection = crate::model::select(&snapshot, scope.namespace(), names)
        .map_err(AppError::UnknownNames)?;
    let mut subject = Subject {
        live: true,
        ..Subject::default()
    };
    // The namespaces whose Deployments the stages applied.
    let namespaces: BTreeSet<String> = snapshot
        .kustomizations()
        .iter()
        .flat_map(|k| k.status.inventory.iter().flat_map(|i| &i.entries))
        .filter_map(|e| parse_inventory_id(&e.id))
        .filter(|r| r.group == "apps" && r.kind == "Deployment")
        .map(|r| r.namespace.to_string())
        .filter(|ns| crate::model::flux::is_namespace_name(ns))
        .collect();
    let mut deployments: Vec<Manifest> = vec![];
    for (ns, listed) in cluster.deployments(namespaces.into_iter().collect()).await {
        match listed {
            Ok(found) => deployments.extend(found),
            Err(e) => subject.not_checked.push(NotChecked {
                what: format!("the Deployments in namespace {ns}"),
                why: format!("{e}; Job images are not compared with them"),
            }),
        }
    }
    for ns in &snapshot.unreadable_job_namespaces {
        subject.not_checked.push(NotChecked {
            what: format!("the Jobs in namespace {ns}"),
            why: "they could not be listed: the checks of Jobs are not made there".into(),
        });
    }
    for ks in snapshot.kustomizations() {
        let mut objects = vec![];
        for r in ks
            .status
            .inventory
            .iter()
            .flat_map(|i| &i.entries)
            .filter_map(|e| parse_inventory_id(&e.id))
        {
            match (r.group.as_str(), r.kind.as_str()) {
                ("batch", "Job") => {
                    objects.extend(snapshot.job(&r.namespace, &r.name).map(Manifest::from_job))
                }
                ("apps", "Deployment") => objects.extend(
                    deployments
                        .iter()
                        .find(|d| d.metadata.namespace == r.namespace && d.metadata.name == r.name)
                        .cloned(),
                ),
                _ => {}
            }
        }
        subject.objects.insert(ks.key(), objects);
    }
    subject.snapshot = snapshot;
    Ok(diagnose(&subject, &selection))
}
