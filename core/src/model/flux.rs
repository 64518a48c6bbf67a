//! The fields of Flux and batch objects that jobgate reads, decoded leniently:
//! unknown fields are skipped, missing ones default, `null` is empty, and
//! reasons and kinds stay strings so future values decode too.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer};

pub use super::key::Text;
use super::key::{Key, SourceKey};
use crate::report::JobPhase;

/// `null` or absent becomes empty; the list keeps no spare capacity (the
/// lists of many thousands of objects are held at once).
pub(crate) fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    let mut v = Option::<Vec<T>>::deserialize(d)?.unwrap_or_default();
    v.shrink_to_fit();
    Ok(v)
}

/// `null` or absent becomes the default.
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(default, deserialize_with = "nullable")]
    pub name: Text,
    /// Set on an object whose name the apiserver picks (Flux cannot track it).
    #[serde(default, deserialize_with = "nullable")]
    pub generate_name: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub uid: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub generation: i64,
    #[serde(default)]
    pub creation_timestamp: Option<Text>,
    #[serde(default)]
    pub deletion_timestamp: Option<Text>,
    /// Only the annotations jobgate reads; others (last-applied-configuration...) are skipped.
    #[serde(default, deserialize_with = "nullable")]
    pub annotations: Annotations,
    /// Only the labels jobgate reads.
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Labels,
    #[serde(default, deserialize_with = "list")]
    pub finalizers: Vec<Text>,
    /// Who wrote fields by hand (see [`ManagedFields::by_hand`]), its
    /// manager and operation: the controllers' entries, on every object a real
    /// apiserver serves, are skipped as the list is decoded.
    #[serde(default, deserialize_with = "hand_edits")]
    pub managed_fields: Vec<ManagedFields>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ManagedFields {
    #[serde(default, deserialize_with = "nullable")]
    pub manager: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub operation: Text,
}

impl ManagedFields {
    /// Written by a person, with kubectl, or by an apply before Flux's first.
    pub fn by_hand(&self) -> bool {
        self.manager.starts_with("kubectl") || self.manager == "before-first-apply"
    }
}

fn hand_edits<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ManagedFields>, D::Error> {
    let mut v: Vec<ManagedFields> = list(d)?;
    v.retain(ManagedFields::by_hand);
    v.shrink_to_fit();
    Ok(v)
}

/// kustomize-controller's per-object force selector, as a label or an
/// annotation, its value compared without case (fluxcd/pkg `ssa/utils`).
pub const FORCE_KEY: &str = "kustomize.toolkit.fluxcd.io/force";

impl Meta {
    /// Whether Flux recreates this object when an immutable field changes.
    pub fn forced(&self) -> bool {
        [&self.labels.force, &self.annotations.force]
            .into_iter()
            .flatten()
            .any(|v| v.eq_ignore_ascii_case("enabled"))
    }
}

/// The owner labels kustomize-controller writes on everything it applies:
/// the Kustomization that owns the object (what Flux's prune checks before
/// deleting, and so does `rerun`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Labels {
    #[serde(rename = "kustomize.toolkit.fluxcd.io/name", default)]
    pub owner_name: Option<Text>,
    #[serde(rename = "kustomize.toolkit.fluxcd.io/namespace", default)]
    pub owner_namespace: Option<Text>,
    #[serde(rename = "kustomize.toolkit.fluxcd.io/force", default)]
    pub force: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Annotations {
    #[serde(rename = "reconcile.fluxcd.io/requestedAt", default)]
    pub requested_at: Option<Text>,
    #[serde(rename = "kustomize.toolkit.fluxcd.io/force", default)]
    pub force: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", default)]
    pub type_: Text,
    #[serde(default)]
    pub status: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub reason: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub message: Text,
    #[serde(default)]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub last_transition_time: Option<Text>,
}

/// The condition of that type, whatever its status.
pub fn condition<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

fn is_true(conditions: &[Condition], type_: &str) -> bool {
    condition(conditions, type_).is_some_and(|c| c.status == "True")
}

/// The conditions of the types given, the others skipped as the list is
/// decoded: a condition costs its four texts, and thousands of objects are
/// held at once.
fn conditions_of<'de, D: Deserializer<'de>>(
    d: D,
    read: &[&str],
) -> Result<Vec<Condition>, D::Error> {
    let mut v: Vec<Condition> = list(d)?;
    v.retain(|c| read.contains(&c.type_.as_str()));
    v.shrink_to_fit();
    Ok(v)
}

