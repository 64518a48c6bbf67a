//! The command line, as clap types only. Everything is resolved into
//! [`crate::settings::Settings`] before anything runs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::duration::parse_duration;
use crate::error::Exit;
use crate::invocation::Invocation;

/// Examples, then the exit codes (from [`Exit`], their one source).
fn after(examples: &str) -> String {
    format!("Examples:\n{examples}\n\n{}", Exit::help())
}

/// The command line as clap reads it, its usage lines and examples naming
/// the command as the user typed it (`flux jobgate` for Flux's plugin).
pub fn command(invocation: Invocation) -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    match invocation {
        Invocation::Kubectl => cmd,
        Invocation::Flux => retold(cmd.bin_name(invocation.command()), invocation).mut_subcommand(
            "completion",
            |c| {
                c.long_about(FLUX_COMPLETION)
                    .after_help(FLUX_COMPLETION_EXAMPLES)
            },
        ),
    }
}

/// `completion`'s help for Flux's plugin: the script is flux-jobgate's, and
/// `flux jobgate <TAB>` is Flux's own completion, which asks the plugin.
const FLUX_COMPLETION: &str = "Print the shell completion script for bash, zsh or fish.

Completes subcommands and flags of `flux-jobgate`. For `flux jobgate <TAB>`, Flux's own \
completion (`flux completion SHELL`) asks the plugin through `flux __complete jobgate`, \
which also completes Kustomization names from the cluster: nothing more to install.";
const FLUX_COMPLETION_EXAMPLES: &str = "Examples:
  source <(flux completion bash)                  # completes flux jobgate too
  source <(flux-jobgate completion bash)
  flux-jobgate completion zsh > \"${fpath[1]}/_flux-jobgate\"
  flux-jobgate completion fish > ~/.config/fish/completions/flux-jobgate.fish";

/// Parses `args` (the program's name first) as [`command`] describes them.
pub fn parse(invocation: Invocation, args: &[String]) -> Result<Cli, clap::Error> {
    let matches = command(invocation).try_get_matches_from(kubectl_verbosity(args))?;
    <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
}

/// kubectl's log level (`-v=6`, `--v=6`, `-v6`, `-v 6`: a number, 6 for the
/// requests) as this command's count of `-v`: 1 to 6 are `-v` (each
/// request), 7 and 8 `-vv`, 9 and more `-vvv`, 0 none. Everything else, and
/// everything after `--`, is passed on as it is.
fn kubectl_verbosity(args: &[String]) -> Vec<String> {
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().unwrap_or(u32::MAX))
    };
    let mut out = Vec::with_capacity(args.len());
    let mut rest = args.iter().peekable();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            out.push(arg.clone());
            out.extend(rest.cloned());
            break;
        }
        let level = match arg.as_str() {
            "-v" | "--v" => match rest.peek().and_then(|n| number(n)) {
                Some(level) => {
                    rest.next();
                    Some(level)
                }
                None => None,
            },
            _ => arg
                .strip_prefix("-v=")
                .or_else(|| arg.strip_prefix("--v="))
                .or_else(|| arg.strip_prefix("-v"))
                .and_then(number),
        };
        match level {
            Some(level) => {
                let count = match level {
                    0 => 0,
                    1..=6 => 1,
                    7 | 8 => 2,
                    _ => 3,
                };
                out.extend(std::iter::repeat_n("-v".to_string(), count));
            }
            None => out.push(arg.clone()),
        }
    }
    out
}

/// A command's texts, and its arguments' and subcommands', as `invocation` says them.
fn retold(mut cmd: clap::Command, invocation: Invocation) -> clap::Command {
    let say =
        |text: Option<&clap::builder::StyledStr>| text.map(|t| invocation.retell(&t.to_string()));
    if let Some(t) = say(cmd.get_about()) {
        cmd = cmd.about(t);
    }
    if let Some(t) = say(cmd.get_long_about()) {
        cmd = cmd.long_about(t);
    }
    if let Some(t) = say(cmd.get_after_help()) {
        cmd = cmd.after_help(t);
    }
    if let Some(t) = say(cmd.get_after_long_help()) {
        cmd = cmd.after_long_help(t);
    }
    cmd = cmd.mut_args(|mut arg| {
        if let Some(t) = say(arg.get_help()) {
            arg = arg.help(t);
        }
        if let Some(t) = say(arg.get_long_help()) {
            arg = arg.long_help(t);
        }
        arg
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| retold(sub, invocation));
    }
    cmd
}

