//! Settings resolved once from the command line and the environment; nothing
//! below this module sees clap.

use std::time::Duration;

use crate::actions;
use crate::cli::{self, Cli, Command};
use crate::cluster::{KubeOptions, Scope};
use crate::narrate::Style;
use crate::render::Format;

/// Facts about the process the settings depend on (passed in, for tests).
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub stdout_is_terminal: bool,
    pub stdin_is_terminal: bool,
    pub no_color: bool,
    pub dumb_terminal: bool,
    /// The terminal's width, when stdout is a terminal.
    pub width: Option<usize>,
    /// The terminal's width, when stderr is a terminal (`None` otherwise).
    pub stderr_width: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Namespaces {
    /// `-n NAME`.
    Named(String),
    /// The kubeconfig context's namespace.
    FromContext,
    /// `-A`.
    All,
}

impl Namespaces {
    pub fn scope(&self, context_namespace: &str) -> Scope {
        match self {
            Namespaces::Named(ns) => Scope::Namespace(ns.clone()),
            Namespaces::FromContext => Scope::Namespace(context_namespace.to_string()),
            Namespaces::All => Scope::All,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub kube: KubeOptions,
    pub namespaces: Namespaces,
    pub color: bool,
    pub width: Option<usize>,
    pub stdout_is_terminal: bool,
    /// How narration is written on stderr.
    pub progress: Style,
    /// `-v` (jobgate's requests) and `-vv` (the client libraries' too).
    pub verbosity: u8,
    pub timeout: Option<Duration>,
    pub command: CommandSettings,
}

#[derive(Debug, Clone)]
pub enum CommandSettings {
    Status(StatusSettings),
    Reconcile(ReconcileSettings),
    Rerun(RerunSettings),
    Wait(WaitSettings),
    Logs(LogsSettings),
    Events(EventsSettings),
    Doctor(DoctorSettings),
    Lint(LintSettings),
    Completion(clap_complete::Shell),
    Version(Format),
}

#[derive(Debug, Clone)]
pub struct LogsSettings {
    /// `-n`; `None`: the kubeconfig context's (never all: refused at parse time).
    pub namespace: Option<String>,
    pub request: actions::logs::Request,
    pub follow: bool,
    /// Table: the text view.
    pub format: Format,
}

#[derive(Debug, Clone)]
pub struct EventsSettings {
    /// `-n`; `None`: the kubeconfig context's (never all: refused at parse time).
    pub namespace: Option<String>,
    pub name: String,
    pub for_chain: bool,
    pub watch: bool,
    pub no_headers: bool,
    /// Table: kubectl's columns.
    pub format: Format,
}

#[derive(Debug, Clone)]
pub struct DoctorSettings {
    pub names: Vec<String>,
    pub format: Format,
}

#[derive(Debug, Clone)]
pub struct LintSettings {
    pub path: std::path::PathBuf,
    pub root: std::path::PathBuf,
    /// How findings are written: text, json, yaml, or GitHub annotations.
    pub view: FindingsView,
}

/// The views of `doctor`'s and `lint`'s report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingsView {
    Text,
    Json,
    Yaml,
    Github,
}

#[derive(Debug, Clone)]
pub struct ReconcileSettings {
    /// `-n`; `None`: the kubeconfig context's (never all: refused at parse time).
    pub namespace: Option<String>,
    pub name: String,
    pub with_source: bool,
    pub downstream: bool,
    pub no_wait: bool,
    pub format: Format,
}

#[derive(Debug, Clone)]
pub struct RerunSettings {
    /// `-n`; `None`: the kubeconfig context's (never all: refused at parse time).
    pub namespace: Option<String>,
    pub name: String,
    pub jobs: Vec<String>,
    pub downstream: bool,
    pub force: bool,
    pub dry_run: bool,
    pub confirm: Confirm,
    pub no_wait: bool,
    pub format: Format,
}

/// Whether rerun may delete without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// `--yes`.
    Given,
    /// On a terminal, without `--yes`: ask.
    Ask,
    /// Neither a terminal to ask on nor `--yes`: refuse to delete.
    Refuse,
}