fn kustomization_conditions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Condition>, D::Error> {
    conditions_of(d, &["Ready", "Reconciling", "Stalled"])
}

fn source_conditions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Condition>, D::Error> {
    conditions_of(d, &["Ready"])
}

/// The conditions that decide a Job's phase, the first true one winning.
const JOB_OUTCOMES: [(&str, JobPhase); 4] = [
    ("Failed", JobPhase::Failed),
    ("Complete", JobPhase::Succeeded),
    ("FailureTarget", JobPhase::Failed),
    ("SuccessCriteriaMet", JobPhase::Succeeded),
];

/// A Job's deciding conditions: once `Failed` or `Complete` is true, the
/// `FailureTarget` and `SuccessCriteriaMet` before it can decide nothing.
fn job_conditions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Condition>, D::Error> {
    let read = JOB_OUTCOMES.map(|(type_, _)| type_);
    let mut v = conditions_of(d, &read)?;
    let (finals, targets) = read.split_at(2);
    if finals.iter().any(|t| is_true(&v, t)) {
        v.retain(|c| !targets.contains(&c.type_.as_str()));
        v.shrink_to_fit();
    }
    Ok(v)
}

// ---- Kustomization ------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Kustomization {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: KustomizationSpec,
    #[serde(default, deserialize_with = "nullable")]
    pub status: KustomizationStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationSpec {
    #[serde(default, deserialize_with = "list")]
    pub depends_on: Vec<Dependency>,
    #[serde(default, deserialize_with = "nullable")]
    pub source_ref: SourceRef,
    #[serde(default, deserialize_with = "nullable")]
    pub suspend: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub force: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub wait: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub prune: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub interval: Text,
    #[serde(default)]
    pub timeout: Option<Text>,
    #[serde(default, deserialize_with = "nullable")]
    pub path: Text,
    #[serde(default)]
    pub target_namespace: Option<Text>,
    /// Objects whose health gates the stage, besides (or instead of) `wait`.
    #[serde(default, deserialize_with = "list")]
    pub health_checks: Vec<HealthCheck>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    #[serde(default, deserialize_with = "nullable")]
    pub api_version: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub kind: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub name: Text,
    #[serde(default)]
    pub namespace: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    #[serde(default, deserialize_with = "nullable")]
    pub name: Text,
    #[serde(default)]
    pub namespace: Option<Text>,
    /// A CEL expression replacing the built-in readiness check: shown, not evaluated.
    #[serde(default)]
    pub ready_expr: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRef {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub name: Text,
    #[serde(default)]
    pub namespace: Option<Text>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KustomizationStatus {
    /// −1 until the first success; absent before the controller saw the object.
    #[serde(default)]
    pub observed_generation: Option<i64>,
    /// Only `Ready`, `Reconciling` and `Stalled` (`Healthy` is not read).
    #[serde(default, deserialize_with = "kustomization_conditions")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub last_applied_revision: Option<Text>,
    #[serde(default)]
    pub last_attempted_revision: Option<Text>,
    #[serde(default)]
    pub last_handled_reconcile_at: Option<Text>,
    /// `None` until Flux first applied the Kustomization (an applied one with
    /// nothing in it has an empty inventory).
    #[serde(default)]
    pub inventory: Option<Inventory>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Inventory {
    #[serde(default, deserialize_with = "list")]
    pub entries: Vec<InventoryEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct InventoryEntry {
    #[serde(default, deserialize_with = "nullable")]
    pub id: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub v: Text,
}

// ---- Sources ------------------------------------------------------------------

/// A GitRepository, OCIRepository, Bucket, or any other kind a sourceRef may name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Source {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: Text,
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: SourceSpec,
    #[serde(default, deserialize_with = "nullable")]
    pub status: SourceStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SourceSpec {
    #[serde(default, deserialize_with = "nullable")]
    pub url: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub suspend: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    #[serde(default)]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub last_handled_reconcile_at: Option<Text>,
    /// Only `Ready`.
    #[serde(default, deserialize_with = "source_conditions")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub artifact: Option<Artifact>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Artifact {
    #[serde(default, deserialize_with = "nullable")]
    pub revision: Text,
}

impl Source {
    pub fn revision(&self) -> Option<&Text> {
        self.status
            .artifact
            .as_ref()
            .map(|a| &a.revision)
            .filter(|r| !r.is_empty())
    }
}

// ---- Jobs ---------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Job {
    #[serde(default)]
    pub metadata: Meta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: JobSpec,
    #[serde(default, deserialize_with = "nullable")]
    pub status: JobStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    #[serde(default)]
    pub completions: Option<i64>,
    #[serde(default)]
    pub suspend: Option<bool>,
    #[serde(default)]
    pub backoff_limit: Option<i64>,
    #[serde(default)]
    pub active_deadline_seconds: Option<i64>,
    #[serde(default)]
    pub ttl_seconds_after_finished: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    pub template: PodTemplate,
}

/// A pod template, for the images it runs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PodTemplate {
    #[serde(default, deserialize_with = "nullable")]
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default, deserialize_with = "list")]
    pub containers: Vec<Container>,
    #[serde(default, deserialize_with = "list")]
    pub init_containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Container {
    #[serde(default, deserialize_with = "nullable")]
    pub name: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub image: Text,
}

impl PodTemplate {
    /// Every container's image, init containers first.
    pub fn images(&self) -> impl Iterator<Item = &str> {
        self.spec
            .init_containers
            .iter()
            .chain(&self.spec.containers)
            .map(|c| c.image.as_str())
            .filter(|i| !i.is_empty())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobStatus {
    /// Only the conditions that decide the phase (see [`Job::phase`]).
    #[serde(default, deserialize_with = "job_conditions")]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub start_time: Option<Text>,
    #[serde(default)]
    pub completion_time: Option<Text>,
    #[serde(default, deserialize_with = "nullable")]
    pub active: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub succeeded: i64,
    #[serde(default, deserialize_with = "nullable")]
    pub failed: i64,
}

impl Job {
    /// The phase, as Flux's own Job status reader sees it (fluxcd/pkg
    /// `runtime/statusreaders/job.go`, not kstatus), and the condition that decided it. K8s ≥ 1.31 writes
    /// `FailureTarget`/`SuccessCriteriaMet` before `Failed`/`Complete`: the
    /// outcome is decided then, so they count as the final condition does.
    pub fn phase(&self) -> (JobPhase, Option<&Condition>) {
        let c = &self.status.conditions;
        // The outcome first: Flux's reader never looks at `suspend`, so a
        // finished Job suspended afterwards keeps its outcome.
        for (type_, phase) in JOB_OUTCOMES {
            if is_true(c, type_) {
                return (phase, condition(c, type_));
            }
        }
        if self.spec.suspend == Some(true) {
            return (JobPhase::Suspended, None);
        }
        if self.status.start_time.is_none() {
            return (JobPhase::Pending, None);
        }
        (JobPhase::Running, None)
    }
}

/// Whether `ns` can name a namespace (an RFC 1123 label): a reference to
/// anything else names nothing, and must not reach a request path.
pub fn is_namespace_name(ns: &str) -> bool {
    let bytes = ns.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

/// A namespaced or cluster-scoped object named by an inventory entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub namespace: Text,
    pub name: Text,
    pub group: Text,
    pub kind: Text,
}

/// Parses `<namespace>_<name>_<group>_<Kind>` from both ends: the namespace is
/// up to the first `_`, the Kind after the last, the group before that, the
/// name in between. RBAC kinds write `:` in names as `__`.
pub fn parse_inventory_id(id: &str) -> Option<ObjectRef> {
    let (namespace, rest) = id.split_once('_')?;
    let (rest, kind) = rest.rsplit_once('_')?;
    let (name, group) = rest.rsplit_once('_')?;
    if name.is_empty() || kind.is_empty() {
        return None;
    }
    let name = if group == "rbac.authorization.k8s.io" {
        name.replace("__", ":").into()
    } else {
        name.into()
    };
    Some(ObjectRef {
        namespace: namespace.into(),
        name,
        group: group.into(),
        kind: kind.into(),
    })
}

impl Kustomization {
    /// The Jobs this Kustomization applied, from its inventory, sorted.
    pub fn inventory_jobs(&self) -> Vec<ObjectRef> {
        let mut jobs: Vec<ObjectRef> = self
            .status
            .inventory
            .iter()
            .flat_map(|i| &i.entries)
            // `namespace_name_batch_Job`: only those are parsed.
            .filter(|e| e.id.ends_with("_batch_Job"))
            .filter_map(|e| parse_inventory_id(&e.id))
            .filter(|r| r.group == "batch" && r.kind == "Job")
            .collect();
        jobs.sort();
        jobs.dedup();
        jobs.shrink_to_fit();
        jobs
    }

    /// `namespace/name` of each dependency (the namespace defaults to this object's).
    pub fn dependencies(&self) -> Vec<Key> {
        self.spec
            .depends_on
            .iter()
            .map(|d| {
                Key::new(
                    d.namespace
                        .clone()
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| self.metadata.namespace.clone()),
                    d.name.clone(),
                )
            })
            .collect()
    }

    pub fn source_key(&self) -> SourceKey {
        let r = &self.spec.source_ref;
        SourceKey {
            kind: r.kind.clone(),
            key: Key::new(
                r.namespace
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| self.metadata.namespace.clone()),
                r.name.clone(),
            ),
        }
    }

    /// This Kustomization's name.
    pub fn key(&self) -> Key {
        Key::new(self.metadata.namespace.clone(), self.metadata.name.clone())
    }
}

/// `main@sha1:9f1e2d3c4b5a...` → `main@sha1:9f1e2d3c`, as flux shortens revisions.
pub fn short_revision(rev: &str) -> String {
    for marker in ["sha1:", "sha256:", "blake3:"] {
        if let Some(pos) = rev.find(marker) {
            let start = pos + marker.len();
            // Eight characters, not bytes: a revision is text from the cluster.
            let end = rev[start..]
                .char_indices()
                .nth(8)
                .map_or(rev.len(), |(i, _)| start + i);
            return rev[..end].to_string();
        }
    }
    // Flux v1beta2 revisions: `main/9f1e2d3c4b5a...`.
    if let Some((branch, hash)) = rev.rsplit_once('/')
        && hash.len() == 40
        && hash.chars().all(|c| c.is_ascii_hexdigit())
    {
        return format!("{branch}/{}", &hash[..8]);
    }
    rev.to_string()
}

/// An object that exists but does not decode, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Undecodable {
    pub namespace: Text,
    pub name: Text,
    pub error: String,
}

