//! The client, built from the kubeconfig exactly as kubectl would: `--kubeconfig`,
//! or `KUBECONFIG` (a merged list, first value wins), or `~/.kube/config`;
//! `--context/--cluster/--user` overrides; impersonation; exec credential
//! plugins. Never a silent in-cluster fallback.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};

use super::list::ListMode;
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
    /// Objects per list page (`--chunk-size`); 0: one list each.
    pub chunk_size: u32,
}

fn describe(e: KubeconfigError, options: &KubeOptions) -> ClusterError {
    let msg = match &e {
        KubeconfigError::FindPath => {
            "no kubeconfig found: set KUBECONFIG or pass --kubeconfig (jobgate does not fall back to in-cluster credentials)".to_string()
        }
        KubeconfigError::ReadConfig(io, path)
            if io.kind() == std::io::ErrorKind::NotFound && options.kubeconfig.is_some() =>
        {
            format!("no kubeconfig at {}: check the path given to --kubeconfig", path.display())
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

/// One kubeconfig file; an error names the file.
fn read_file(path: &std::path::Path, options: &KubeOptions) -> Result<Kubeconfig, ClusterError> {
    Kubeconfig::read_from(path).map_err(|e| match e {
        KubeconfigError::Parse(e) => ClusterError::Kubeconfig(format!(
            "cannot parse the kubeconfig {}: {e}",
            path.display()
        )),
        e => describe(e, options),
    })
}

/// The kubeconfig as kubectl reads it: `--kubeconfig`; or every file
/// `KUBECONFIG` lists that exists, merged in order (a missing one is
/// skipped, as kubectl skips it); or `~/.kube/config`.
fn read_kubeconfig(options: &KubeOptions) -> Result<Kubeconfig, ClusterError> {
    if let Some(path) = &options.kubeconfig {
        return read_file(path, options);
    }
    let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) else {
        return Kubeconfig::read().map_err(|e| describe(e, options));
    };
    let listed: Vec<PathBuf> = std::env::split_paths(&value)
        .filter(|p| !p.as_os_str().is_empty())
        .collect();
    let present: Vec<&PathBuf> = listed.iter().filter(|p| p.exists()).collect();
    if present.is_empty() {
        let names: Vec<String> = listed.iter().map(|p| p.display().to_string()).collect();
        return Err(ClusterError::Kubeconfig(format!(
            "none of the files KUBECONFIG lists exists ({}): point KUBECONFIG at your kubeconfig, or pass --kubeconfig",
            names.join(", ")
        )));
    }
    let mut merged = Kubeconfig::default();
    for path in present {
        merged = merged
            .merge(read_file(path, options)?)
            .map_err(|e| describe(e, options))?;
    }
    Ok(merged)
}

/// `--context`, `--cluster` and `--user` must name entries of the kubeconfig
/// (kubectl's words when they do not), before anything is sent.
fn check_names(kubeconfig: &Kubeconfig, options: &KubeOptions) -> Result<(), ClusterError> {
    if let Some(user) = &options.user
        && !kubeconfig.auth_infos.iter().any(|a| a.name == *user)
    {
        return Err(ClusterError::Kubeconfig(format!(
            "auth info \"{user}\" does not exist in the kubeconfig: see `kubectl config get-users`"
        )));
    }
    if let Some(cluster) = &options.cluster
        && !kubeconfig.clusters.iter().any(|c| c.name == *cluster)
    {
        return Err(ClusterError::Kubeconfig(format!(
            "cluster \"{cluster}\" does not exist in the kubeconfig: see `kubectl config get-clusters`"
        )));
    }
    Ok(())
}

pub(super) async fn connect(
    options: &KubeOptions,
    narrator: crate::narrate::Narrator,
) -> Result<Cluster, ClusterError> {
    let kubeconfig = read_kubeconfig(options)?;
    check_names(&kubeconfig, options)?;
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
    // Named in the apiserver's audit log, as kubectl is.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("kubectl-jobgate/", env!("CARGO_PKG_VERSION"))),
    ));
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
        narrator,
        list_mode: match options.chunk_size {
            0 => ListMode::Whole,
            n => ListMode::Paged(n),
        },
    })
}
