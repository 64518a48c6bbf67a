//! The Kubernetes Events of a stage, as data (`events`): Events from either
//! API (`events.k8s.io/v1`, or core `v1` where the first is not served)
//! decoded into one shape, the objects a stage's Events are about (its
//! Kustomization, its source, its Jobs and their pods), and the report
//! (`kind: EventsReport`) in time order.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::model::flux::nullable;
use crate::report::API_VERSION;

/// One Event, whichever API it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Occurrence {
    pub namespace: String,
    /// The Event object's own name (an update of it is the same Event).
    pub name: String,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub object: Regarding,
    pub message: String,
    /// How many times it was seen (1 for a single one).
    pub count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// The controller or component that reported it.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reporter: String,
}

/// The object an Event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Regarding {
    #[serde(default, deserialize_with = "nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "nullable")]
    pub namespace: String,
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventMeta {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    namespace: String,
    #[serde(default)]
    creation_timestamp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Series {
    #[serde(default, deserialize_with = "nullable")]
    count: i64,
    #[serde(default)]
    last_observed_time: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Component {
    #[serde(default, deserialize_with = "nullable")]
    component: String,
}

/// An `events.k8s.io/v1` Event.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventV1 {
    #[serde(default)]
    metadata: EventMeta,
    #[serde(default, deserialize_with = "nullable")]
    regarding: Regarding,
    #[serde(default, deserialize_with = "nullable")]
    reason: String,
    #[serde(default, deserialize_with = "nullable")]
    note: String,
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    type_: String,
    #[serde(default)]
    event_time: Option<String>,
    #[serde(default)]
    series: Option<Series>,
    #[serde(default, deserialize_with = "nullable")]
    deprecated_count: i64,
    #[serde(default)]
    deprecated_first_timestamp: Option<String>,
    #[serde(default)]
    deprecated_last_timestamp: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    reporting_controller: String,
    #[serde(default, deserialize_with = "nullable")]
    deprecated_source: Component,
}

/// A core `v1` Event.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CoreEvent {
    #[serde(default)]
    metadata: EventMeta,
    #[serde(default, deserialize_with = "nullable")]
    involved_object: Regarding,
    #[serde(default, deserialize_with = "nullable")]
    reason: String,
    #[serde(default, deserialize_with = "nullable")]
    message: String,
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    type_: String,
    #[serde(default, deserialize_with = "nullable")]
    count: i64,
    #[serde(default)]
    first_timestamp: Option<String>,
    #[serde(default)]
    last_timestamp: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
    #[serde(default)]
    series: Option<Series>,
    #[serde(default, deserialize_with = "nullable")]
    source: Component,
    #[serde(default, deserialize_with = "nullable")]
    reporting_component: String,
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

/// When it was last seen and how often, as `kubectl events` decides: a
/// series' last observation and count, else the last timestamp and count,
/// else the event time (once).
fn seen(
    series: Option<Series>,
    last: Option<String>,
    count: i64,
    event_time: Option<String>,
) -> (Option<String>, i64) {
    if let Some(s) = series.filter(|s| s.count > 0) {
        return (
            nonempty(s.last_observed_time).or_else(|| nonempty(event_time.clone())),
            s.count,
        );
    }
    match nonempty(last) {
        Some(l) => (Some(l), count.max(1)),
        None => (nonempty(event_time), count.max(1)),
    }
}

impl From<EventV1> for Occurrence {
    fn from(e: EventV1) -> Occurrence {
        let first = nonempty(e.deprecated_first_timestamp)
            .or_else(|| nonempty(e.event_time.clone()))
            .or(e.metadata.creation_timestamp);
        let (last, count) = seen(
            e.series,
            e.deprecated_last_timestamp,
            e.deprecated_count,
            e.event_time,
        );
        Occurrence {
            namespace: e.metadata.namespace,
            name: e.metadata.name,
            type_: e.type_,
            reason: e.reason,
            object: e.regarding,
            message: e.note,
            count,
            last_seen: last.or_else(|| first.clone()),
            first_seen: first,
            reporter: if e.reporting_controller.is_empty() {
                e.deprecated_source.component
            } else {
                e.reporting_controller
            },
        }
    }
}

impl From<CoreEvent> for Occurrence {
    fn from(e: CoreEvent) -> Occurrence {
        let first = nonempty(e.first_timestamp)
            .or_else(|| nonempty(e.event_time.clone()))
            .or(e.metadata.creation_timestamp);
        let (last, count) = seen(e.series, e.last_timestamp, e.count, e.event_time);
        Occurrence {
            namespace: e.metadata.namespace,
            name: e.metadata.name,
            type_: e.type_,
            reason: e.reason,
            object: e.involved_object,
            message: e.message,
            count,
            last_seen: last.or_else(|| first.clone()),
            first_seen: first,
            reporter: if e.source.component.is_empty() {
                e.reporting_component
            } else {
                e.source.component
            },
        }
    }
}

/// The objects whose Events belong to a stage (or a chain).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subjects {
    /// Kustomizations and sources, by kind, namespace and name.
    pub objects: BTreeSet<Regarding>,
    /// Jobs by namespace and name: their pods are theirs too.
    pub jobs: BTreeSet<(String, String)>,
    /// Pods known by name (listed, or named by a Job's `SuccessfulCreate`).
    pub pods: BTreeSet<(String, String)>,
}

