//! Reading a [`Snapshot`]: LISTs (one request each, or `--chunk-size` pages)
//! decoded item by item as their bodies stream in ([`super::stream`]) into the
//! model's lean types (only the fields jobgate needs; an object that does not
//! decode is reported, not fatal), scoped to the namespaces the chains touch,
//! run concurrently with a bound. The number of requests depends on the
//! namespaces involved, never on the number of objects.

use std::collections::BTreeSet;
use std::time::Instant;

use futures::StreamExt;
use http_body_util::BodyExt;
use kube::api::ListParams;
use serde::de::DeserializeOwned;

use super::error::Where;
use super::retry::Verb;
use super::stream::{ListDecoder, ListMeta, Listed, NameOnly};
use super::{Cluster, ClusterError, Scope};
use crate::diagnose::Manifest;
use crate::model::flux::{Undecodable, is_namespace_name};
use crate::model::{Job, Kustomization, Snapshot, Source};

/// A served resource, by its REST coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

pub(crate) const KUSTOMIZATIONS: Resource = Resource {
    group: "kustomize.toolkit.fluxcd.io",
    version: "v1",
    kind: "Kustomization",
    plural: "kustomizations",
};
pub(crate) const JOBS: Resource = Resource {
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
};
pub(crate) const DEPLOYMENTS: Resource = Resource {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
};
pub(crate) const PODS: Resource = Resource {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
};
/// The Event API `events` prefers, and the core one it falls back to.
pub(crate) const EVENTS: Resource = Resource {
    group: "events.k8s.io",
    version: "v1",
    kind: "Event",
    plural: "events",
};
pub(crate) const CORE_EVENTS: Resource = Resource {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
};
pub(crate) const NAMESPACES: Resource = Resource {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
};
pub(crate) const SOURCES: [Resource; 3] = [
    Resource {
        group: "source.toolkit.fluxcd.io",
        version: "v1",
        kind: "GitRepository",
        plural: "gitrepositories",
    },
    Resource {
        group: "source.toolkit.fluxcd.io",
        version: "v1",
        kind: "OCIRepository",
        plural: "ocirepositories",
    },
    Resource {
        group: "source.toolkit.fluxcd.io",
        version: "v1",
        kind: "Bucket",
        plural: "buckets",
    },
];

/// How lists are read. Measured on real kube-apiserver 1.36 with 15,000
/// Kustomizations and 10,000 Jobs (`tests/bench/real`; the README's table):
/// pages of 5,000 take 2.5x as long as one list, since a `continue` page is
/// read from etcd while one list is served from the watch cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ListMode {
    /// One consistent list (no `resourceVersion`, no `limit`): as fresh as a
    /// read from etcd, and since Kubernetes 1.31 (consistent reads from
    /// cache) served from the watch cache. `resourceVersion=0` would be as
    /// fast but may be stale, which a gate cannot take.
    Whole,
    /// `limit`/`continue` pages of this many items (`--chunk-size N`).
    Paged(u32),
}

/// Body chunks read ahead of the decoder, at most.
const CHUNKS_IN_FLIGHT: usize = 8;
/// Concurrent LISTs at most.
pub(super) const FAN_OUT: usize = 6;

impl Resource {
    pub(crate) fn path(&self, namespace: Option<&str>) -> String {
        let prefix = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) => format!("{prefix}/namespaces/{ns}/{}", self.plural),
            None => format!("{prefix}/{}", self.plural),
        }
    }
}

/// Kustomizations listed, gaps, namespaces that could not be read, and
/// Kustomizations that did not decode.
type KustomizationLists = (
    Vec<Kustomization>,
    Vec<String>,
    Vec<String>,
    Vec<Undecodable>,
);

/// The outcome of listing one resource in one namespace.
type Listing<T> = Result<Listed<T>, ClusterError>;

