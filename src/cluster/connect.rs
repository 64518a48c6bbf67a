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

/// Which CA the kubeconfig has the server's certificate checked against, in
/// words for an error: the cluster entry's file or inline data, or the
/// system's roots when it names none.
fn trusted_ca(kubeconfig: &Kubeconfig, options: &KubeOptions) -> String {
    let context = options
        .context
        .as_ref()
        .or(kubeconfig.current_context.as_ref());
    let cluster_name = options.cluster.clone().or_else(|| {
        kubeconfig
            .contexts
            .iter()
            .find(|c| Some(&c.name) == context)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
    });
    let Some(name) = cluster_name else {
        return "the CA of the kubeconfig's cluster".into();
    };
    let cluster = kubeconfig
        .clusters
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.cluster.as_ref());
    match cluster {
        Some(c) if c.certificate_authority.is_some() => format!(
            "the CA in {} (certificate-authority of cluster \"{name}\" in your kubeconfig)",
            c.certificate_authority.as_deref().unwrap_or_default()
        ),
        Some(c) if c.certificate_authority_data.is_some() => {
            format!("the certificate-authority-data of cluster \"{name}\" in your kubeconfig")
        }
        _ => format!(
            "any CA this system trusts (cluster \"{name}\" in your kubeconfig names no certificate-authority)"
        ),
    }
}

pub(super) async fn connect(options: &KubeOptions) -> Result<Cluster, ClusterError> {
    let kubeconfig = match &options.kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(|e| describe(e, options))?;
    let ca = trusted_ca(&kubeconfig, options);
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
        ca,
        verbose: options.verbose,
    })
}