/// See, re-run and wait for the Job-gated Flux Kustomization chains of a cluster.
#[derive(Debug, Parser)]
#[command(name = "kubectl-jobgate", bin_name = "kubectl jobgate", version, after_help = Exit::help())]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// kubectl's connection flags, and the options every command shares.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
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
    #[arg(long, global = true, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Read lists in pages of this many objects, as kubectl does; 0 (the
    /// default) reads each in one request, which a real kube-apiserver serves
    /// from its watch cache and is several times faster than pages read
    /// from etcd. Pages bound what the server holds for a list at once.
    #[arg(long, global = true, value_name = "N", default_value_t = 0)]
    pub chunk_size: u32,
    /// Act as this user (impersonation).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Act as this group (impersonation, repeatable).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_group: Vec<String>,
    /// When to colour the output (NO_COLOR disables "auto").
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// A limit for the whole command (e.g. 5m; 0 means no limit); exit code 3 when it expires.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// How to narrate on stderr: auto (lines, with a live status line on a
    /// terminal), text (lines only), json (one JSON document per event, JSON Lines).
    #[arg(long, global = true, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Log each request (size, time) on stderr, and the client's warnings;
    /// -vv adds kube's debug records, -vvv every library's. kubectl's levels
    /// are understood too: -v=6 is -v, -v=8 is -vv, -v=9 is -vvv.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    Auto,
    Text,
    Json,
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
    #[command(after_help = format!("Columns:
  READY       a stage's Ready condition (True, False, Unknown); a Job's succeeded/completions
  STATE       what jobgate concludes (UpToDate, Ready, Progressing, Blocked, Failed, Missing...)
  REVISION    the revision the stage last applied
  UP-TO-DATE  whether that is its source's current revision
  DURATION    how long a Job ran, or has been running
  SINCE       a stage: since its Ready condition last changed (not the object's age,
              which `kubectl get ks` shows as AGE); a Job: since it finished, or
              started while it runs\n\n{}", after("  kubectl jobgate status -n apps
  kubectl jobgate status app-deploy -n apps -o tree
  kubectl jobgate status -A -o json
  kubectl jobgate status -n apps --watch")))]
    Status(StatusArgs),
    /// Ask Flux to reconcile a Kustomization now, and wait until it has applied its source's revision.
    ///
    /// Sets reconcile.fluxcd.io/requestedAt (the source's too with --with-source), then
    /// follows the stage from watches until Flux has handled the request and the stage
    /// is ready on its source's revision. Fails fast when it fails (flux waits until its
    /// timeout) and names the Job and its log. --downstream continues through the
    /// dependents, asking each to reconcile as soon as its dependencies are ready.
    #[command(after_help = after("  kubectl jobgate reconcile app-pre-deploy -n apps
  kubectl jobgate reconcile app-pre-deploy -n apps --with-source --downstream
  kubectl jobgate reconcile app-deploy -n apps --no-wait"))]
    Reconcile(ReconcileArgs),
    /// Re-run the Jobs of a Kustomization, safely.
    ///
    /// Deletes the Jobs in the Kustomization's inventory (only those, with a uid
    /// precondition and Background propagation), waits until they are gone, asks Flux
    /// to reconcile so it recreates them, and follows the new runs to completion. Refuses
    /// a suspended Kustomization and a running Job (unless --force); asks for confirmation
    /// on a terminal (unless --yes).
    #[command(after_help = after("  kubectl jobgate rerun app-pre-deploy -n apps
  kubectl jobgate rerun app-pre-deploy -n apps --job db-migration --yes
  kubectl jobgate rerun app-pre-deploy -n apps --dry-run
  kubectl jobgate rerun app-pre-deploy -n apps --downstream"))]
    Rerun(RerunArgs),
    /// Block until chains are ready on their source's revision; fail fast when a Job fails.
    ///
    /// Waits for the whole chain of each named Kustomization (upstream and downstream),
    /// or for every chain with --all, from watches. Exits 0 when every stage is ready
    /// and up to date with its source (or on --for revision=REV), 1 at once when a stage
    /// or Job fails, 3 on --timeout. --nudge asks each stage to reconcile as soon as its
    /// dependencies are ready, removing Flux's dependency poll from the critical path.
    #[command(after_help = after("  kubectl jobgate wait app-deploy -n apps --timeout 10m
  kubectl jobgate wait --all -n apps --nudge
  kubectl jobgate wait app-deploy -n apps --for revision=main@sha1:5a7c3e1f
  kubectl jobgate wait app-deploy -n apps --for revision=$GITHUB_SHA"))]
    Wait(WaitArgs),
    /// Show the logs of a stage's Jobs: a header per pod, the newest run first.
    ///
    /// Reads the Jobs in the Kustomization's inventory, finds each one's pods (by the
    /// Job controller's labels, kept only when that Job, by uid, created them: a re-run's
    /// old pods are not mixed in) and prints the newest pod's log (--all-pods: every
    /// attempt still there), each under a header with the Job, pod, attempt, phase and
    /// exit code. Containers of a pod with several are prefixed (-c: one). -f follows the
    /// running pod, then each retry that replaces it, until the Job finishes. When a
    /// log cannot be read it says why (the Job's pods are gone, a container is still
    /// waiting to start, pods/log is forbidden) and exits 2.
    #[command(after_help = after("  kubectl jobgate logs app-pre-deploy -n apps
  kubectl jobgate logs app-pre-deploy -n apps --all-pods
  kubectl jobgate logs app-pre-deploy -n apps -f
  kubectl jobgate logs app-pre-deploy -n apps --job db-migration --tail 50 --since 1h
  kubectl jobgate logs app-pre-deploy -n apps -o json"))]
    Logs(LogsArgs),
    /// Show the Events of a stage: its Kustomization, source, Jobs and their pods.
    ///
    /// Merges, in the order they were last seen, the Events of the Kustomization, its
    /// source, the Jobs in its inventory and their pods (also those already deleted,
    /// whose Events outlive them), in kubectl's columns. Reads events.k8s.io/v1, or core
    /// v1 where it is not served. --for-chain: every stage of the chain. -w: then the
    /// Events as they come. A namespace whose Events are forbidden is reported (exit 2),
    /// the others shown.
    #[command(after_help = after("  kubectl jobgate events app-pre-deploy -n apps
  kubectl jobgate events app-deploy -n apps --for-chain
  kubectl jobgate events app-pre-deploy -n apps -w
  kubectl jobgate events app-pre-deploy -n apps -o json"))]
    Events(EventsArgs),
    /// Check the live chains for the configuration pitfalls that break Job gates.
    ///
    /// Reads the chains in the namespace (-A: all; NAME: those containing it), their
    /// Jobs and Deployments, and reports each pitfall with a stable code (JG001...),
    /// its severity, why it matters and the fix: a Job with ttlSecondsAfterFinished,
    /// a Job stage without force or wait, a timeout shorter than a Job's retries,
    /// stages on different sources, a pre stage nothing depends on, Job images on
    /// another tag than the app, cycles and missing dependencies, kubectl edits Flux
    /// undoes. Exits 1 when any finding is an error.
    #[command(after_help = after("  kubectl jobgate doctor -n apps
  kubectl jobgate doctor app-deploy -n apps
  kubectl jobgate doctor -A -o json"))]
    Doctor(DoctorArgs),
    /// Check a Git checkout for the same pitfalls as doctor, before it is pushed.
    ///
    /// Finds the Flux Kustomizations in the YAML files under PATH and renders each
    /// one's spec.path (relative to --root, by default PATH) as kustomize-controller
    /// would: plain kustomization.yaml files are followed (resources, namespace,
    /// namePrefix/nameSuffix, images, commonLabels/commonAnnotations, patches as
    /// strategic merge or RFC 6902); what lint does not understand (components,
    /// remote bases, generators, Helm charts, replacements) is reported as not
    /// checked. Nothing under PATH is written. Exits 1 when any finding is an error,
    /// 2 when the repository cannot be read (a malformed YAML file is located as
    /// file:line:column).
    #[command(after_help = after("  kubectl jobgate lint .
  kubectl jobgate lint clusters/prod --root .
  kubectl jobgate lint . -o json
  kubectl jobgate lint . --format github   # annotations in a GitHub Actions job"))]
    Lint(LintArgs),
    /// Print the shell completion script for bash, zsh or fish.
    ///
    /// Completes subcommands and flags of `kubectl-jobgate`. For `kubectl jobgate <TAB>`,
    /// kubectl (1.26 and later) asks the `kubectl_complete-jobgate` helper instead, which
    /// also completes Kustomization names from the cluster: see the README.
    #[command(after_help = "Examples:
  source <(kubectl-jobgate completion bash)
  kubectl-jobgate completion zsh > \"${fpath[1]}/_kubectl-jobgate\"
  kubectl-jobgate completion fish > ~/.config/fish/completions/kubectl-jobgate.fish")]
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the version, the git commit, and the APIs jobgate speaks.
    #[command(after_help = "Examples:
  kubectl jobgate version
  kubectl jobgate version -o json")]
    Version {
        /// Output format (json for machines).
        #[arg(short, long, value_enum, value_name = "FORMAT")]
        output: Option<Output>,
    },
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The Kustomization whose Jobs' logs to show.
    pub name: String,
    /// Only these Jobs of its inventory (repeatable).
    #[arg(long = "job", value_name = "JOB")]
    pub jobs: Vec<String>,
    /// The last N lines of each log (of the first pod, with -f).
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,
    /// Follow the running pod's log, then the retries, until each Job finishes.
    #[arg(short, long)]
    pub follow: bool,
    /// The previous run of a restarted container (restartPolicy: OnFailure).
    #[arg(short, long)]
    pub previous: bool,
    /// Every attempt still there, newest first (default: the newest pod of each Job).
    #[arg(long, conflicts_with = "follow")]
    pub all_pods: bool,
    /// Only lines newer than this (e.g. 10m, 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only this container (default: all, each line prefixed when there are several).
    #[arg(short, long, value_name = "NAME")]
    pub container: Option<String>,
    /// Output format (json or yaml for machines; not with -f).
    #[arg(
        short,
        long,
        value_enum,
        value_name = "FORMAT",
        conflicts_with = "follow"
    )]
    pub output: Option<Output>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The Kustomization whose Events to show.
    pub name: String,
    /// Every stage of its chain.
    #[arg(long)]
    pub for_chain: bool,
    /// Then the Events as they come (JSON Lines with -o json).
    #[arg(short, long)]
    pub watch: bool,
    /// Omit the header line.
    #[arg(long)]
    pub no_headers: bool,
    /// Output format (json or yaml for machines).
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check only the chains containing these Kustomizations.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Output format (json or yaml for machines).
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The directory to look for Flux Kustomizations in.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// The repository root the Kustomizations' spec.path is relative to (default: PATH).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Output format (json or yaml for machines).
    #[arg(
        short,
        long,
        value_enum,
        value_name = "FORMAT",
        conflicts_with = "format"
    )]
    pub output: Option<Output>,
    /// github: GitHub Actions annotations (::error file=…,line=…::), for pull requests.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<LintFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Github,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The Kustomization.
    pub name: String,
    /// Reconcile its source first (GitRepository, OCIRepository, Bucket).
    #[arg(long)]
    pub with_source: bool,
    /// Continue through the stages that depend on it.
    #[arg(long)]
    pub downstream: bool,
    /// Request the reconcile and return.
    #[arg(long)]
    pub no_wait: bool,
    /// Output format of the final result.
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
}