/// Everything read from the cluster for one view (by the cluster layer, or
/// from YAML). The objects are added through methods that drop the lookup
/// index, which the lookups build again on first use: it always describes
/// the lists.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    kustomizations: Vec<Kustomization>,
    sources: Vec<Source>,
    jobs: Vec<Job>,
    /// What could not be read (forbidden namespaces, undecodable objects), in words.
    pub gaps: Vec<String>,
    /// What the view leaves out by design, in words (not a partial view).
    pub notes: Vec<String>,
    /// Namespaces whose Jobs could not be listed (`*`: all): their Jobs are unknown, not gone.
    pub unreadable_job_namespaces: Vec<String>,
    /// Namespaces whose Kustomizations could not be listed (`*`: all): a
    /// dependency there is unknown, not missing.
    pub unreadable_kustomization_namespaces: Vec<String>,
    /// Kustomizations that exist but do not decode: kept in the graph, not
    /// mistaken for missing.
    pub undecodable_kustomizations: Vec<Undecodable>,
    index: OnceLock<Index>,
}

/// Positions in a snapshot's lists by namespace, then name: following
/// thousands of stages looks up each stage's Kustomization, source and Jobs
/// on every change, which scans would make quadratic.
#[derive(Debug, Clone, Default)]
struct Index {
    kustomizations: Positions,
    sources: Positions,
    jobs: Positions,
}