impl Cluster {
    /// One GET of a list, decoded on the blocking pool while its body
    /// streams in ([`ListDecoder`]); retried as [`Cluster::retrying`] says.
    async fn fetch_list<T: DeserializeOwned + Send + 'static>(
        &self,
        request: http::Request<Vec<u8>>,
        what: &str,
    ) -> Result<Result<(Listed<T>, ListMeta), serde_json::Error>, ClusterError> {
        let (parts, body) = request.into_parts();
        let once = || async {
            let mut request = http::Request::new(kube::client::Body::from(body.clone()));
            *request.method_mut() = parts.method.clone();
            *request.uri_mut() = parts.uri.clone();
            *request.headers_mut() = parts.headers.clone();
            let response = self.client.send(request).await?;
            let status = response.status();
            let mut body = response.into_body();
            if !status.is_success() {
                let bytes = body.collect_bytes().await?;
                // Decode the Status as kube does, so errors map alike.
                let mut status_obj = serde_json::from_slice::<kube::core::Status>(&bytes)
                    .unwrap_or_else(|_| {
                        kube::core::Status::failure(
                            &String::from_utf8_lossy(&bytes),
                            status.canonical_reason().unwrap_or(""),
                        )
                    });
                status_obj.code = status.as_u16();
                return Err(kube::Error::Api(Box::new(status_obj)));
            }
            // A few chunks in flight between the socket and the decoder.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(CHUNKS_IN_FLIGHT);
            let decoding = tokio::task::spawn_blocking(move || {
                let mut decoder = ListDecoder::<T>::default();
                while let Some(chunk) = rx.blocking_recv() {
                    decoder.feed(&chunk);
                }
                decoder.finish()
            });
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame?.into_data()
                    && tx.send(data).await.is_err()
                {
                    break;
                }
            }
            drop(tx);
            decoding
                .await
                .map_err(|e| kube::Error::Service(Box::new(e)))
        };
        self.retrying(what, Verb::Read, once)
            .await
            .map_err(|e| self.fail(e))
    }

    /// All pages of one resource in one namespace (or all). Each page is
    /// decoded on the blocking pool while the next one downloads.
    pub(super) async fn list<T: DeserializeOwned + Send + 'static>(
        &self,
        res: Resource,
        namespace: Option<&str>,
    ) -> Result<Listed<T>, ClusterError> {
        self.list_selected(res, namespace, None).await
    }

    /// [`Cluster::list`], of the objects with these labels only.
    pub(super) async fn list_selected<T: DeserializeOwned + Send + 'static>(
        &self,
        res: Resource,
        namespace: Option<&str>,
        labels: Option<&str>,
    ) -> Result<Listed<T>, ClusterError> {
        let started = Instant::now();
        let request = kube::core::Request::new(res.path(namespace));
        let here = || {
            Where {
                plural: res.plural,
                namespace,
            }
            .to_string()
        };
        let mut listed = Listed {
            items: vec![],
            undecodable: vec![],
        };
        let mut pages = 0;
        let mut token: Option<String> = None;
        loop {
            let params = match (&token, self.list_mode) {
                (_, ListMode::Whole) => ListParams::default(),
                (None, ListMode::Paged(limit)) => ListParams::default().limit(limit),
                (Some(t), ListMode::Paged(limit)) => {
                    ListParams::default().limit(limit).continue_token(t)
                }
            };
            let params = match labels {
                Some(l) => params.labels(l),
                None => params,
            };
            let http = request
                .list(&params)
                .map_err(|e| ClusterError::Decode(e.to_string()))?;
            let (page, meta) = self
                .fetch_list::<T>(http, &format!("list {}", here()))
                .await
                .map_err(|e| match namespace {
                    None => e.across_namespaces(),
                    Some(_) => e,
                })?
                .map_err(|e| ClusterError::Decode(format!("{}: {e}", here())))?;
            pages += 1;
            if listed.items.is_empty() {
                listed.items = page.items;
            } else {
                listed.items.extend(page.items);
            }
            listed.undecodable.extend(page.undecodable);
            match meta.continue_.filter(|c| !c.is_empty()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        self.log(
            started,
            &format!(
                "listed {} ({} items, {pages} page(s))",
                here(),
                listed.items.len()
            ),
        );
        Ok(listed)
    }

    /// The objects of the chains in `scope`, plus those they reach in other
    /// namespaces. Round one asks for everything the scope surely needs at
    /// once (usually the only round); later rounds follow dependencies, Jobs
    /// and sources into other namespaces: a round per namespace depth, never
    /// a request per object.
    pub async fn snapshot(&self, scope: &Scope) -> Result<Snapshot, ClusterError> {
        let mut snap = Snapshot::default();
        let here: Option<String> = match scope {
            Scope::All => None,
            Scope::Namespace(ns) => Some(ns.clone()),
        };
        let mut ks_fetched: BTreeSet<Option<String>> = BTreeSet::from([here.clone()]);
        let mut jobs_fetched: BTreeSet<Option<String>> = BTreeSet::from([here.clone()]);
        // Git and OCI repositories are the usual sources: fetched speculatively, in parallel.
        let mut sources_fetched: BTreeSet<(Option<String>, &'static str)> = SOURCES[..2]
            .iter()
            .map(|r| (here.clone(), r.kind))
            .collect();
        // In one namespace, its chains may reach others both ways: a dependency
        // names its namespace, a dependent does not. Kustomizations of every
        // namespace, where the user may list them, find both in one request.
        let everywhere = async {
            match scope {
                Scope::Namespace(_) => Some(self.kustomizations(&[None], false).await),
                Scope::All => None,
            }
        };
        let (ks, jobs, sources, everywhere) = futures::join!(
            self.kustomizations(std::slice::from_ref(&here), true),
            self.jobs(vec![here.clone()]),
            self.sources(SOURCES[..2].iter().map(|r| (here.clone(), *r)).collect()),
            everywhere,
        );
        let (ks, gaps, _, undecodable) = ks?;
        snap.add_kustomizations(ks);
        snap.gaps.extend(gaps);
        snap.undecodable_kustomizations = undecodable;
        merge_jobs(&mut snap, jobs)?;
        merge_sources(&mut snap, sources)?;
        let everywhere = match everywhere {
            Some(Ok((all, _, unreadable, undecodable))) if unreadable.is_empty() => {
                Some((all, undecodable))
            }
            Some(_) => {
                snap.notes.push(
                    "dependents in other namespaces are not shown: listing Kustomizations in all namespaces is not allowed (or failed)"
                        .into(),
                );
                None
            }
            None => None,
        };

        if let Some((all, undecodable)) = everywhere {
            connect_across_namespaces(&mut snap, all, undecodable);
        } else if let Scope::Namespace(_) = scope {
            loop {
                let wanted: Vec<Option<String>> = snap
                    .kustomizations()
                    .iter()
                    .flat_map(|k| k.dependencies())
                    .map(|d| Some(d.namespace.to_string()))
                    .filter(|ns| !ks_fetched.contains(ns))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let (wanted, invalid) = valid_namespaces(wanted);
                ks_fetched.extend(invalid.iter().cloned().map(Some));
                skipped(&mut snap, invalid);
                if wanted.is_empty() {
                    break;
                }
                let (more, gaps, unreadable, undecodable) =
                    self.kustomizations(&wanted, false).await?;
                snap.undecodable_kustomizations.extend(undecodable);
                ks_fetched.extend(wanted);
                snap.add_kustomizations(more);
                snap.gaps.extend(gaps);
                snap.unreadable_kustomization_namespaces.extend(unreadable);
            }
        }
        // Across all namespaces every Job has been listed already, and a
        // source kind is listed once, wherever its objects are.
        let job_namespaces: Vec<Option<String>> = match scope {
            Scope::All => vec![],
            Scope::Namespace(_) => snap
                .kustomizations()
                .iter()
                .flat_map(|k| k.inventory_jobs())
                .map(|r| Some(r.namespace.to_string()))
                .filter(|ns| jobs_fetched.insert(ns.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let (job_namespaces, invalid) = valid_namespaces(job_namespaces);
        skipped(&mut snap, invalid);
        let source_lists: Vec<(Option<String>, Resource)> = snap
            .kustomizations()
            .iter()
            .filter_map(|k| {
                let kind = &k.spec.source_ref.kind;
                let res = SOURCES.iter().find(|r| r.kind == kind)?;
                let ns = match scope {
                    Scope::All => None,
                    Scope::Namespace(_) => Some(k.source_key().key.namespace.to_string()),
                };
                Some((ns, *res))
            })
            .filter(|(ns, r)| sources_fetched.insert((ns.clone(), r.kind)))
            .filter(|(ns, _)| ns.as_deref().is_none_or(is_namespace_name))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !job_namespaces.is_empty() || !source_lists.is_empty() {
            let (jobs, sources) =
                futures::join!(self.jobs(job_namespaces), self.sources(source_lists));
            merge_jobs(&mut snap, jobs)?;
            merge_sources(&mut snap, sources)?;
        }
        Ok(snap)
    }

    /// Kustomization names in scope, `namespace/name` with `-A` (for completion).
    pub async fn kustomization_names(&self, scope: &Scope) -> Result<Vec<String>, ClusterError> {
        let ns = match scope {
            Scope::Namespace(ns) => Some(ns.as_str()),
            Scope::All => None,
        };
        let listed = self.list::<NameOnly>(KUSTOMIZATIONS, ns).await?;
        Ok(listed
            .items
            .into_iter()
            .map(|n| n.metadata.name.into())
            .collect())
    }

    /// The Deployments of some namespaces (`doctor` compares their images
    /// with the Jobs'), each namespace's list or why it could not be read.
    pub async fn deployments(
        &self,
        namespaces: Vec<String>,
    ) -> Vec<(String, Result<Vec<Manifest>, ClusterError>)> {
        futures::stream::iter(namespaces)
            .map(|ns| async move {
                let listed = self.list::<Manifest>(DEPLOYMENTS, Some(&ns)).await;
                let listed = listed.map(|l| {
                    l.items
                        .into_iter()
                        .map(|mut m| {
                            // List items carry no kind of their own.
                            m.api_version = "apps/v1".into();
                            m.kind = DEPLOYMENTS.kind.into();
                            m
                        })
                        .collect()
                });
                (ns, listed)
            })
            .buffer_unordered(FAN_OUT)
            .collect()
            .await
    }

    /// All namespace names (for completion).
    pub async fn namespace_names(&self) -> Result<Vec<String>, ClusterError> {
        let listed = self.list::<NameOnly>(NAMESPACES, None).await?;
        Ok(listed
            .items
            .into_iter()
            .map(|n| n.metadata.name.into())
            .collect())
    }

    async fn jobs(&self, namespaces: Vec<Option<String>>) -> Vec<(Option<String>, Listing<Job>)> {
        futures::stream::iter(namespaces)
            .map(|ns| async move {
                let listed = self.list::<Job>(JOBS, ns.as_deref()).await;
                (ns, listed)
            })
            .buffer_unordered(FAN_OUT)
            .collect()
            .await
    }

    async fn sources(
        &self,
        lists: Vec<(Option<String>, Resource)>,
    ) -> Vec<(Option<String>, Resource, Listing<Source>)> {
        futures::stream::iter(lists)
            .map(|(ns, res)| async move {
                let listed = self.list::<Source>(res, ns.as_deref()).await;
                (ns, res, listed)
            })
            .buffer_unordered(FAN_OUT)
            .collect()
            .await
    }

    /// Kustomizations of some namespaces. The CRD missing is fatal; a denial
    /// is fatal when these are the namespaces asked for (`required`), and a
    /// reported gap when they are only reached through dependencies (returned
    /// with the namespaces that could not be read).
    async fn kustomizations(
        &self,
        namespaces: &[Option<String>],
        required: bool,
    ) -> Result<KustomizationLists, ClusterError> {
        let results: Vec<(Option<String>, Listing<Kustomization>)> =
            futures::stream::iter(namespaces.to_vec())
                .map(|ns| async move {
                    (
                        ns.clone(),
                        self.list::<Kustomization>(KUSTOMIZATIONS, ns.as_deref())
                            .await,
                    )
                })
                .buffer_unordered(FAN_OUT)
                .collect()
                .await;
        let mut items = vec![];
        let mut gaps = vec![];
        let mut unreadable = vec![];
        let mut undecodable = vec![];
        for (ns, result) in results {
            match result {
                Ok(listed) => {
                    // The first list is kept as it came: 15,000 of them
                    // copied cost a page fault a page.
                    if items.is_empty() {
                        items = listed.items;
                    } else {
                        items.extend(listed.items);
                    }
                    gaps.extend(
                        listed
                            .undecodable
                            .iter()
                            .map(|u| skipped_item("Kustomization", u)),
                    );
                    undecodable.extend(listed.undecodable);
                }
                Err(e) if e.is_not_found() => {
                    return Err(ClusterError::CrdMissing {
                        server: self.server.clone(),
                    });
                }
                Err(e) if e.is_forbidden() && !required => {
                    gaps.push(format!(
                        "cannot list {}: {e}",
                        Where {
                            plural: "kustomizations",
                            namespace: ns.as_deref()
                        }
                    ));
                    unreadable.push(ns.unwrap_or_else(|| "*".into()));
                }
                Err(e) => return Err(e),
            }
        }
        Ok((items, gaps, unreadable, undecodable))
    }
}

/// Adds to a one-namespace snapshot the Kustomizations of other namespaces
/// its chains reach, in either direction (dependencies and dependents,
/// transitively), from the list of every namespace.
fn connect_across_namespaces(
    snap: &mut Snapshot,
    all: Vec<Kustomization>,
    undecodable: Vec<Undecodable>,
) {
    use crate::model::Key;
    use std::collections::{BTreeMap, BTreeSet};
    let key = |k: &Kustomization| k.key();
    let mut chosen: BTreeSet<Key> = snap.kustomizations().iter().map(key).collect();
    let by_key: BTreeMap<Key, &Kustomization> = all.iter().map(|k| (key(k), k)).collect();
    let mut dependents: BTreeMap<Key, Vec<Key>> = BTreeMap::new();
    for k in &all {
        for dep in k.dependencies() {
            dependents.entry(dep).or_default().push(key(k));
        }
    }
    let mut queue: Vec<Key> = chosen.iter().cloned().collect();
    let mut added: Vec<Key> = vec![];
    while let Some(k) = queue.pop() {
        let deps = by_key
            .get(&k)
            .map(|ks| ks.dependencies())
            .unwrap_or_default();
        for next in deps
            .into_iter()
            .chain(dependents.get(&k).cloned().unwrap_or_default())
        {
            if by_key.contains_key(&next) && chosen.insert(next.clone()) {
                added.push(next.clone());
                queue.push(next);
            }
        }
    }
    snap.add_kustomizations(
        added
            .iter()
            .filter_map(|k| by_key.get(k).map(|ks| (*ks).clone())),
    );
    let referenced: BTreeSet<Key> = snap
        .kustomizations()
        .iter()
        .flat_map(|k| k.dependencies())
        .collect();
    let have: BTreeSet<Key> = snap
        .undecodable_kustomizations
        .iter()
        .map(|u| Key::new(u.namespace.clone(), u.name.clone()))
        .collect();
    snap.undecodable_kustomizations
        .extend(undecodable.into_iter().filter(|u| {
            let k = Key::new(u.namespace.clone(), u.name.clone());
            referenced.contains(&k) && !have.contains(&k)
        }));
}

/// A gap for an item of a list that did not decode.
fn skipped_item(kind: &str, u: &Undecodable) -> String {
    format!("skipped {kind} {}/{}: {}", u.namespace, u.name, u.error)
}

/// The namespaces that can exist, and the names that cannot (a `dependsOn`
/// or inventory entry with an empty or malformed namespace: it names nothing,
/// and must not reach a request path).
fn valid_namespaces(namespaces: Vec<Option<String>>) -> (Vec<Option<String>>, Vec<String>) {
    let (valid, invalid): (Vec<_>, Vec<_>) = namespaces
        .into_iter()
        .partition(|ns| ns.as_deref().is_none_or(is_namespace_name));
    (valid, invalid.into_iter().flatten().collect())
}

/// Reports references to namespaces that cannot exist, once each.
fn skipped(snap: &mut Snapshot, invalid: Vec<String>) {
    for ns in invalid {
        let gap = format!(
            "a reference to namespace {ns:?} was skipped: it is not a valid namespace name, so nothing lives there"
        );
        if !snap.gaps.contains(&gap) {
            snap.gaps.push(gap);
        }
    }
}

/// Jobs into the snapshot; a namespace whose Jobs are forbidden becomes a gap.
fn merge_jobs(
    snap: &mut Snapshot,
    results: Vec<(Option<String>, Listing<Job>)>,
) -> Result<(), ClusterError> {
    for (ns, result) in results {
        match result {
            Ok(listed) => {
                snap.add_jobs(listed.items);
                snap.gaps
                    .extend(listed.undecodable.iter().map(|u| skipped_item("Job", u)));
            }
            Err(e) if e.is_forbidden() => {
                snap.gaps.push(format!(
                    "cannot list {}: {e}",
                    Where {
                        plural: "jobs",
                        namespace: ns.as_deref()
                    }
                ));
                snap.unreadable_job_namespaces
                    .push(ns.unwrap_or_else(|| "*".into()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sources into the snapshot; a kind whose CRD is not installed has none.
fn merge_sources(
    snap: &mut Snapshot,
    results: Vec<(Option<String>, Resource, Listing<Source>)>,
) -> Result<(), ClusterError> {
    for (ns, res, result) in results {
        match result {
            Ok(listed) => {
                snap.add_sources(listed.items.into_iter().map(|mut s| {
                    s.kind = res.kind.to_string().into();
                    s
                }));
                snap.gaps
                    .extend(listed.undecodable.iter().map(|u| skipped_item(res.kind, u)));
            }
            Err(e) if e.is_not_found() => {}
            Err(e) if e.is_forbidden() => {
                snap.gaps.push(format!(
                    "cannot list {}: {e}",
                    Where {
                        plural: res.plural,
                        namespace: ns.as_deref()
                    }
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
