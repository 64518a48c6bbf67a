//! `events NAME`: the Events of a stage (or, `--for-chain`, of every stage
//! of its chain) — its Kustomization, its source, its Jobs and their pods —
//! merged in time order; `-w` adds them as they come.

use crate::cluster::{Change, Cluster, EventApi, Feed, Scope};
use crate::error::AppError;
use crate::model::{Key, Selection, analyze};
use crate::timeline::{EventsReport, Occurrence, Regarding, Subjects, select};

/// What to read.
#[derive(Debug, Clone)]
pub struct Request {
    pub namespace: String,
    pub name: String,
    pub for_chain: bool,
}

/// What was read, and what `-w` goes on from.
pub struct Found {
    pub report: EventsReport,
    pub subjects: Subjects,
    pub api: EventApi,
    /// The namespaces whose Events could be read.
    pub namespaces: Vec<String>,
}

/// The objects of the stage (or of its chain) whose Events are wanted.
fn subjects(
    snap: &crate::model::Snapshot,
    req: &Request,
) -> Result<(Vec<String>, Subjects), AppError> {
    let ks = crate::model::find(snap, &req.namespace, &req.name)
        .map_err(|e| AppError::unselectable(e, "its Events can still be read"))?;
    let stages: Vec<Key> = if req.for_chain {
        let selection = Selection {
            namespaces: None,
            names: vec![ks.key()],
        };
        analyze(snap, &selection)
            .chains
            .iter()
            .filter(|c| c.stages.iter().any(|s| s.key() == ks.key().to_string()))
            .flat_map(|c| &c.stages)
            .map(|s| Key::new(s.namespace.clone(), s.name.clone()))
            .collect()
    } else {
        vec![ks.key()]
    };
    let mut subjects = Subjects::default();
    for key in &stages {
        let Some(k) = snap.kustomization(&key.namespace, &key.name) else {
            continue;
        };
        subjects.objects.insert(Regarding {
            kind: "Kustomization".into(),
            namespace: key.namespace.to_string(),
            name: key.name.to_string(),
        });
        let source = k.source_key();
        subjects.objects.insert(Regarding {
            kind: source.kind.to_string(),
            namespace: source.key.namespace.to_string(),
            name: source.key.name.to_string(),
        });
        for j in k.inventory_jobs() {
            subjects
                .jobs
                .insert((j.namespace.to_string(), j.name.to_string()));
        }
    }
    Ok((stages.iter().map(Key::to_string).collect(), subjects))
}

/// Reads the Events once. A namespace whose Events cannot be read is a
/// warning in the report, not the end of the command.
pub async fn read(cluster: &Cluster, req: &Request) -> Result<Found, AppError> {
    let snap = cluster
        .snapshot(&Scope::Namespace(req.namespace.clone()))
        .await?;
    let (stages, mut subjects) = subjects(&snap, req)?;
    let wanted: Vec<String> = subjects
        .namespaces()
        .into_iter()
        .filter(|ns| crate::model::flux::is_namespace_name(ns))
        .collect();
    let (api, lists) = cluster.events(wanted).await;
    let mut all: Vec<Occurrence> = vec![];
    let mut warnings = vec![];
    let mut namespaces = vec![];
    for (ns, listed) in lists {
        match listed {
            Ok(events) => {
                all.extend(events);
                namespaces.push(ns);
            }
            Err(e) if e.is_forbidden() || e.is_not_found() => warnings.push(format!(
                "the Events in namespace {ns} could not be read: {e}"
            )),
            Err(e) => return Err(e.into()),
        }
    }
    let events = select(&mut subjects, all);
    Ok(Found {
        report: EventsReport::new(stages, api.as_str().into(), events, warnings),
        subjects,
        api,
        namespaces,
    })
}

/// `-w`: the Events that change after `found`, one by one.
pub struct Follow {
    feed: Feed,
    api: EventApi,
    subjects: Subjects,
    namespaces: Vec<String>,
    /// What was shown, so a watch's initial list repeats nothing.
    seen: std::collections::HashSet<(String, String, i64, Option<String>)>,
}

fn seen_key(e: &Occurrence) -> (String, String, i64, Option<String>) {
    (
        e.namespace.clone(),
        e.name.clone(),
        e.count,
        e.last_seen.clone(),
    )
}

impl Follow {
    pub fn start(cluster: &Cluster, found: &Found) -> Follow {
        Follow {
            feed: cluster.event_feed(found.api, &found.namespaces),
            api: found.api,
            subjects: found.subjects.clone(),
            namespaces: found.namespaces.clone(),
            seen: found.report.events.iter().map(seen_key).collect(),
        }
    }

    /// The next new or updated Event of the stage; `Err(text)` of a
    /// namespace whose watch ended (said, not fatal); `None` when none is left.
    pub async fn next(&mut self) -> Result<Option<Result<Occurrence, String>>, AppError> {
        loop {
            match self.feed.next().await? {
                Some(Change::Applied { object, .. }) => {
                    let Some(e) = self.api.decode(object) else {
                        continue;
                    };
                    self.subjects.learn(&e);
                    if self.subjects.covers(&e) && self.seen.insert(seen_key(&e)) {
                        return Ok(Some(Ok(e)));
                    }
                }
                Some(Change::Deleted { .. }) => {}
                Some(Change::Ended { feed, why }) => {
                    let ns = self.namespaces.get(feed).cloned().unwrap_or_default();
                    return Ok(Some(Err(format!(
                        "{why}: the Events of namespace {ns} are no longer followed"
                    ))));
                }
                None => return Ok(None),
            }
        }
    }
}
