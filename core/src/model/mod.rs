//! The pure model: Flux objects as jobgate reads them, Job phases, stage
//! states, and the chain graph. No async, no clock, no I/O, no `kube`: the
//! cluster layer fills a [`Snapshot`], and [`analyze`] turns it into the report.

pub mod chains;
pub mod flux;
mod key;
pub mod progress;
pub mod select;
mod wanted;

pub use chains::{Selection, analyze, stage_state, suggest};
pub use flux::{Job, Kustomization, Snapshot, Source};
pub use key::{Key, ReplacedJob, SourceKey, Text};
pub use select::{UnknownName, Unselectable, find, find_active, select};
pub use wanted::{WaitFor, wait_for};

/// Parses Kubernetes objects from YAML: a jobgate-sandbox Scenario, a `kind:
/// List`, or one object per document; used by tests and by `lint`-like readers.
pub fn snapshot_from_yaml(text: &str) -> Result<Snapshot, String> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    let mut objects = vec![];
    for doc in docs {
        match doc["kind"].as_str() {
            Some("Scenario") => objects.extend(
                doc["spec"]["objects"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            ),
            Some("List") => objects.extend(doc["items"].as_array().cloned().unwrap_or_default()),
            _ => objects.push(doc),
        }
    }
    let mut snap = Snapshot::default();
    for obj in objects {
        let kind = obj["kind"].as_str().unwrap_or("").to_string();
        let decode_err = |e: serde_json::Error| format!("{kind}: {e}");
        match kind.as_str() {
            "Kustomization" => {
                snap.add_kustomizations([serde_json::from_value(obj).map_err(decode_err)?])
            }
            "Job" => snap.add_jobs([serde_json::from_value(obj).map_err(decode_err)?]),
            "GitRepository" | "OCIRepository" | "Bucket" | "ExternalArtifact" => {
                snap.add_sources([serde_json::from_value(obj).map_err(decode_err)?])
            }
            _ => {}
        }
    }
    Ok(snap)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod robustness;