type Positions = HashMap<Text, HashMap<Text, Places>>;

/// Where a name is in a list: once, but for sources of different kinds that
/// share a name (one allocation per object would be tens of thousands).
#[derive(Debug, Clone)]
enum Places {
    One(usize),
    Many(Vec<usize>),
}

impl Places {
    fn push(&mut self, i: usize) {
        match self {
            Places::One(first) => *self = Places::Many(vec![*first, i]),
            Places::Many(all) => all.push(i),
        }
    }

    fn as_slice(&self) -> &[usize] {
        match self {
            Places::One(i) => std::slice::from_ref(i),
            Places::Many(all) => all,
        }
    }
}

fn positions<'a>(keys: impl Iterator<Item = &'a Meta>) -> Positions {
    let mut map = Positions::new();
    for (i, m) in keys.enumerate() {
        map.entry(m.namespace.clone())
            .or_default()
            .entry(m.name.clone())
            .and_modify(|p| p.push(i))
            .or_insert(Places::One(i));
    }
    map
}

fn at<'s, T>(list: &'s [T], map: &Positions, ns: &str, name: &str) -> impl Iterator<Item = &'s T> {
    map.get(ns)
        .and_then(|names| names.get(name))
        .map(Places::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|&i| list.get(i))
}

/// Adds to a list; the first list added is kept as it came (a list of
/// thousands is not copied into a new one), without the spare room it grew
/// (a large list's memory is mapped on its own: shrinking it copies nothing).
fn append<T>(to: &mut Vec<T>, items: impl IntoIterator<Item = T>) {
    if to.is_empty() {
        *to = items.into_iter().collect();
        to.shrink_to_fit();
    } else {
        to.extend(items);
    }
}

