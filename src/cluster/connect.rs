//! The client, built from the kubeconfig exactly as kubectl would: `--kubeconfig`,
//! or `KUBECONFIG` (a merged list, first value wins), or `~/.kube/config`;
//! `--context/--cluster/--user` overrides; impersonation; exec credential
//! plugins. Never a silent in-cluster fallback.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use super::{Cluster, ClusterError};

/// How to reach the cluster, resolved from the command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub cluster: Option<String>,
    pub user: Option<String>,
    /// Per request; `None`: kube's defaults (connect 30 s, no read timeout).
    pub request_timeout: Option<Duration>,
    pub impersonate: Option<String>,
    pub impersonate_groups: Vec<String>,
    pub verbose: bool,
}

fn describe(e: KubeconfigError, options: &KubeOptions) -> ClusterError {
    let msg = match &e {
        KubeconfigError::FindPath => {
            "no kubeconfig found: set KUBECONFIG or pass --kubeconfig (jobgate does not fall back to in-cluster credentials)".to_string()
        }
        KubeconfigError::ReadConfig(io, path) if io.kind() == std::io::ErrorKind::NotFound => {
            format!("no kubeconfig at {}: set KUBECONFIG or pass --kubeconfig", path.display())
        }
        KubeconfigError::LoadContext(name) => format!("context \"{name}\" not found in the kubeconfig: see `kubectl config get-contexts`"),
        KubeconfigError::LoadClusterOfContext(name) => format!("cluster \"{name}\" not found in the kubeconfig"),
        KubeconfigError::CurrentContextNotSet if options.context.is_none() => {
            "the kubeconfig has no current context: pass --context or run `kubectl config use-context`".to_string()
        }
        other => format!("cannot load the kubeconfig: {other}"),
    };
    ClusterError::Kubeconfig(msg)
}

pub(super) async fn connect(options: &KubeOptions) -> Result<Cluster, ClusterError> {
    let kubeconfig = match &options.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|e| describe(e, options))?;
    let kco = KubeConfigOptions {
        context: options.context.clone(),
        cluster: options.cluster.clone(),
        user: options.user.clone(),
    };
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &kco)
        .await
        .map_err(|e| describe(e, options))?;
    // Our own retries are bounded and narrated (`retry`); kube's are neither.
    config.default_retry = false;
    if let Some(t) = options.request_timeout {
        config.connect_timeout = Some(t);
        config.read_timeout = Some(t);
        config.write_timeout = Some(t);
    }
    if let Some(user) = &options.impersonate {
        config.auth_info.impersonate = Some(user.clone());
    }
    if !options.impersonate_groups.is_empty() {
        config.auth_info.impersonate_groups = Some(options.impersonate_groups.clone());
    }
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let default_namespace = config.default_namespace.clone();
    let client = kube::Client::try_from(config).map_err(|e| ClusterError::from_kube(e, &server))?;
    Ok(Cluster {
        client,
        default_namespace,
        server,
        verbose: options.verbose,
    })
}