impl Subjects {
    /// The namespaces whose Events hold them.
    pub fn namespaces(&self) -> BTreeSet<String> {
        self.objects
            .iter()
            .map(|o| o.namespace.clone())
            .chain(self.jobs.iter().map(|(ns, _)| ns.clone()))
            .chain(self.pods.iter().map(|(ns, _)| ns.clone()))
            .filter(|ns| !ns.is_empty())
            .collect()
    }

    /// Whether this Event is about one of them. A pod counts when it is
    /// known, or when its name is one the Job controller gives a pod of a
    /// stage's Job (`<job>-<5 characters>`, `<job>-<index>-<5>` when
    /// indexed): its pods' Events outlive the pods.
    pub fn covers(&self, e: &Occurrence) -> bool {
        let o = &e.object;
        let ns = if o.namespace.is_empty() {
            &e.namespace
        } else {
            &o.namespace
        };
        match o.kind.as_str() {
            "Job" => self.jobs.contains(&(ns.clone(), o.name.clone())),
            "Pod" => {
                self.pods.contains(&(ns.clone(), o.name.clone()))
                    || self
                        .jobs
                        .iter()
                        .any(|(jns, job)| jns == ns && is_pod_name_of(job, &o.name))
            }
            _ => self.objects.contains(&Regarding {
                kind: o.kind.clone(),
                namespace: ns.clone(),
                name: o.name.clone(),
            }),
        }
    }

    /// Learns the pods a Job's `SuccessfulCreate` Events name ("Created pod: NAME").
    pub fn learn(&mut self, e: &Occurrence) {
        if e.object.kind == "Job"
            && e.reason == "SuccessfulCreate"
            && self.covers(e)
            && let Some(pod) = e.message.strip_prefix("Created pod: ")
        {
            self.pods
                .insert((e.namespace.clone(), pod.trim().to_string()));
        }
    }
}

/// `<job>-<5 lowercase alphanumerics>`, or `<job>-<index>-<5>`.
fn is_pod_name_of(job: &str, pod: &str) -> bool {
    let Some(rest) = pod.strip_prefix(job).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let suffix = |s: &str| {
        s.len() == 5
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    match rest.split_once('-') {
        None => suffix(rest),
        Some((index, s)) => {
            !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()) && suffix(s)
        }
    }
}

/// Orders Events as `kubectl events` does: by when they were last seen,
/// oldest first. Within one second (what core `v1` timestamps resolve), an
/// owner's Event comes before its children's (the Job's "Created pod"
/// before that pod's "Scheduled"), then by first seen and name, so the order
/// is stable.
pub fn order(events: &mut [Occurrence]) {
    let time = |t: &Option<String>| t.as_deref().and_then(|s| s.parse::<jiff::Timestamp>().ok());
    let rank = |e: &Occurrence| match e.object.kind.as_str() {
        "Job" => 1,
        "Pod" => 2,
        _ => 0,
    };
    events.sort_by(|a, b| {
        time(&a.last_seen)
            .cmp(&time(&b.last_seen))
            .then_with(|| rank(a).cmp(&rank(b)))
            .then_with(|| time(&a.first_seen).cmp(&time(&b.first_seen)))
            .then_with(|| a.namespace.cmp(&b.namespace))
            .then_with(|| a.name.cmp(&b.name))
    });
}

/// The stage's Events, filtered and in time order.
pub fn select(subjects: &mut Subjects, events: Vec<Occurrence>) -> Vec<Occurrence> {
    // Pods named by the Job first, wherever their Events sort.
    for e in &events {
        subjects.learn(e);
    }
    let mut kept: Vec<Occurrence> = events.into_iter().filter(|e| subjects.covers(e)).collect();
    order(&mut kept);
    kept
}

/// `events -o json|yaml`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventsReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// The stages whose Events these are, `namespace/name`.
    pub stages: Vec<String>,
    /// The Event API they were read from (`events.k8s.io/v1` or `v1`).
    pub api: String,
    pub events: Vec<Occurrence>,
    /// What could not be read (a namespace whose Events are forbidden).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl EventsReport {
    pub fn new(
        stages: Vec<String>,
        api: String,
        events: Vec<Occurrence>,
        warnings: Vec<String>,
    ) -> Self {
        EventsReport {
            api_version: API_VERSION,
            kind: "EventsReport",
            stages,
            api,
            events,
            warnings,
        }
    }
}

#[cfg(test)]
mod tests;