#[derive(Debug, Clone)]
pub struct WaitSettings {
    pub names: Vec<String>,
    pub all: bool,
    /// `--for revision=REV`; `None`: healthy (the source's revision).
    pub revision: Option<String>,
    pub nudge: bool,
    /// Nothing to wait for is a success (otherwise exit 2).
    pub allow_empty: bool,
    pub format: Format,
}

impl ReconcileSettings {
    /// What the action needs, in the namespace resolved against the kubeconfig.
    pub fn request<'a>(&'a self, namespace: &'a str) -> actions::reconcile::Request<'a> {
        actions::reconcile::Request {
            namespace,
            name: &self.name,
            with_source: self.with_source,
            downstream: self.downstream,
            no_wait: self.no_wait,
        }
    }
}

impl RerunSettings {
    /// What the action needs, in the namespace resolved against the kubeconfig.
    pub fn request<'a>(&'a self, namespace: &'a str) -> actions::rerun::Request<'a> {
        actions::rerun::Request {
            namespace,
            name: &self.name,
            jobs: &self.jobs,
            downstream: self.downstream,
            force: self.force,
            no_wait: self.no_wait,
        }
    }
}

impl WaitSettings {
    pub fn request(&self) -> actions::wait::Request<'_> {
        actions::wait::Request {
            names: &self.names,
            all: self.all,
            revision: self.revision.clone(),
            nudge: self.nudge,
            allow_empty: self.allow_empty,
        }
    }
}

/// `-o` of the verbs whose report is not chains (doctor, lint, logs,
/// events): text, json or yaml.
fn findings_format(verb: &str, output: Option<cli::Output>) -> Result<Format, String> {
    match format_of(output) {
        f @ (Format::Table | Format::Json | Format::Yaml) => Ok(f),
        _ => Err(format!(
            "{verb} prints text, or -o json|yaml: the other formats are views of chains"
        )),
    }
}

fn format_of(output: Option<cli::Output>) -> Format {
    match output {
        None => Format::Table,
        Some(cli::Output::Wide) => Format::Wide,
        Some(cli::Output::Tree) => Format::Tree,
        Some(cli::Output::Json) => Format::Json,
        Some(cli::Output::Yaml) => Format::Yaml,
        Some(cli::Output::Mermaid) => Format::Mermaid,
        Some(cli::Output::Name) => Format::Name,
    }
}

#[derive(Debug, Clone)]
pub struct StatusSettings {
    pub names: Vec<String>,
    pub format: Format,
    pub no_headers: bool,
    pub watch: bool,
    /// Healthy chains one line each (a terminal's table, unless `--expand`).
    pub compact: bool,
}