impl Snapshot {
    pub fn kustomizations(&self) -> &[Kustomization] {
        &self.kustomizations
    }

    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    pub fn add_kustomizations(&mut self, items: impl IntoIterator<Item = Kustomization>) {
        append(&mut self.kustomizations, items);
        self.index = OnceLock::new();
    }

    pub fn add_sources(&mut self, items: impl IntoIterator<Item = Source>) {
        append(&mut self.sources, items);
        self.index = OnceLock::new();
    }

    pub fn add_jobs(&mut self, items: impl IntoIterator<Item = Job>) {
        append(&mut self.jobs, items);
        self.index = OnceLock::new();
    }

    /// The Kustomizations to change in place; the index is built again after.
    pub fn kustomizations_mut(&mut self) -> &mut [Kustomization] {
        self.index = OnceLock::new();
        &mut self.kustomizations
    }

    /// The Jobs to change in place; the index is built again after.
    pub fn jobs_mut(&mut self) -> &mut [Job] {
        self.index = OnceLock::new();
        &mut self.jobs
    }

    /// The index of the lists as they are now.
    fn index(&self) -> &Index {
        self.index.get_or_init(|| Index {
            kustomizations: positions(self.kustomizations.iter().map(|k| &k.metadata)),
            sources: positions(self.sources.iter().map(|s| &s.metadata)),
            jobs: positions(self.jobs.iter().map(|j| &j.metadata)),
        })
    }

    /// The Kustomization `ns/name` that exists but did not decode.
    pub fn undecodable(&self, ns: &str, name: &str) -> Option<&Undecodable> {
        self.undecodable_kustomizations
            .iter()
            .find(|u| u.namespace == ns && u.name == name)
    }

    /// The Kustomization `ns/name`, if read.
    pub fn kustomization(&self, ns: &str, name: &str) -> Option<&Kustomization> {
        let is_it = |k: &&Kustomization| k.metadata.namespace == ns && k.metadata.name == name;
        at(&self.kustomizations, &self.index().kustomizations, ns, name).find(is_it)
    }

    /// The source `kind` `ns/name`, if read.
    pub fn source(&self, kind: &str, ns: &str, name: &str) -> Option<&Source> {
        let is_it =
            |s: &&Source| s.kind == kind && s.metadata.namespace == ns && s.metadata.name == name;
        at(&self.sources, &self.index().sources, ns, name).find(is_it)
    }

