//! Reading Events: `events.k8s.io/v1` where the cluster serves it, core `v1`
//! otherwise (both hold the same Events), decoded into one shape. One list
//! per namespace, however many objects the Events are about.

use futures::StreamExt;

use super::feed::{Feed, Watched};
use super::list::{CORE_EVENTS, EVENTS, FAN_OUT, Resource};
use super::{Cluster, ClusterError};
use crate::timeline::{CoreEvent, EventV1, Occurrence};

/// Which Event API answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventApi {
    EventsV1,
    CoreV1,
}

impl EventApi {
    pub fn as_str(self) -> &'static str {
        match self {
            EventApi::EventsV1 => "events.k8s.io/v1",
            EventApi::CoreV1 => "v1",
        }
    }

    fn resource(self) -> Resource {
        match self {
            EventApi::EventsV1 => EVENTS,
            EventApi::CoreV1 => CORE_EVENTS,
        }
    }

    /// An Event of this API, as one shape.
    pub fn decode(self, object: serde_json::Value) -> Option<Occurrence> {
        match self {
            EventApi::EventsV1 => serde_json::from_value::<EventV1>(object)
                .ok()
                .map(Into::into),
            EventApi::CoreV1 => serde_json::from_value::<CoreEvent>(object)
                .ok()
                .map(Into::into),
        }
    }
}

/// Each namespace's Events, or why they could not be read.
pub type NamespaceEvents = Vec<(String, Result<Vec<Occurrence>, ClusterError>)>;

impl Cluster {
    /// The Events of these namespaces, and the API they came from.
    pub async fn events(&self, namespaces: Vec<String>) -> (EventApi, NamespaceEvents) {
        let mut api = EventApi::EventsV1;
        let mut lists = self.events_of(api, namespaces.clone()).await;
        // Not served (a 404 for the resource, whatever the namespace): the core API.
        if lists
            .iter()
            .any(|(_, l)| l.as_ref().is_err_and(ClusterError::is_not_found))
        {
            api = EventApi::CoreV1;
            lists = self.events_of(api, namespaces).await;
        }
        (api, lists)
    }

    async fn events_of(&self, api: EventApi, namespaces: Vec<String>) -> NamespaceEvents {
        futures::stream::iter(namespaces)
            .map(|ns| async move {
                let listed = match api {
                    EventApi::EventsV1 => self
                        .list::<EventV1>(api.resource(), Some(&ns))
                        .await
                        .map(|l| l.items.into_iter().map(Into::into).collect()),
                    EventApi::CoreV1 => self
                        .list::<CoreEvent>(api.resource(), Some(&ns))
                        .await
                        .map(|l| l.items.into_iter().map(Into::into).collect()),
                };
                (ns, listed)
            })
            .buffered(FAN_OUT)
            .collect()
            .await
    }

    /// A watch of the Events of these namespaces (feed `i` is `namespaces[i]`).
    pub fn event_feed(&self, api: EventApi, namespaces: &[String]) -> Feed {
        self.feed(
            namespaces
                .iter()
                .map(|ns| Watched {
                    resource: api.resource(),
                    namespace: ns.clone(),
                    labels: None,
                    fields: None,
                })
                .collect(),
        )
    }

    /// A watch of a Job (feed 0, by name) and of its pods (feed 1, by the
    /// name label that found them).
    pub fn job_feed(&self, ns: &str, job: &str, label: &str) -> Feed {
        self.feed(vec![
            Watched {
                resource: super::list::JOBS,
                namespace: ns.to_string(),
                labels: None,
                fields: Some(format!("metadata.name={job}")),
            },
            Watched {
                resource: super::list::PODS,
                namespace: ns.to_string(),
                labels: Some(format!("{label}={job}")),
                fields: None,
            },
        ])
    }
}
