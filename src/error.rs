//! Errors the commands end with, and the exit codes they map to. Each
//! message is one paragraph: what happened, then what to do.

use std::time::Duration;

use crate::cluster::ClusterError;
use crate::model::{UnknownName, Unselectable};

/// The documented exit codes (README, `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; every shown chain is healthy.
    Ok = 0,
    /// A shown chain, stage or Job failed or is blocked.
    Unhealthy = 1,
    /// Usage or configuration error: bad flag, unknown name, missing CRD,
    /// unreachable cluster, forbidden, or a partial view (something unreadable).
    Usage = 2,
    /// `--timeout` expired.
    Timeout = 3,
    /// Interrupted (Ctrl-C).
    Interrupted = 130,
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
    /// The command declined to act (suspended, running Job, not confirmed...).
    #[error("{0}")]
    Refused(String),
    /// Stopped after changing something (`app` adds what, and how to recover).
    #[error("{0}")]
    Partial(String),
    #[error("timed out after {}: {}", crate::duration::format_duration(*.after), if *.following {
        "the command did not finish within --timeout; raise it, or look at what it was waiting for with `kubectl jobgate status`"
    } else {
        "the cluster did not answer within --timeout; raise it (or --request-timeout), and see how long each request takes with -v"
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
            | AppError::Refused(_)
            | AppError::Output(_) => Exit::Usage,
            // Something changed in the cluster before it stopped.
            AppError::Partial(_) => Exit::Unhealthy,
            AppError::Timeout { .. } => Exit::Timeout,
            AppError::Interrupted => Exit::Interrupted,
        }
    }
}
