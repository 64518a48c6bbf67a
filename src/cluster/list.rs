//! Reading a [`Snapshot`]: paginated LISTs decoded item by item into the
//! model's lean types (only the fields jobgate needs; an object that does not
//! decode is reported, not fatal), scoped to the namespaces the chains touch,
//! run concurrently with a bound. The number of requests depends on the
//! namespaces involved, never on the number of objects.

use std::collections::BTreeSet;
use std::time::Instant;

use futures::StreamExt;
use kube::api::ListParams;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::error::Where;
use super::{Cluster, ClusterError, Scope};
use crate::model::flux::Meta;
use crate::model::{Job, Kustomization, Snapshot, Source};

/// A served resource, by its REST coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Items per page: large pages keep round trips few on big clusters.
const PAGE: u32 = 5000;
/// Concurrent LISTs at most.
const FAN_OUT: usize = 6;

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

#[derive(Deserialize)]
struct RawList<'a> {
    #[serde(default)]
    metadata: ListMeta,
    #[serde(borrow, default)]
    items: Vec<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "continue", default)]
    continue_: Option<String>,
}

#[derive(Deserialize)]
struct NameOnly {
    #[serde(default)]
    metadata: Meta,
}

/// The outcome of listing one resource in one namespace.
type Listing<T> = Result<Listed<T>, ClusterError>;

/// A list's decodable items, and a sentence for each that was not.
struct Listed<T> {
    items: Vec<T>,
    undecodable: Vec<String>,
}

