//! The command line, as clap types only. Everything is resolved into
//! [`crate::settings::Settings`] before anything runs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0    success; every shown chain is healthy
  1    a chain, stage or Job failed or is blocked
  2    usage or configuration error (bad flag, unknown name, missing CRD,
       unreachable cluster, forbidden), or part of the view could not be read
  3    timed out (--timeout)
  130  interrupted (Ctrl-C)";

/// See, re-run and wait for the Job-gated Flux Kustomization chains of a cluster.
#[derive(Debug, Parser)]
#[command(name = "kubectl-jobgate", bin_name = "kubectl jobgate", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's connection flags, and the options every command shares.
#[derive(Debug, Args)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The kubeconfig cluster to use.
    #[arg(long, global = true)]
    pub cluster: Option<String>,
    /// The kubeconfig user to use.
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// The namespace (default: the context's namespace, else "default").
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
    /// All namespaces.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// How long one request may take (e.g. 10s, 1m; 0 means no limit).
    #[arg(long, global = true, value_name = "DURATION", default_value = "0")]
    pub request_timeout: String,
    /// Act as this user (impersonation).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Act as this group (impersonation, repeatable).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// When to colour the output (NO_COLOR disables "auto").
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// A limit for the whole command (e.g. 5m); exit code 3 when it expires.
    #[arg(long, global = true, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Log API requests on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show each pre → deploy → post chain with its Jobs, and why anything is blocked.
    ///
    /// Finds the Flux Kustomizations in the namespace (-A: all), builds the
    /// dependsOn graph, and shows every chain of stages in dependency order:
    /// role, readiness, revision, whether it is up to date with its source, its
    /// Jobs, and for a blocked stage the upstream stage and Job at the root.
    #[command(after_help = "Examples:
  kubectl jobgate status -n apps
  kubectl jobgate status app-deploy -n apps -o tree
  kubectl jobgate status -A -o json
  kubectl jobgate status -n apps --watch")]
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show only the chains containing these Kustomizations.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Output format.
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
    /// Omit the header lines of the table.
    #[arg(long)]
    pub no_headers: bool,
    /// Keep the view live, updated from watches (JSON Lines with -o json|yaml).
    #[arg(short, long)]
    pub watch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Wide,
    Tree,
    Json,
    Yaml,
    Mermaid,
    Name,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }
}