#[derive(Debug, Args)]
pub struct RerunArgs {
    /// The Kustomization whose Jobs to re-run.
    pub name: String,
    /// Only these Jobs of its inventory (repeatable).
    #[arg(long = "job", value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Continue through the stages that depend on it.
    #[arg(long)]
    pub downstream: bool,
    /// Delete Jobs that are still running, or of a stage blocked by its upstream
    /// (Flux re-creates them only once the upstream is healthy).
    #[arg(long)]
    pub force: bool,
    /// Say what would be deleted, and do nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub yes: bool,
    /// Delete and request the reconcile, then return.
    #[arg(long)]
    pub no_wait: bool,
    /// Output format of the final result.
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Wait for the chains containing these Kustomizations.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    /// Wait for every chain in the namespace (-A: in all namespaces).
    #[arg(long)]
    pub all: bool,
    /// What to wait for: healthy (ready and up to date with the source), or
    /// revision=REV: a revision as Flux writes it (main@sha1:5a7c3e1f…, at least
    /// 7 hex characters after the colon) or a bare commit sha.
    #[arg(long = "for", value_name = "CONDITION", default_value = "healthy", value_parser = crate::model::wait_for)]
    pub for_: crate::model::WaitFor,
    /// Ask each stage to reconcile as soon as its dependencies are ready.
    #[arg(long)]
    pub nudge: bool,
    /// Succeed when there is nothing to wait for (without it, a gate that
    /// matches no Kustomization, say a typo in -n, exits 2).
    #[arg(long)]
    pub allow_empty: bool,
    /// Output format of the final result.
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
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
    /// On a terminal, draw healthy chains in full too (they are one line each
    /// by default; -o wide and output that is not a terminal show all in full).
    #[arg(long)]
    pub expand: bool,
    /// Keep the view live, updated from watches (JSON Lines with -o json, YAML documents separated by --- with -o yaml).
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

