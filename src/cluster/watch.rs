//! `status --watch`: kube-runtime watchers (re-list on 410, backoff on
//! errors) over the resources and namespaces of the first snapshot, merged
//! into one stream. Callers receive whole [`Snapshot`]s, never watch events.
//!
//! A watch error is never silence: 401 ends the command; a 403 (or a missing
//! Kustomization CRD) where the user asked to look ends it too, naming what
//! was denied; elsewhere the feed becomes a reported gap that no longer holds
//! the sync gate; any other failure is narrated and retried by the watcher's
//! backoff, and a watch that keeps failing for [`WATCH_GIVE_UP`] ends the
//! command (long enough for an apiserver restart; bounded without `--timeout`).

use std::collections::BTreeMap;
use std::pin::Pin;

use futures::{FutureExt, Stream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use super::error::Where;
use super::list::{JOBS, KUSTOMIZATIONS, Resource, SOURCES};
use super::{Cluster, ClusterError, Scope};
use crate::model::flux::{Undecodable, is_namespace_name};
use crate::model::{Job, Kustomization, Snapshot, Source};

use crate::model::Key;
type Tagged = (usize, Result<Event<DynamicObject>, watcher::Error>);

/// What one watcher tracks.
struct Feed {
    resource: Resource,
    /// Objects by namespace/name, decoded once, when their event arrived.
    objects: BTreeMap<Key, Item>,
    /// Objects of an ongoing re-list, swapped in at `InitDone`.
    relisting: Option<BTreeMap<Key, Item>>,
    synced: bool,
    namespace: Option<String>,
    /// Failures since the last event that came through, and when the first was.
    failures: u32,
    failing_since: Option<tokio::time::Instant>,
    last_error: Option<String>,
    /// Unreadable (denied, or not served): its objects stay as last seen.
    gap: bool,
}

/// How long one watch may keep failing before the command ends: longer than
/// a kube-apiserver restart takes under load (measured on the real stack:
/// over 30 s of 503 "not all HTTP paths installed" and 429 "storage is
/// (re)initializing"), and bounded without `--timeout`.
pub const WATCH_GIVE_UP: std::time::Duration = std::time::Duration::from_secs(60);

/// The delays between a failing watch's attempts: 0.5 s doubling to 4 s, so a
/// server back from a restart is seen within seconds (kube-runtime's default
/// grows to 30 s, most of the give-up time).
pub(super) struct WatchBackoff {
    next: std::time::Duration,
}

const FIRST_RETRY: std::time::Duration = std::time::Duration::from_millis(500);
const MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(4);

impl Default for WatchBackoff {
    fn default() -> Self {
        WatchBackoff { next: FIRST_RETRY }
    }
}

impl Iterator for WatchBackoff {
    type Item = std::time::Duration;

    fn next(&mut self) -> Option<Self::Item> {
        let now = self.next;
        self.next = (now * 2).min(MAX_RETRY);
        Some(now)
    }
}

impl kube::runtime::utils::Backoff for WatchBackoff {
    fn reset(&mut self) {
        self.next = FIRST_RETRY;
    }
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
    server: String,
    narrator: crate::narrate::Narrator,
}

/// The apiserver's Status a watch failed with, if it answered one.
pub(super) fn status_of(e: &watcher::Error) -> Option<kube::core::Status> {
    match e {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => Some(s.as_ref().clone()),
        watcher::Error::WatchError(s) => Some(s.as_ref().clone()),
        _ => None,
    }
}

pub(super) fn api_resource(r: Resource) -> ApiResource {
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
            server: self.server.clone(),
            narrator: self.narrator.clone(),
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
            .backoff(WatchBackoff::default())
            .map(move |e| (i, e));
        streams.push(stream.boxed());
        feeds.push(Feed {
            resource,
            objects: BTreeMap::new(),
            relisting: None,
            synced: false,
            namespace: ns,
            failures: 0,
            failing_since: None,
            last_error: None,
            gap: false,
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
                // A malformed reference names nothing (the list reported it).
                v.retain(|ns| is_namespace_name(ns));
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
    let ks = &snap.kustomizations();
    let ks_ns = ks
        .iter()
        .map(|k| k.metadata.namespace.to_string())
        .chain(
            ks.iter()
                .flat_map(|k| k.dependencies())
                .map(|d| d.namespace.to_string()),
        )
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
            .map(|r| r.namespace.to_string())
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
        .map(|s| (s.kind.to_string(), s.key.namespace.to_string()))
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
    /// A Kustomization that does not decode: kept, so it is not taken for missing.
    Undecodable(Undecodable),
    Job(Job),
    Source(Source),
}

fn key_of(obj: &DynamicObject) -> Key {
    Key::new(
        obj.metadata.namespace.clone().unwrap_or_default(),
        obj.metadata.name.clone().unwrap_or_default(),
    )
}

/// Decodes an event's object for a feed of `kind`; `None` when it does not decode.
fn decode(kind: &str, obj: DynamicObject) -> Option<(Key, Item)> {
    let key = key_of(&obj);
    let value = serde_json::to_value(obj).ok()?;
    let item = match kind {
        "Kustomization" => match serde_json::from_value(value) {
            Ok(ks) => Item::Kustomization(ks),
            Err(e) => Item::Undecodable(Undecodable {
                namespace: key.namespace.clone(),
                name: key.name.clone(),
                error: e.to_string(),
            }),
        },
        "Job" => Item::Job(serde_json::from_value(value).ok()?),
        kind => {
            let mut source: Source = serde_json::from_value(value).ok()?;
            source.kind = kind.to_string().into();
            Item::Source(source)
        }
    };
    Some((key, item))
}

impl Watch {
    fn apply(&mut self, (i, event): Tagged) -> Result<(), ClusterError> {
        let Some(feed) = self.feeds.get_mut(i) else {
            return Ok(());
        };
        let event = match event {
            Ok(event) => {
                // `Init` comes before the list is even asked for: only what
                // the server sent proves it answered.
                if !matches!(event, Event::Init) {
                    feed.failures = 0;
                    feed.failing_since = None;
                }
                event
            }
            Err(e) => {
                let asked = match &self.scope {
                    Scope::All => true,
                    Scope::Namespace(ns) => feed.namespace.as_deref() == Some(ns),
                };
                return failed(feed, e, asked, &self.server, &mut self.gaps, &self.narrator);
            }
        };
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
                let here = Where {
                    plural: feed.resource.plural,
                    namespace: feed.namespace.as_deref(),
                };
                tracing::debug!("watching {here} (listed {} items)", feed.objects.len());
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
        Ok(())
    }

    fn snapshot(&self) -> Snapshot {
        let mut snap = Snapshot::default();
        snap.gaps = self.gaps.clone();
        snap.unreadable_job_namespaces = self.unreadable_job_namespaces.clone();
        snap.unreadable_kustomization_namespaces = self.unreadable_kustomization_namespaces.clone();
        let (mut kustomizations, mut jobs, mut sources) = (vec![], vec![], vec![]);
        for item in self.feeds.iter().flat_map(|f| f.objects.values()) {
            match item {
                Item::Kustomization(k) => kustomizations.push(k.clone()),
                Item::Undecodable(u) => snap.undecodable_kustomizations.push(u.clone()),
                Item::Job(j) => jobs.push(j.clone()),
                Item::Source(src) => sources.push(src.clone()),
            }
        }
        snap.add_kustomizations(kustomizations);
        snap.add_jobs(jobs);
        snap.add_sources(sources);
        snap
    }

    /// The next state worth showing: once every watcher has synced, then after
    /// each burst of changes. `None` when the watches have ended.
    pub async fn next(&mut self) -> Result<Option<Snapshot>, ClusterError> {
        loop {
            let give_up = self
                .feeds
                .iter()
                .filter(|f| !f.gap)
                .filter_map(|f| f.failing_since)
                .min()
                .map(|since| since + WATCH_GIVE_UP);
            let event = match give_up {
                Some(at) => tokio::select! {
                    e = self.events.next() => e,
                    _ = tokio::time::sleep_until(at) => return Err(self.given_up()),
                },
                None => self.events.next().await,
            };
            let Some(event) = event else {
                return Ok(None);
            };
            self.apply(event)?;
            // Take in what else has already arrived, so a burst renders once.
            while let Some(Some(event)) = self.events.next().now_or_never() {
                self.apply(event)?;
            }
            if self.feeds.iter().all(|f| f.synced || f.gap) {
                let snapshot = self.snapshot();
                // The chains reach somewhere new (a cross-namespace dependency, say):
                // watch that too; the next snapshot comes once the new watchers sync.
                let plan = plan(&self.scope, &snapshot);
                if !plan.iter().all(|p| self.plan.contains(p)) {
                    (self.feeds, self.events) = feeds(&self.client, &plan);
                    self.plan = plan;
                }
                return Ok(Some(snapshot));
            }
        }
    }
}

impl Watch {
    /// The error of the feed failing longest.
    fn given_up(&self) -> ClusterError {
        let feed = self
            .feeds
            .iter()
            .filter(|f| !f.gap)
            .filter(|f| f.failing_since.is_some())
            .min_by_key(|f| f.failing_since);
        match feed {
            Some(f) => ClusterError::WatchFailed {
                what: Where {
                    plural: f.resource.plural,
                    namespace: f.namespace.as_deref(),
                }
                .to_string(),
                failures: f.failures,
                seconds: WATCH_GIVE_UP.as_secs(),
                detail: f.last_error.clone().unwrap_or_default(),
            },
            None => ClusterError::WatchFailed {
                what: "the cluster".into(),
                failures: 0,
                seconds: WATCH_GIVE_UP.as_secs(),
                detail: String::new(),
            },
        }
    }
}

/// A watcher's error on `feed`: the command's end, a gap, or a narrated retry.
/// `asked`: the feed watches where the user asked to look.
fn failed(
    feed: &mut Feed,
    e: watcher::Error,
    asked: bool,
    server: &str,
    gaps: &mut Vec<String>,
    narrator: &crate::narrate::Narrator,
) -> Result<(), ClusterError> {
    if feed.gap {
        return Ok(());
    }
    let status = status_of(&e);
    let here = Where {
        plural: feed.resource.plural,
        namespace: feed.namespace.as_deref(),
    };
    match status.as_ref().map(|s| s.code) {
        // History compacted: the watcher lists again.
        Some(410) => Ok(()),
        Some(401) => Err(ClusterError::Unauthorized {
            server: server.to_string(),
        }),
        Some(code @ (403 | 404)) => {
            let message = status.map(|s| s.message).unwrap_or_default();
            let kustomizations = feed.resource.kind == "Kustomization";
            if asked && code == 403 {
                return Err(ClusterError::Forbidden {
                    message: format!("cannot watch {here}: {message}"),
                    across_namespaces: feed.namespace.is_none(),
                });
            }
            if asked && kustomizations {
                return Err(ClusterError::CrdMissing {
                    server: server.to_string(),
                });
            }
            let gap = format!("cannot watch {here} ({code}: {message}): shown as last listed");
            narrator.say(crate::events::Event::Warning {
                message: gap.clone(),
            });
            gaps.push(gap);
            feed.gap = true;
            Ok(())
        }
        _ => {
            feed.failures += 1;
            let detail = match status {
                Some(s) => format!("{} {}: {}", s.code, s.reason, s.message),
                None => super::error::root_cause(&e),
            };
            let since = *feed
                .failing_since
                .get_or_insert_with(tokio::time::Instant::now);
            narrator.say(crate::events::Event::WatchRetrying {
                watch: here.to_string(),
                error: detail.clone(),
                attempt: feed.failures,
                failing_seconds: since.elapsed().as_secs(),
                give_up_seconds: WATCH_GIVE_UP.as_secs(),
            });
            feed.last_error = Some(detail);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(resource: Resource, namespace: &str) -> Feed {
        Feed {
            resource,
            objects: BTreeMap::new(),
            relisting: None,
            synced: false,
            namespace: Some(namespace.into()),
            failures: 0,
            failing_since: None,
            last_error: None,
            gap: false,
        }
    }

    fn denied(code: u16) -> watcher::Error {
        let status =
            kube::core::Status::failure("jobs.batch is forbidden", "Forbidden").with_code(code);
        watcher::Error::WatchStartFailed(kube::Error::Api(Box::new(status)))
    }

    /// A 403 on one watch hung every command: the sync gate waited for a feed
    /// that could never sync, and the error was dropped.
    #[test]
    fn a_denied_watch_ends_the_command_where_asked_and_is_a_gap_elsewhere() {
        let silent = crate::narrate::Narrator::silent();
        let mut gaps = vec![];
        let mut asked = feed(JOBS, "apps");
        match failed(
            &mut asked,
            denied(403),
            true,
            "https://x",
            &mut gaps,
            &silent,
        ) {
            Err(ClusterError::Forbidden { message, .. }) => {
                assert_eq!(
                    message,
                    "cannot watch jobs in namespace apps: jobs.batch is forbidden"
                )
            }
            other => panic!("{other:?}"),
        }
        let mut elsewhere = feed(KUSTOMIZATIONS, "infra");
        assert!(
            failed(
                &mut elsewhere,
                denied(403),
                false,
                "https://x",
                &mut gaps,
                &silent
            )
            .is_ok()
        );
        assert!(elsewhere.gap);
        assert_eq!(
            gaps,
            [
                "cannot watch kustomizations in namespace infra (403: jobs.batch is forbidden): shown as last listed"
            ]
        );
        // A gap is not retried into an error, nor counted.
        assert!(
            failed(
                &mut elsewhere,
                denied(500),
                false,
                "https://x",
                &mut gaps,
                &silent
            )
            .is_ok()
        );
        assert_eq!(elsewhere.failures, 0);
        // A 410 is the watcher's to handle (it lists again): not a failure.
        let mut compacted = feed(JOBS, "apps");
        assert!(
            failed(
                &mut compacted,
                denied(410),
                true,
                "https://x",
                &mut gaps,
                &silent
            )
            .is_ok()
        );
        assert_eq!(compacted.failures, 0);
        // Anything else is retried, and counted.
        assert!(
            failed(
                &mut compacted,
                denied(503),
                true,
                "https://x",
                &mut gaps,
                &silent
            )
            .is_ok()
        );
        assert_eq!(compacted.failures, 1);
        assert!(compacted.failing_since.is_some());
    }
}