    /// The Job `ns/name`, if read.
    pub fn job(&self, ns: &str, name: &str) -> Option<&Job> {
        let is_it = |j: &&Job| j.metadata.namespace == ns && j.metadata.name == name;
        at(&self.jobs, &self.index().jobs, ns, name).find(is_it)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inventory_ids_parse_from_both_ends() {
        let cases = [
            (
                "apps_db-migration_batch_Job",
                ("apps", "db-migration", "batch", "Job"),
            ),
            ("apps_my-app__Service", ("apps", "my-app", "", "Service")),
            ("_apps__Namespace", ("", "apps", "", "Namespace")),
            (
                "apps_my-app_networking.k8s.io_Ingress",
                ("apps", "my-app", "networking.k8s.io", "Ingress"),
            ),
            (
                "_system__controller__my-app_rbac.authorization.k8s.io_ClusterRole",
                (
                    "",
                    "system:controller:my-app",
                    "rbac.authorization.k8s.io",
                    "ClusterRole",
                ),
            ),
            (
                "apps_app-deploy_kustomize.toolkit.fluxcd.io_Kustomization",
                (
                    "apps",
                    "app-deploy",
                    "kustomize.toolkit.fluxcd.io",
                    "Kustomization",
                ),
            ),
        ];
        for (id, (ns, name, group, kind)) in cases {
            let r = parse_inventory_id(id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(
                (
                    r.namespace.as_str(),
                    r.name.as_str(),
                    r.group.as_str(),
                    r.kind.as_str()
                ),
                (ns, name, group, kind),
                "{id}"
            );
        }
        for bad in [
            "",
            "nounderscore",
            "a_b",
            "__",
            "ns__batch_Job",
            "ns_name_batch_",
        ] {
            assert_eq!(parse_inventory_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_parent_inventory_fixture_parses() {
        let ks: Kustomization = serde_saphyr::from_str(include_str!(
            "../../../tests/fixtures/parent-flux-system-inventory.yaml"
        ))
        .unwrap();
        let parsed: Vec<ObjectRef> = ks
            .status
            .inventory
            .as_ref()
            .unwrap()
            .entries
            .iter()
            .map(|e| parse_inventory_id(&e.id).unwrap())
            .collect();
        assert_eq!(parsed.len(), 7);
        assert!(parsed.iter().any(|r| r.name == "system:controller:my-app"));
    }

    fn job(yaml: &str) -> Job {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// Found on the real apiserver: a completed Job suspended afterwards (as
    /// the bench's loaded Jobs are) was shown `Suspended`, not `Succeeded`.
    #[test]
    fn a_finished_job_suspended_afterwards_keeps_its_outcome() {
        let done = job(
            "spec: {suspend: true}\nstatus: {conditions: [{type: Complete, status: 'True', reason: CompletionsReached}]}",
        );
        assert_eq!(done.phase().0, JobPhase::Succeeded);
        let failed = job(
            "spec: {suspend: true}\nstatus: {conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded}]}",
        );
        assert_eq!(failed.phase().0, JobPhase::Failed);
    }

    /// Issue 15 (memory): only the conditions a view reads are held.
    #[test]
    fn only_the_conditions_jobgate_reads_are_kept() {
        let done = job(
            "status: {startTime: x, conditions: [{type: SuccessCriteriaMet, status: 'True'}, {type: Complete, status: 'True', reason: CompletionsReached}, {type: Suspended, status: 'False'}]}",
        );
        let types: Vec<&str> = done
            .status
            .conditions
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, ["Complete"]);
        assert_eq!(done.phase().0, JobPhase::Succeeded);
        // Before the final condition, the target one decides.
        let deciding = job(
            "status: {startTime: x, conditions: [{type: FailureTarget, status: 'True', reason: DeadlineExceeded}, {type: Failed, status: 'False'}]}",
        );
        assert_eq!(deciding.status.conditions.len(), 2);
        assert_eq!(deciding.phase().0, JobPhase::Failed);
        let ks: Kustomization = serde_saphyr::from_str(
            "status: {conditions: [{type: Healthy, status: 'True'}, {type: Ready, status: 'True'}, {type: Reconciling, status: 'True'}, {type: Stalled, status: 'False'}]}",
        )
        .unwrap();
        let types: Vec<&str> = ks
            .status
            .conditions
            .iter()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, ["Ready", "Reconciling", "Stalled"]);
    }

    #[test]
    fn job_phases_follow_fluxs_reader() {
        assert_eq!(
            job("spec: {suspend: true}\nstatus: {}").phase().0,
            JobPhase::Suspended
        );
        assert_eq!(job("status: {}").phase().0, JobPhase::Pending);
        assert_eq!(
            job("status: {startTime: '2026-01-01T00:00:00Z', active: 1}")
                .phase()
                .0,
            JobPhase::Running
        );
        let done = job(
            "status: {startTime: x, conditions: [{type: Complete, status: 'True', reason: CompletionsReached}]}",
        );
        assert_eq!(done.phase().0, JobPhase::Succeeded);
        let failed = job(
            "status: {startTime: x, conditions: [{type: Failed, status: 'True', reason: BackoffLimitExceeded}]}",
        );
        assert_eq!(
            (failed.phase().0, failed.phase().1.unwrap().reason.as_str()),
            (JobPhase::Failed, "BackoffLimitExceeded")
        );
        // K8s 1.31: FailureTarget before Failed.
        let target = job(
            "status: {startTime: x, conditions: [{type: FailureTarget, status: 'True', reason: DeadlineExceeded}]}",
        );
        assert_eq!(
            (target.phase().0, target.phase().1.unwrap().reason.as_str()),
            (JobPhase::Failed, "DeadlineExceeded")
        );
        let criteria =
            job("status: {startTime: x, conditions: [{type: SuccessCriteriaMet, status: 'True'}]}");
        assert_eq!(criteria.phase().0, JobPhase::Succeeded);
        assert_eq!(
            job("status: {startTime: x, conditions: [{type: Failed, status: 'False'}]}")
                .phase()
                .0,
            JobPhase::Running
        );
    }

    #[test]
    fn lenient_decoding() {
        let ks: Kustomization = serde_saphyr::from_str(
            "metadata: {name: x, annotations: {other: y}}\nspec: {dependsOn: null, sourceRef: {kind: ExternalArtifact, name: a}, extra: 1}\nstatus: null",
        )
        .unwrap();
        assert_eq!(ks.spec.source_ref.kind, "ExternalArtifact");
        assert!(ks.spec.depends_on.is_empty() && ks.status.conditions.is_empty());
        let empty: Kustomization = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.metadata.generation, 0);
    }

    #[test]
    fn lookups_find_by_key_and_survive_a_later_push() {
        let meta = |ns: &str, name: &str| serde_json::json!({"namespace": ns, "name": name});
        let ks = |ns, name| -> Kustomization {
            serde_json::from_value(serde_json::json!({"metadata": meta(ns, name)})).unwrap()
        };
        let mut snap = Snapshot {
            kustomizations: vec![ks("a", "x"), ks("b", "x"), ks("a", "y")],
            sources: vec![
                serde_json::from_value(
                    serde_json::json!({"kind": "GitRepository", "metadata": meta("a", "x")}),
                )
                .unwrap(),
                serde_json::from_value(
                    serde_json::json!({"kind": "OCIRepository", "metadata": meta("a", "x")}),
                )
                .unwrap(),
            ],
            jobs: vec![
                serde_json::from_value(serde_json::json!({"metadata": meta("b", "j")})).unwrap(),
            ],
            ..Snapshot::default()
        };
        let found = |s: &Snapshot, ns: &str, name: &str| {
            s.kustomization(ns, name)
                .map(|k| format!("{}/{}", k.metadata.namespace, k.metadata.name))
        };
        assert_eq!(found(&snap, "b", "x").as_deref(), Some("b/x"));
        assert_eq!(found(&snap, "a", "y").as_deref(), Some("a/y"));
        assert_eq!(found(&snap, "b", "y"), None);
        assert_eq!(
            snap.source("OCIRepository", "a", "x")
                .map(|s| s.kind.as_str()),
            Some("OCIRepository")
        );
        assert!(snap.source("Bucket", "a", "x").is_none());
        assert!(snap.job("b", "j").is_some() && snap.job("a", "j").is_none());
        // Indexed by the first lookup; an object added after it is found.
        snap.add_kustomizations([ks("c", "z")]);
        assert_eq!(found(&snap, "c", "z").as_deref(), Some("c/z"));
        assert_eq!(found(&snap.clone(), "b", "x").as_deref(), Some("b/x"));
    }

    /// The index was trusted whenever the list lengths matched: a change of
    /// the same length (a Job replaced by another) made `job()` miss, and the
    /// Job showed `Gone`. Every change now drops the index.
    #[test]
    fn a_same_length_change_is_found_by_the_lookups() {
        let job = |ns: &str, name: &str| -> Job {
            serde_json::from_value(serde_json::json!({"metadata": {"namespace": ns, "name": name}}))
                .unwrap()
        };
        let mut snap = Snapshot::default();
        snap.add_jobs([job("apps", "old")]);
        assert!(snap.job("apps", "old").is_some());
        snap.jobs_mut()[0] = job("apps", "new");
        assert!(
            snap.job("apps", "new").is_some(),
            "the replaced Job is found"
        );
        assert!(snap.job("apps", "old").is_none());
    }
}