    /// kubectl users bring kubectl's `-v=6`: it was "unexpected argument
    /// '-='", and `-v 6` looked for a Kustomization named 6.
    #[test]
    fn kubectl_log_levels_are_understood() {
        let verbosity = |args: &[&str]| {
            let mut argv = vec!["kubectl-jobgate".to_string()];
            argv.extend(args.iter().map(|a| a.to_string()));
            let cli = super::parse(crate::invocation::Invocation::Kubectl, &argv)
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            (cli.global.verbose, cli)
        };
        for (args, want) in [
            (&["status"][..], 0),
            (&["status", "-v"], 1),
            (&["status", "-vvv"], 3),
            (&["status", "-v=6"], 1),
            (&["status", "--v=6"], 1),
            (&["status", "-v6"], 1),
            (&["status", "-v", "6"], 1),
            (&["status", "--v", "8"], 2),
            (&["-v=9", "status"], 3),
            (&["status", "-v=0"], 0),
            (&["status", "-v=99999999999"], 3),
        ] {
            assert_eq!(verbosity(args).0, want, "{args:?}");
        }
        // A name stays a name, and so does anything after `--`.
        let (level, cli) = verbosity(&["status", "-v", "app-6"]);
        assert_eq!(level, 1);
        let (_, after) = verbosity(&["status", "--", "-v=6"]);
        assert!(format!("{cli:?}").contains("app-6"));
        assert!(format!("{after:?}").contains("-v=6"));
    }

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }

    /// `--help` of every command, at a fixed width.
    #[test]
    fn help_snapshots() {
        let mut cmd = super::Cli::command().term_width(100);
        cmd.build();
        insta::assert_snapshot!("help", cmd.render_long_help().to_string());
        for name in [
            "status",
            "reconcile",
            "rerun",
            "wait",
            "logs",
            "events",
            "doctor",
            "lint",
            "completion",
            "version",
        ] {
            let sub = cmd.find_subcommand_mut(name).expect("a subcommand");
            let help = sub.render_long_help().to_string();
            assert!(help.contains("Examples:"), "{name} has examples");
            insta::assert_snapshot!(format!("help_{name}"), help);
        }
    }
}
