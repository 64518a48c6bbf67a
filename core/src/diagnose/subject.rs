//! What `doctor` and `lint` check: Flux Kustomizations (in a [`Snapshot`],
//! their inventories saying what each applies) and the objects each applies,
//! with the few fields the checks read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::flux::{Job, JobSpec, Meta, nullable};
use crate::model::{Key, Snapshot};

/// Where a document is written: a file under the linted root, and the line
/// its document starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

/// A check that could not be made, and why (a list was forbidden, a
/// kustomize feature lint does not read...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct NotChecked {
    /// What was not checked: a stage, a namespace's Deployments, a file.
    pub what: String,
    pub why: String,
}

/// An object a stage applies, decoded leniently from any kind.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    /// A Job's spec; of a workload, only its pod template is read.
    pub spec: JobSpec,
    #[serde(skip)]
    pub location: Option<Location>,
}

impl Manifest {
    pub fn is_job(&self) -> bool {
        self.kind == "Job" && self.api_version.starts_with("batch/")
    }

    /// A Deployment, StatefulSet or DaemonSet: what runs the app.
    pub fn is_workload(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet"
        ) && self.api_version.starts_with("apps/")
    }

    /// `Kind namespace/name` (or `Kind name`), as findings name objects.
    pub fn describe(&self) -> String {
        let name = match (&self.metadata.name, &self.metadata.generate_name) {
            (n, g) if n.is_empty() && !g.is_empty() => format!("{g}*"),
            (n, _) => n.to_string(),
        };
        match self.metadata.namespace.as_str() {
            "" => format!("{} {name}", self.kind),
            ns => format!("{} {ns}/{name}", self.kind),
        }
    }

    /// A Job the cluster holds, as a manifest.
    pub fn from_job(job: &Job) -> Manifest {
        Manifest {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            metadata: job.metadata.clone(),
            spec: job.spec.clone(),
            location: None,
        }
    }
}

/// What is checked.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The Kustomizations (and the Jobs and sources the cluster holds). For
    /// `lint`, each inventory lists what its path renders to.
    pub snapshot: Snapshot,
    /// What each stage applies, as far as it could be read: for `doctor` its
    /// inventory's Jobs and workloads the cluster holds, for `lint` all it renders.
    pub objects: BTreeMap<Key, Vec<Manifest>>,
    /// Where each Kustomization is written (`lint`).
    pub locations: BTreeMap<Key, Location>,
    /// The stages whose `spec.path` is not a directory of the repository
    /// (`lint`), with the path as written.
    pub missing_paths: BTreeMap<Key, String>,
    /// The stages whose objects could not all be read.
    pub not_checked: Vec<NotChecked>,
    /// Read from a cluster (`doctor`), so status and managedFields are real.
    pub live: bool,
}

impl Subject {
    pub fn objects(&self, stage: &Key) -> &[Manifest] {
        self.objects.get(stage).map_or(&[], Vec::as_slice)
    }

    pub fn jobs(&self, stage: &Key) -> impl Iterator<Item = &Manifest> {
        self.objects(stage).iter().filter(|m| m.is_job())
    }
}
