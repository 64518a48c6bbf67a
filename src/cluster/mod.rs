//! The only module that talks to the Kubernetes API (and the only one that
//! names `kube::`). It builds the client from the kubeconfig, lists what a
//! view needs with a number of requests that depends on namespaces, never on
//! objects, watches for changes, and turns every failure into a [`ClusterError`].

mod connect;
mod error;
mod events;
mod feed;
mod list;
mod logs;
mod retry;
mod stream;
mod watch;
mod write;

pub use connect::KubeOptions;
pub use error::ClusterError;
pub use events::{EventApi, NamespaceEvents};
pub use feed::{Change, Feed};
pub use logs::{LogRequest, NoLog};
pub use watch::Watch;
pub use write::{Deletion, FIELD_MANAGER};

use std::time::Instant;

use crate::narrate::Narrator;

/// The API versions and kinds jobgate reads and writes (for `version`).
pub const SPOKEN_APIS: &[(&str, &[&str])] = &[
    ("kustomize.toolkit.fluxcd.io/v1", &["Kustomization"]),
    (
        "source.toolkit.fluxcd.io/v1",
        &["GitRepository", "OCIRepository", "Bucket"],
    ),
    ("batch/v1", &["Job"]),
    ("apps/v1", &["Deployment (doctor)"]),
    (
        "v1",
        &[
            "Pod (logs)",
            "Event (events, where events.k8s.io/v1 is not served)",
        ],
    ),
    ("events.k8s.io/v1", &["Event (events)"]),
];

/// Where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

impl Scope {
    /// The one namespace, or `None` for all.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::Namespace(ns) => Some(ns),
            Scope::All => None,
        }
    }
}

/// A connected client.
pub struct Cluster {
    client: kube::Client,
    default_namespace: String,
    server: String,
    /// The CA the server's certificate is checked against, in words.
    ca: String,
    /// Where retries, watch trouble and `-v` are said.
    narrator: Narrator,
    /// How lists are read (`--chunk-size`).
    list_mode: list::ListMode,
}

impl Cluster {
    pub async fn connect(
        options: &KubeOptions,
        narrator: &Narrator,
    ) -> Result<Cluster, ClusterError> {
        connect::connect(options, narrator.clone()).await
    }

    /// The namespace the kubeconfig's context selects (`default` if none).
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    /// A kube error as this cluster's error.
    fn fail(&self, e: kube::Error) -> ClusterError {
        ClusterError::from_kube(e, &self.server).with_ca(&self.ca)
    }

    /// `-v`: a request and what it took.
    fn log(&self, started: Instant, what: &str) {
        tracing::debug!("{what} ({} ms)", started.elapsed().as_millis());
    }
}
