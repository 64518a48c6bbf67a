//! Errors the commands end with, and the exit codes they map to. Each
//! message is one paragraph: what happened, then what to do.

use std::time::Duration;

use crate::cluster::ClusterError;
use crate::model::{UnknownName, Unselectable};

/// The exit codes: the one source of the `--help` text and the README's
/// table (a test checks that the README says the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; every shown chain is healthy.
    Ok = 0,
    /// A shown chain is failed or blocked; a followed stage or Job failed.
    Unhealthy = 1,
    /// Nothing was concluded, or nothing done: a usage, configuration,
    /// connection or permission error, a refusal, or a partial view.
    Error = 2,
    /// `--timeout` expired.
    Timeout = 3,
    /// Interrupted (Ctrl-C).
    Interrupted = 130,
}

impl Exit {
    pub const ALL: [Exit; 5] = [
        Exit::Ok,
        Exit::Unhealthy,
        Exit::Error,
        Exit::Timeout,
        Exit::Interrupted,
    ];

    /// What the code means, in a few words (`--help`).
    pub fn brief(self) -> &'static str {
        match self {
            Exit::Ok => "success; every shown chain is healthy",
            Exit::Unhealthy => {
                "a chain, stage or Job failed or is blocked (reconcile, rerun, wait: it failed); doctor, lint: an error-level finding"
            }
            Exit::Error => {
                "usage or configuration error (bad flag, unknown name, missing CRD, unreachable cluster, forbidden, refused, a repository lint cannot read), or part of the view could not be read"
            }
            Exit::Timeout => "timed out (--timeout)",
            Exit::Interrupted => "interrupted (Ctrl-C)",
        }
    }

    /// What the code means, in full (the README's table).
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => {
                "success; every shown chain is healthy (or there is nothing to show); (logs, events) everything asked for was read, whatever the Jobs' outcome (gate on `wait`)"
            }
            Exit::Unhealthy => {
                "a shown chain has a failed or blocked stage; (reconcile, rerun, wait) a stage or Job failed, or a rerun stopped after deleting (its last line says what it deleted and the command that recovers); (doctor, lint) a finding of severity error"
            }
            Exit::Error => {
                "usage or configuration error: bad flag, unknown name, missing Flux CRD, unreachable cluster, expired credentials, forbidden; a refusal, where nothing was changed (suspended or blocked stage, running Job without `--force`, a Job another stage owns, Jobs that cannot be listed, a Job replaced before its delete (409), a forbidden delete, not confirmed or no terminal to confirm on without `--yes`); a repository `lint` cannot read (a malformed YAML file, located as file:line:column; no Flux Kustomization; an unreadable directory); or a partial view (something could not be read: see the warnings on stderr; for `logs`, a log that could not be read, for `events`, a namespace whose Events could not; a stage without Jobs has no logs to show)"
            }
            Exit::Timeout => "`--timeout` expired",
            Exit::Interrupted => "interrupted (Ctrl-C)",
        }
    }

    /// The `Exit codes:` section of every command's `--help`.
    pub fn help() -> String {
        let mut text = String::from("Exit codes:");
        for exit in Exit::ALL {
            text.push_str(&format!("\n  {:<4}", exit as u8));
            // Wrapped at 80 columns, continuation lines under the meaning.
            let mut column = 6;
            for word in exit.brief().split(' ') {
                if column + 1 + word.len() > 80 {
                    text.push_str("\n      ");
                    column = 6;
                }
                text.push(' ');
                text.push_str(word);
                column += 1 + word.len();
            }
        }
        text
    }

    /// The README's table, as markdown rows.
    pub fn table() -> String {
        let mut rows = String::from("| code | meaning |\n|---|---|\n");
        for exit in Exit::ALL {
            rows.push_str(&format!("| {} | {} |\n", exit as u8, exit.meaning()));
        }
        rows
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("{}", unknown_names(.0))]
    UnknownNames(Vec<UnknownName>),
    #[error("{0}")]
    Usage(String),
    /// `lint` cannot read the repository.
    #[error("{0}")]
    Repository(String),
    /// The command declined to act (suspended, running Job, not confirmed...).
    #[error("{0}")]
    Refused(String),
    /// Stopped after changing something (`app` adds what, and how to recover).
    #[error("{0}")]
    Partial(String),
    #[error("timed out after {}: {}", crate::duration::format_duration(*.after), if *.following {
        format!("the command did not finish within --timeout; raise it, or look at what it was waiting for with `{} status`", crate::invocation::command())
    } else {
        "the cluster did not answer within --timeout; raise it (or --request-timeout), and see how long each request takes with -v".to_string()
    })]
    Timeout {
        after: Duration,
        /// The command follows stages (reconcile, rerun, wait), rather than reading once.
        following: bool,
    },
    #[error("interrupted")]
    Interrupted,
    /// Writing stdout or stderr failed (`?` on a write converts to this).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

fn unknown_names(names: &[UnknownName]) -> String {
    let parts: Vec<String> = names
        .iter()
        .map(|u| {
            let place = match &u.namespace {
                Some(ns) => format!(" in namespace \"{ns}\""),
                None => " in any namespace".to_string(),
            };
            let hint = match u.suggestions.as_slice() {
                [] => String::new(),
                [one] => format!(" (did you mean \"{one}\"?)"),
                many => format!(
                    " (did you mean one of {}?)",
                    many.iter()
                        .map(|s| format!("\"{s}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            format!("Kustomization \"{}\" not found{place}{hint}", u.name)
        })
        .collect();
    format!(
        "{}. List them with `kubectl get kustomizations -A`, or pass -n NAMESPACE",
        parts.join("; ")
    )
}

impl AppError {
    /// A stage a single-stage verb cannot act on; `consequence` says what
    /// suspension means for the verb.
    pub fn unselectable(e: Unselectable, consequence: &str) -> Self {
        match e {
            Unselectable::Unknown(names) => AppError::UnknownNames(names),
            Unselectable::Suspended { namespace, name } => AppError::Refused(format!(
                "{namespace}/{name} is suspended: {consequence}. Resume it first with `flux resume kustomization {name} -n {namespace}`"
            )),
            Unselectable::Unreadable {
                namespace,
                name,
                error,
            } => AppError::Refused(format!(
                "Kustomization {namespace}/{name} exists but cannot be read ({error}), so jobgate cannot tell what it would act on. Look at it with `kubectl get kustomization {name} -n {namespace} -o yaml`"
            )),
        }
    }

    pub fn exit(&self) -> Exit {
        match self {
            AppError::Cluster(_)
            | AppError::UnknownNames(_)
            | AppError::Usage(_)
            | AppError::Repository(_)
            | AppError::Refused(_)
            | AppError::Output(_) => Exit::Error,
            // Something changed in the cluster before it stopped.
            AppError::Partial(_) => Exit::Unhealthy,
            AppError::Timeout { .. } => Exit::Timeout,
            AppError::Interrupted => Exit::Interrupted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    /// The README's exit codes are the ones `--help` prints, from one source.
    #[test]
    fn the_readme_documents_every_exit_code_as_exit_does() {
        let readme = include_str!("../README.md");
        let start = readme
            .find("| code | meaning |")
            .expect("the README has an exit code table");
        let table: String = readme[start..]
            .lines()
            .take_while(|l| l.starts_with('|'))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            table,
            Exit::table(),
            "the README's table should read:\n{}",
            Exit::table()
        );
    }
}
