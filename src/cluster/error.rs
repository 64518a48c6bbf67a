//! Cluster failures as sentences: what happened and what to do. A Kubernetes
//! `Status` is turned into its message, never printed raw.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}")]
    Kubeconfig(String),
    #[error(
        "cannot reach the cluster at {server}: {detail}. Check that the cluster is running and that your kubeconfig (or --context) points at it"
    )]
    Unreachable { server: String, detail: String },
    #[error(
        "the API server at {server} did not answer within --request-timeout: it may be overloaded, or the network slow. Raise --request-timeout, or check the server with `kubectl get --raw /readyz`"
    )]
    TimedOut { server: String },
    #[error(
        "cannot verify the API server at {server}: {detail}. Its certificate is not signed by {ca}: if the cluster was recreated or its certificates rotated, get a fresh kubeconfig for it (or correct that CA)"
    )]
    Tls {
        server: String,
        detail: String,
        /// Which CA was trusted, in words (the kubeconfig's file or data, or the system's roots).
        ca: String,
    },
    #[error(
        "the cluster at {server} rejected the credentials (401 Unauthorized): they may have expired. Log in again or refresh your kubeconfig"
    )]
    Unauthorized { server: String },
    #[error("forbidden: {message}. Ask your cluster admin for that permission (examples/rbac.yaml has a role for each command){}", if *.across_namespaces { ", or look in one namespace with -n NAMESPACE" } else { "" })]
    Forbidden {
        message: String,
        /// A list across all namespaces: one namespace may be allowed.
        across_namespaces: bool,
    },
    #[error(
        "Flux Kustomization CRD not found: is Flux installed in this cluster? (no kustomizations.kustomize.toolkit.fluxcd.io/v1 at {server})"
    )]
    CrdMissing { server: String },
    #[error(
        "the API server answered {code} {reason}: {message}. It may be overloaded or restarting: try again, and check its health with `kubectl get --raw /readyz`"
    )]
    Api {
        code: u16,
        reason: String,
        message: String,
    },
    #[error(
        "the watch of {what} kept failing for {seconds}s ({failures} attempts; the last: {detail}): the API server may be overloaded, restarting or gone. Check it with `kubectl get --raw /readyz`, then run the command again"
    )]
    WatchFailed {
        what: String,
        failures: u32,
        seconds: u64,
        detail: String,
    },
    #[error(
        "the API server sent a response jobgate cannot read ({0}). Check that your kubeconfig (or --context) points at a Kubernetes API server"
    )]
    Decode(String),
}

/// A resource and namespace, for messages.
pub(crate) struct Where<'a> {
    pub plural: &'a str,
    pub namespace: Option<&'a str>,
}

impl fmt::Display for Where<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.namespace {
            Some(ns) => write!(f, "{} in namespace {ns}", self.plural),
            None => write!(f, "{} in all namespaces", self.plural),
        }
    }
}

impl ClusterError {
    pub(crate) fn from_kube(e: kube::Error, server: &str) -> Self {
        match e {
            kube::Error::Api(status) => match status.code {
                401 => ClusterError::Unauthorized {
                    server: server.to_string(),
                },
                403 => ClusterError::Forbidden {
                    message: status.message,
                    across_namespaces: false,
                },
                code => ClusterError::Api {
                    code,
                    reason: status.reason,
                    message: status.message,
                },
            },
            kube::Error::SerdeError(e) => ClusterError::Decode(e.to_string()),
            other => match root_cause(&other) {
                // hyper-timeout's words for an expired connect or read timeout.
                d if d == "deadline has elapsed" || d == "timed out" => ClusterError::TimedOut {
                    server: server.to_string(),
                },
                detail => ClusterError::Unreachable {
                    server: server.to_string(),
                    detail,
                },
            },
        }
    }

    /// The error as this cluster's: a certificate failure names the CA trusted.
    pub(crate) fn with_ca(self, ca: &str) -> Self {
        match self {
            ClusterError::Unreachable { server, detail } if is_certificate_error(&detail) => {
                ClusterError::Tls {
                    server,
                    detail,
                    ca: ca.to_string(),
                }
            }
            other => other,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ClusterError::Api { code: 404, .. })
    }

    /// The same error, from a request across all namespaces.
    pub(crate) fn across_namespaces(self) -> Self {
        match self {
            ClusterError::Forbidden { message, .. } => ClusterError::Forbidden {
                message,
                across_namespaces: true,
            },
            other => other,
        }
    }

    pub fn is_forbidden(&self) -> bool {
        matches!(self, ClusterError::Forbidden { .. })
    }
}

/// rustls's words for a certificate it does not accept.
fn is_certificate_error(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    d.contains("certificate") || d.contains("unknownissuer") || d.contains("notvalidforname")
}

/// The innermost cause, which says what actually went wrong (refused, timed out, bad certificate...).
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    let text = cur.to_string();
    if text.is_empty() { e.to_string() } else { text }
}
