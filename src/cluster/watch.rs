//! `status --watch`: kube-runtime watchers (re-list on 410, backoff on
//! errors) over the resources and namespaces of the first snapshot, merged
//! into one stream. Callers receive whole [`Snapshot`]s, never watch events.

use std::collections::BTreeMap;
use std::pin::Pin;

use futures::{FutureExt, Stream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use super::list::{JOBS, KUSTOMIZATIONS, Resource, SOURCES};
use super::{Cluster, Scope};
use crate::model::{Job, Kustomization, Snapshot, Source};

type Key = (String, String);
type Tagged = (usize, Result<Event<DynamicObject>, watcher::Error>);

/// What one watcher tracks.
struct Feed {
    resource: Resource,
    /// Objects by namespace/name, decoded once, when their event arrived.
    objects: BTreeMap<Key, Item>,
    /// Objects of an ongoing re-list, swapped in at `InitDone`.
    relisting: Option<BTreeMap<Key, Item>>,
    synced: bool,
}

/// A live view of the cluster's chains; it widens itself when they reach new namespaces.
pub struct Watch {
    client: kube::Client,
    scope: Scope,
    /// The resources and namespaces watched.
    plan: Vec<(Resource, Option<String>)>,
    feeds: Vec<Feed>,
    events: Events,
    gaps: Vec<String>,
    unreadable_job_namespaces: Vec<String>,
    unreadable_kustomization_namespaces: Vec<String>,
}

fn api_resource(r: Resource) -> ApiResource {
    ApiResource {
        group: r.group.into(),
        version: r.version.into(),
        api_version: if r.group.is_empty() {
            r.version.into()
        } else {
            format!("{}/{}", r.group, r.version)
        },
        kind: r.kind.into(),
        plural: r.plural.into(),
    }
}

impl Cluster {
    /// Watches what `first` was read from; `first` is the state to start from.
    pub fn watch(&self, scope: &Scope, first: &Snapshot) -> Watch {
        let plan = plan(scope, first);
        let (feeds, events) = feeds(&self.client, &plan);
        Watch {
            client: self.client.clone(),
            scope: scope.clone(),
            plan,
            feeds,
            events,
            gaps: first.gaps.clone(),
            unreadable_job_namespaces: first.unreadable_job_namespaces.clone(),
            unreadable_kustomization_namespaces: first.unreadable_kustomization_namespaces.clone(),
        }
    }
}

type Events = Pin<Box<dyn Stream<Item = Tagged> + Send>>;

/// A watcher per planned resource and namespace, merged into one stream.
fn feeds(client: &kube::Client, plan: &[(Resource, Option<String>)]) -> (Vec<Feed>, Events) {
    let mut feeds = vec![];
    let mut streams = vec![];
    for (i, (resource, ns)) in plan.iter().cloned().enumerate() {
        let ar = api_resource(resource);
        let api: Api<DynamicObject> = match &ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        let stream = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .map(move |e| (i, e));
        streams.push(stream.boxed());
        feeds.push(Feed {
            resource,
            objects: BTreeMap::new(),
            relisting: None,
            synced: false,
        });
    }
    (feeds, Box::pin(futures::stream::select_all(streams)))
}

/// What to watch for the chains of `snap`: the namespaces of its
/// Kustomizations and of what they reference (dependencies, inventory Jobs,
/// sources), or everything cluster-wide with `-A`.
fn plan(scope: &Scope, snap: &Snapshot) -> Vec<(Resource, Option<String>)> {
    let namespaces = |items: Vec<String>| -> Vec<Option<String>> {
        match scope {
            Scope::All => vec![None],
            Scope::Namespace(_) => {
                let mut v = items;
                v.sort();
                v.dedup();
                v.into_iter().map(Some).collect()
            }
        }
    };
    let asked = match scope {
        Scope::Namespace(ns) => vec![ns.clone()],
        Scope::All => vec![],
    };
    let mut plan = vec![];
    let ks = &snap.kustomizations;
    let ks_ns = ks
        .iter()
        .map(|k| k.metadata.namespace.clone())
        .chain(ks.iter().flat_map(|k| k.dependencies()).map(|(ns, _)| ns))
        .chain(asked)
        .collect();
    for ns in namespaces(ks_ns) {
        // A namespace the list could not read, the watch cannot either.
        let unreadable = snap
            .unreadable_kustomization_namespaces
            .iter()
            .any(|u| Some(u) == ns.as_ref() || u == "*");
        if !unreadable {
            plan.push((KUSTOMIZATIONS, ns));
        }
    }
    for ns in namespaces(
        ks.iter()
            .flat_map(|k| k.inventory_jobs())
            .map(|r| r.namespace)
            .collect(),
    ) {
        let unreadable = snap
            .unreadable_job_namespaces
            .iter()
            .any(|u| Some(u) == ns.as_ref() || u == "*");
        if !unreadable {
            plan.push((JOBS, ns));
        }
    }
    let refs: Vec<(String, String)> = ks
        .iter()
        .map(|k| k.source_key())
        .map(|(kind, ns, _)| (kind, ns))
        .collect();
    for r in SOURCES
        .iter()
        .filter(|r| refs.iter().any(|(kind, _)| kind == r.kind))
    {
        for ns in namespaces(
            refs.iter()
                .filter(|(kind, _)| kind == r.kind)
                .map(|(_, ns)| ns.clone())
                .collect(),
        ) {
            plan.push((*r, ns));
        }
    }
    plan
}

/// A watched object as the model reads it.
enum Item {
    Kustomization(Kustomization),
    Job(Job),
    Source(Source),
}

fn key_of(obj: &DynamicObject) -> Key {
    (
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

/// Decodes an event's object for a feed of `kind`; `None` when it does not decode.
fn decode(kind: &str, obj: DynamicObject) -> Option<(Key, Item)> {
    let key = key_of(&obj);
    let value = serde_json::to_value(obj).ok()?;
    let item = match kind {
        "Kustomization" => Item::Kustomization(serde_json::from_value(value).ok()?),
        "Job" => Item::Job(serde_json::from_value(value).ok()?),
        kind => {
            let mut source: Source = serde_json::from_value(value).ok()?;
            source.kind = kind.to_string();
            Item::Source(source)
        }
    };
    Some((key, item))
}

impl Watch {
    fn apply(&mut self, (i, event): Tagged) {
        let Some(feed) = self.feeds.get_mut(i) else {
            return;
        };
        // Errors are retried by the watcher's backoff; the view keeps its last state.
        let Ok(event) = event else { return };
        match event {
            Event::Init => feed.relisting = Some(BTreeMap::new()),
            Event::InitApply(obj) => {
                if let (Some(buf), Some((k, item))) =
                    (feed.relisting.as_mut(), decode(feed.resource.kind, obj))
                {
                    buf.insert(k, item);
                }
            }
            Event::InitDone => {
                if let Some(buf) = feed.relisting.take() {
                    feed.objects = buf;
                }
                feed.synced = true;
            }
            Event::Apply(obj) => {
                let key = key_of(&obj);
                match decode(feed.resource.kind, obj) {
                    Some((k, item)) => {
                        feed.objects.insert(k, item);
                    }
                    // An object that no longer decodes is skipped, as a list skips it.
                    None => {
                        feed.objects.remove(&key);
                    }
                }
            }
            Event::Delete(obj) => {
                feed.objects.remove(&key_of(&obj));
            }
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot::default();
        snap.gaps = self.gaps.clone();
        snap.unreadable_job_namespaces = self.unreadable_job_namespaces.clone();
        snap.unreadable_kustomization_namespaces = self.unreadable_kustomization_namespaces.clone();
        for item in self.feeds.iter().flat_map(|f| f.objects.values()) {
            match item {
                Item::Kustomization(k) => snap.kustomizations.push(k.clone()),
                Item::Job(j) => snap.jobs.push(j.clone()),
                Item::Source(src) => snap.sources.push(src.clone()),
            }
        }
        snap
    }

    /// The next state worth showing: once every watcher has synced, then after
    /// each burst of changes. `None` when the watches have ended.
    pub async fn next(&mut self) -> Option<Snapshot> {
        loop {
            let event = self.events.next().await?;
            self.apply(event);
            // Take in what else has already arrived, so a burst renders once.
            while let Some(Some(event)) = self.events.next().now_or_never() {
                self.apply(event);
            }
            if self.feeds.iter().all(|f| f.synced) {
                let snapshot = self.snapshot();
                // The chains reach somewhere new (a cross-namespace dependency, say):
                // watch that too; the next snapshot comes once the new watchers sync.
                let plan = plan(&self.scope, &snapshot);
                if !plan.iter().all(|p| self.plan.contains(p)) {
                    (self.feeds, self.events) = feeds(&self.client, &plan);
                    self.plan = plan;
                }
                return Some(snapshot);
            }
        }
    }
}