impl Cluster {
    /// All pages of one resource in one namespace (or all).
    async fn list<T: DeserializeOwned>(
        &self,
        res: Resource,
        namespace: Option<&str>,
    ) -> Result<Listed<T>, ClusterError> {
        let started = Instant::now();
        let request = kube::core::Request::new(res.path(namespace));
        let mut listed = Listed {
            items: vec![],
            undecodable: vec![],
        };
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut params = ListParams::default().limit(PAGE);
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let http = request
                .list(&params)
                .map_err(|e| ClusterError::Decode(e.to_string()))?;
            let text = self
                .client
                .request_text(http)
                .await
                .map_err(|e| ClusterError::from_kube(e, &self.server))?;
            let page: RawList<'_> = serde_json::from_str(&text).map_err(|e| {
                ClusterError::Decode(format!(
                    "{}: {e}",
                    Where {
                        plural: res.plural,
                        namespace
                    }
                ))
            })?;
            for raw in page.items {
                match serde_json::from_str::<T>(raw.get()) {
                    Ok(item) => listed.items.push(item),
                    Err(e) => {
                        let meta = serde_json::from_str::<NameOnly>(raw.get())
                            .map(|n| n.metadata)
                            .unwrap_or_default();
                        listed.undecodable.push(format!(
                            "skipped {} {}/{}: {e}",
                            res.kind, meta.namespace, meta.name
                        ));
                    }
                }
            }
            pages += 1;
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        self.log(
            started,
            &format!(
                "listed {} ({} items, {pages} page(s))",
                Where {
                    plural: res.plural,
                    namespace
                },
                listed.items.len()
            ),
        );
        Ok(listed)
    }

    /// The objects of the chains in `scope`, plus those they reach in other namespaces.
    pub async fn snapshot(&self, scope: &Scope) -> Result<Snapshot, ClusterError> {
        let mut snap = Snapshot::default();
        let namespaces: Vec<Option<String>> = match scope {
            Scope::All => vec![None],
            Scope::Namespace(ns) => vec![Some(ns.clone())],
        };
        let (ks, gaps) = self.kustomizations(&namespaces, true).await?;
        let mut ks_namespaces: BTreeSet<Option<String>> = namespaces.iter().cloned().collect();
        snap.gaps.extend(gaps);
        snap.kustomizations = ks;
        // Dependencies in other namespaces, until closed (a round per namespace depth, not per object).
        if let Scope::Namespace(_) = scope {
            loop {
                let wanted: BTreeSet<Option<String>> = snap
                    .kustomizations
                    .iter()
                    .flat_map(|k| k.dependencies())
                    .map(|(ns, _)| Some(ns))
                    .filter(|ns| !ks_namespaces.contains(ns))
                    .collect();
                if wanted.is_empty() {
                    break;
                }
                let wanted: Vec<Option<String>> = wanted.into_iter().collect();
                let (more, gaps) = self.kustomizations(&wanted, false).await?;
                ks_namespaces.extend(wanted);
                snap.kustomizations.extend(more);
                snap.gaps.extend(gaps);
            }
        }
        let (job_namespaces, source_namespaces, kinds) = match scope {
            Scope::All => (vec![None], vec![None], source_kinds(&snap.kustomizations)),
            Scope::Namespace(_) => {
                let jobs: BTreeSet<String> = snap
                    .kustomizations
                    .iter()
                    .flat_map(|k| k.inventory_jobs())
                    .map(|r| r.namespace)
                    .collect();
                let sources: BTreeSet<String> = snap
                    .kustomizations
                    .iter()
                    .map(|k| k.source_key().1)
                    .collect();
                (
                    jobs.into_iter().map(Some).collect(),
                    sources.into_iter().map(Some).collect(),
                    source_kinds(&snap.kustomizations),
                )
            }
        };
        let jobs = futures::stream::iter(job_namespaces.clone())
            .map(|ns| async move { (ns.clone(), self.list::<Job>(JOBS, ns.as_deref()).await) })
            .buffer_unordered(FAN_OUT)
            .collect::<Vec<_>>();
        let sources = futures::stream::iter(
            source_namespaces
                .iter()
                .flat_map(|ns| kinds.iter().map(move |k| (ns.clone(), *k))),
        )
        .map(|(ns, res)| async move {
            (
                ns.clone(),
                res,
                self.list::<Source>(res, ns.as_deref()).await,
            )
        })
        .buffer_unordered(FAN_OUT)
        .collect::<Vec<_>>();
        let (jobs, sources) = futures::join!(jobs, sources);
        for (ns, result) in jobs {
            match result {
                Ok(listed) => {
                    snap.jobs.extend(listed.items);
                    snap.gaps.extend(listed.undecodable);
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
        for (ns, res, result) in sources {
            match result {
                Ok(listed) => {
                    snap.sources.extend(listed.items.into_iter().map(|mut s| {
                        s.kind = res.kind.to_string();
                        s
                    }));
                    snap.gaps.extend(listed.undecodable);
                }
                // A source kind whose CRD is not installed has no objects.
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
        Ok(snap)
    }

    /// Kustomizations of some namespaces. The CRD missing is fatal; a denial
    /// is fatal when these are the namespaces asked for (`required`), and a
    /// reported gap when they are only reached through dependencies.
    async fn kustomizations(
        &self,
        namespaces: &[Option<String>],
        required: bool,
    ) -> Result<(Vec<Kustomization>, Vec<String>), ClusterError> {
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
        for (ns, result) in results {
            match result {
                Ok(listed) => {
                    items.extend(listed.items);
                    gaps.extend(listed.undecodable);
                }
                Err(e) if e.is_not_found() => {
                    return Err(ClusterError::CrdMissing {
                        server: self.server.clone(),
                    });
                }
                Err(e) if e.is_forbidden() && !required => gaps.push(format!(
                    "cannot list {}: {e}",
                    Where {
                        plural: "kustomizations",
                        namespace: ns.as_deref()
                    }
                )),
                Err(e) => return Err(e),
            }
        }
        Ok((items, gaps))
    }
}

/// The source kinds the Kustomizations reference (unknown kinds are not listed).
fn source_kinds(ks: &[Kustomization]) -> Vec<Resource> {
    let kinds: BTreeSet<&str> = ks.iter().map(|k| k.spec.source_ref.kind.as_str()).collect();
    SOURCES
        .into_iter()
        .filter(|r| kinds.contains(r.kind))
        .collect()
}
