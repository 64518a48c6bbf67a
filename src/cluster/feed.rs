//! Watches of a few objects (`logs -f`: a Job and its pods; `events -w`: the
//! Events of some namespaces), as one stream of changed objects. The same
//! rules as the chains' watch: 401 ends the command, a 403 or 404 ends the
//! feed (said, not fatal: the caller decides), any other failure is
//! narrated, retried with the same backoff, and given up after
//! [`WATCH_GIVE_UP`](super::watch::WATCH_GIVE_UP).

use std::pin::Pin;

use futures::{Stream, StreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use super::error::{Where, root_cause};
use super::list::Resource;
use super::watch::{WATCH_GIVE_UP, WatchBackoff, api_resource, status_of};
use super::{Cluster, ClusterError};

/// What to watch: a resource in a namespace, optionally by selectors.
#[derive(Debug, Clone)]
pub(crate) struct Watched {
    pub resource: Resource,
    pub namespace: String,
    pub labels: Option<String>,
    pub fields: Option<String>,
}

/// A change to one watched object.
#[derive(Debug, Clone)]
pub enum Change {
    /// Created, updated, or listed when the watch (re)started.
    Applied {
        feed: usize,
        object: serde_json::Value,
    },
    Deleted {
        feed: usize,
        object: serde_json::Value,
    },
    /// This feed cannot be read (403, or not served): it ends, and why.
    Ended { feed: usize, why: String },
}

type Tagged = (usize, Result<Event<DynamicObject>, watcher::Error>);

/// The merged watches.
pub struct Feed {
    stream: Pin<Box<dyn Stream<Item = Tagged> + Send>>,
    subjects: Vec<Watched>,
    failing_since: Option<tokio::time::Instant>,
    failures: u32,
    server: String,
    narrator: crate::narrate::Narrator,
    /// Changes of one watcher event (a re-list yields many).
    pending: std::collections::VecDeque<Change>,
    ended: Vec<bool>,
}

impl Cluster {
    pub(crate) fn feed(&self, subjects: Vec<Watched>) -> Feed {
        let streams: Vec<_> = subjects
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let ar = api_resource(s.resource);
                let api: Api<DynamicObject> =
                    Api::namespaced_with(self.client.clone(), &s.namespace, &ar);
                let mut config = watcher::Config::default();
                if let Some(l) = &s.labels {
                    config = config.labels(l);
                }
                if let Some(f) = &s.fields {
                    config = config.fields(f);
                }
                watcher::watcher(api, config)
                    .backoff(WatchBackoff::default())
                    .map(move |e| (i, e))
                    .boxed()
            })
            .collect();
        Feed {
            stream: Box::pin(futures::stream::select_all(streams)),
            ended: vec![false; subjects.len()],
            subjects,
            failing_since: None,
            failures: 0,
            server: self.server.clone(),
            narrator: self.narrator.clone(),
            pending: Default::default(),
        }
    }
}

fn value(o: DynamicObject) -> serde_json::Value {
    serde_json::to_value(o).unwrap_or_default()
}

impl Feed {
    /// The next change; `None` when every feed has ended.
    pub async fn next(&mut self) -> Result<Option<Change>, ClusterError> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Ok(Some(c));
            }
            if self.ended.iter().all(|e| *e) {
                return Ok(None);
            }
            let Some((i, event)) = self.stream.next().await else {
                return Ok(None);
            };
            if self.ended[i] {
                continue;
            }
            match event {
                Ok(e) => {
                    self.failing_since = None;
                    self.failures = 0;
                    match e {
                        Event::Apply(o) | Event::InitApply(o) => {
                            self.pending.push_back(Change::Applied {
                                feed: i,
                                object: value(o),
                            })
                        }
                        Event::Delete(o) => self.pending.push_back(Change::Deleted {
                            feed: i,
                            object: value(o),
                        }),
                        Event::InitDone => {
                            let w = &self.subjects[i];
                            tracing::debug!(
                                "watching {}",
                                Where {
                                    plural: w.resource.plural,
                                    namespace: Some(&w.namespace),
                                }
                            );
                        }
                        Event::Init => {}
                    }
                }
                Err(e) => {
                    if let Some(change) = self.failed(i, e)? {
                        self.ended[i] = true;
                        return Ok(Some(change));
                    }
                }
            }
        }
    }

    /// A watch error: fatal, the end of this feed, or retried (said).
    fn failed(&mut self, i: usize, e: watcher::Error) -> Result<Option<Change>, ClusterError> {
        let status = status_of(&e);
        let s = &self.subjects[i];
        let here = Where {
            plural: s.resource.plural,
            namespace: Some(&s.namespace),
        };
        match status.as_ref().map(|s| s.code) {
            Some(410) => Ok(None),
            Some(401) => Err(ClusterError::Unauthorized {
                server: self.server.clone(),
            }),
            Some(code @ (403 | 404)) => Ok(Some(Change::Ended {
                feed: i,
                why: format!(
                    "cannot watch {here} ({code}: {})",
                    status.map(|s| s.message).unwrap_or_default()
                ),
            })),
            _ => {
                self.failures += 1;
                let detail = match status {
                    Some(s) => format!("{} {}: {}", s.code, s.reason, s.message),
                    None => root_cause(&e),
                };
                let since = *self
                    .failing_since
                    .get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= WATCH_GIVE_UP {
                    return Err(ClusterError::WatchFailed {
                        what: here.to_string(),
                        failures: self.failures,
                        seconds: since.elapsed().as_secs(),
                        detail,
                    });
                }
                self.narrator.say(crate::events::Event::WatchRetrying {
                    watch: here.to_string(),
                    error: detail,
                    attempt: self.failures,
                    failing_seconds: since.elapsed().as_secs(),
                    give_up_seconds: WATCH_GIVE_UP.as_secs(),
                });
                Ok(None)
            }
        }
    }
}