impl Settings {
    pub fn resolve(cli: Cli, env: &Environment) -> Result<Settings, String> {
        let g = cli.global;
        let request_timeout = g.request_timeout;
        // 0 is no limit, as for --request-timeout (it expired at once).
        let timeout = g.timeout.filter(|d| !d.is_zero());
        let color = match g.color {
            cli::Color::Always => true,
            cli::Color::Never => false,
            cli::Color::Auto => env.stdout_is_terminal && !env.no_color && !env.dumb_terminal,
        };
        let progress = match (g.progress, env.stderr_width) {
            (cli::Progress::Json, _) => Style::Json,
            (cli::Progress::Auto, Some(width)) if !env.dumb_terminal => Style::Live { width },
            _ => Style::Text,
        };
        let namespaces = match (g.all_namespaces, g.namespace) {
            (true, _) => Namespaces::All,
            (false, Some(ns)) if ns.is_empty() => {
                return Err("-n/--namespace: the namespace is empty".into());
            }
            (false, Some(ns)) => Namespaces::Named(ns),
            (false, None) => Namespaces::FromContext,
        };
        // reconcile and rerun act on one Kustomization, so in one namespace.
        let one_namespace = |command: &str| match &namespaces {
            Namespaces::All => Err(format!(
                "{command} acts on one Kustomization, not on all namespaces: give its namespace with -n instead of -A"
            )),
            Namespaces::Named(ns) => Ok(Some(ns.clone())),
            Namespaces::FromContext => Ok(None),
        };
        let command = match cli.command {
            Command::Status(s) => CommandSettings::Status(StatusSettings {
                names: s.names,
                format: format_of(s.output),
                no_headers: s.no_headers,
                watch: s.watch,
                compact: env.stdout_is_terminal && s.output.is_none() && !s.expand,
            }),
            Command::Reconcile(r) => CommandSettings::Reconcile(ReconcileSettings {
                namespace: one_namespace("reconcile")?,
                name: r.name,
                with_source: r.with_source,
                downstream: r.downstream,
                no_wait: r.no_wait,
                format: format_of(r.output),
            }),
            Command::Rerun(r) => CommandSettings::Rerun(RerunSettings {
                namespace: one_namespace("rerun")?,
                name: r.name,
                jobs: r.jobs,
                downstream: r.downstream,
                force: r.force,
                dry_run: r.dry_run,
                confirm: match (r.yes, env.stdin_is_terminal) {
                    (true, _) => Confirm::Given,
                    (false, true) => Confirm::Ask,
                    (false, false) => Confirm::Refuse,
                },
                no_wait: r.no_wait,
                format: format_of(r.output),
            }),
            Command::Wait(w) => {
                let revision = match w.for_ {
                    crate::model::WaitFor::Healthy => None,
                    crate::model::WaitFor::Revision(rev) => Some(rev),
                };
                CommandSettings::Wait(WaitSettings {
                    names: w.names,
                    all: w.all,
                    revision,
                    nudge: w.nudge,
                    allow_empty: w.allow_empty,
                    format: format_of(w.output),
                })
            }
            Command::Logs(l) => CommandSettings::Logs(LogsSettings {
                namespace: one_namespace("logs")?,
                request: actions::logs::Request {
                    namespace: String::new(),
                    name: l.name,
                    jobs: l.jobs,
                    tail: l.tail.map(i64::from),
                    since: l.since.filter(|d| !d.is_zero()),
                    previous: l.previous,
                    all_pods: l.all_pods,
                    container: l.container,
                },
                follow: l.follow,
                format: findings_format("logs", l.output)?,
            }),
            Command::Events(e) => CommandSettings::Events(EventsSettings {
                namespace: one_namespace("events")?,
                name: e.name,
                for_chain: e.for_chain,
                watch: e.watch,
                no_headers: e.no_headers,
                format: findings_format("events", e.output)?,
            }),
            Command::Completion { shell } => CommandSettings::Completion(shell),
            Command::Doctor(d) => CommandSettings::Doctor(DoctorSettings {
                names: d.names,
                format: findings_format("doctor", d.output)?,
            }),
            Command::Lint(l) => CommandSettings::Lint(LintSettings {
                root: l.root.unwrap_or_else(|| l.path.clone()),
                path: l.path,
                view: match (l.format, findings_format("lint", l.output)?) {
                    (Some(cli::LintFormat::Github), _) => FindingsView::Github,
                    (None, Format::Json) => FindingsView::Json,
                    (None, Format::Yaml) => FindingsView::Yaml,
                    (None, _) => FindingsView::Text,
                },
            }),
            Command::Version { output } => match format_of(output) {
                f @ (Format::Table | Format::Json | Format::Yaml) => CommandSettings::Version(f),
                _ => {
                    return Err(
                        "version prints text, or -o json|yaml: the other formats are views of chains"
                            .into(),
                    );
                }
            },
        };
        Ok(Settings {
            kube: KubeOptions {
                kubeconfig: g.kubeconfig,
                context: g.context,
                cluster: g.cluster,
                user: g.user,
                request_timeout: Some(request_timeout).filter(|d| !d.is_zero()),
                impersonate: g.as_user,
                impersonate_groups: g.as_group,
                chunk_size: g.chunk_size,
            },
            namespaces,
            color,
            width: env.width,
            stdout_is_terminal: env.stdout_is_terminal,
            progress,
            verbosity: g.verbose,
            timeout,
            command,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The settings of a command line; a line clap rejects is an error too.
    fn resolve(args: &[&str], env: Environment) -> Result<Settings, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        Settings::resolve(cli, &env)
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let tty = Environment {
            stdout_is_terminal: true,
            ..Default::default()
        };
        assert!(
            resolve(&["kubectl-jobgate", "status"], tty.clone())
                .unwrap()
                .color
        );
        assert!(
            !resolve(
                &["kubectl-jobgate", "status"],
                Environment {
                    no_color: true,
                    ..tty.clone()
                }
            )
            .unwrap()
            .color
        );
        assert!(
            !resolve(&["kubectl-jobgate", "status"], Environment::default())
                .unwrap()
                .color
        );
        assert!(
            resolve(
                &["kubectl-jobgate", "status", "--color", "always"],
                Environment::default()
            )
            .unwrap()
            .color
        );
        assert!(
            !resolve(&["kubectl-jobgate", "status", "--color=never"], tty)
                .unwrap()
                .color
        );
    }

    #[test]
    fn kubectl_flags_resolve() {
        let s = resolve(
            &[
                "kubectl-jobgate",
                "status",
                "-n",
                "apps",
                "--context",
                "prod",
                "--request-timeout",
                "5s",
                "--as",
                "ci",
                "--as-group",
                "g1",
            ],
            Environment::default(),
        )
        .unwrap();
        assert_eq!(s.namespaces, Namespaces::Named("apps".into()));
        assert_eq!(s.kube.context.as_deref(), Some("prod"));
        assert_eq!(s.kube.request_timeout, Some(Duration::from_secs(5)));
        assert_eq!(
            (
                s.kube.impersonate.as_deref(),
                s.kube.impersonate_groups.as_slice()
            ),
            (Some("ci"), &["g1".to_string()][..])
        );
        assert_eq!(
            resolve(
                &["kubectl-jobgate", "-A", "status", "-n", "x"],
                Environment::default()
            )
            .unwrap()
            .namespaces,
            Namespaces::All
        );
        assert_eq!(
            resolve(
                &["kubectl-jobgate", "-A", "rerun", "app-pre-deploy"],
                Environment::default()
            )
            .unwrap_err(),
            "rerun acts on one Kustomization, not on all namespaces: give its namespace with -n instead of -A"
        );
        assert!(
            resolve(
                &["kubectl-jobgate", "status", "--timeout", "soon"],
                Environment::default()
            )
            .is_err()
        );
    }

    /// `version -o mermaid` was accepted and printed the text form.
    #[test]
    fn version_takes_only_its_own_formats() {
        for ok in [
            &["kubectl-jobgate", "version"][..],
            &["kubectl-jobgate", "version", "-o", "json"],
        ] {
            assert!(resolve(ok, Environment::default()).is_ok(), "{ok:?}");
        }
        for bad in ["mermaid", "tree", "wide", "name"] {
            let e = resolve(
                &["kubectl-jobgate", "version", "-o", bad],
                Environment::default(),
            )
            .err()
            .unwrap_or_default();
            assert_eq!(
                e, "version prints text, or -o json|yaml: the other formats are views of chains",
                "{bad}"
            );
        }
    }

    /// `--timeout 0s` expired at once while `--request-timeout 0` meant no limit.
    #[test]
    fn a_zero_timeout_is_no_limit_like_the_request_timeout() {
        for args in [
            &["kubectl-jobgate", "status", "--timeout", "0"][..],
            &["kubectl-jobgate", "status", "--timeout", "0s"],
        ] {
            let s = resolve(args, Environment::default()).unwrap();
            assert_eq!(
                (s.timeout, s.kube.request_timeout),
                (None, None),
                "{args:?}"
            );
        }
    }
}
