//! kubectl's plugin completion protocol (kubectl 1.26+): for `kubectl jobgate
//! <TAB>`, kubectl runs `kubectl_complete-jobgate ARGS... CURRENT-WORD` and reads
//! one candidate per line (`value<TAB>description`) and a last `:<directive>`
//! line, as Cobra's `__complete` does. The shim runs `kubectl-jobgate
//! __complete ...`. Subcommands and flags come from the clap definition;
//! Kustomization and namespace names from the cluster (with the connection
//! flags already typed), within 2 seconds, and nothing at all on error. Also
//! the completion scripts of `kubectl jobgate completion SHELL`.

use std::io::Write;
use std::time::Duration;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::cluster::{Cluster, KubeOptions, Scope};
use crate::invocation::Invocation;

/// Cobra's directives.
const NO_FILE_COMP: u8 = 4;
const DEFAULT: u8 = 0;

const CLUSTER_TIMEOUT: Duration = Duration::from_secs(2);

struct Typed {
    subcommand: Option<String>,
    kube: KubeOptions,
    namespace: Option<String>,
    all_namespaces: bool,
}

/// What is typed before the current word: the subcommand and the connection flags.
fn read_typed(words: &[String]) -> (Typed, Option<String>) {
    let cmd = Cli::command();
    let takes_value = |name: &str| -> bool {
        let sub = cmd
            .get_subcommands()
            .flat_map(|s| s.get_arguments())
            .chain(cmd.get_arguments());
        let found = sub.into_iter().find(|a| {
            a.get_long().is_some_and(|l| format!("--{l}") == name)
                || a.get_short().is_some_and(|c| format!("-{c}") == name)
        });
        found.is_some_and(|a| a.get_action().takes_values())
    };
    let mut typed = Typed {
        subcommand: None,
        kube: KubeOptions::default(),
        namespace: None,
        all_namespaces: false,
    };
    let mut pending_flag: Option<String> = None;
    for word in words {
        if let Some(flag) = pending_flag.take() {
            set(&mut typed, &flag, word);
            continue;
        }
        if let Some((flag, value)) = word.split_once('=').filter(|(f, _)| f.starts_with('-')) {
            set(&mut typed, flag, value);
        } else if word == "-A" || word == "--all-namespaces" {
            typed.all_namespaces = true;
        } else if word.starts_with('-') {
            if takes_value(word) {
                pending_flag = Some(word.clone());
            }
        } else if typed.subcommand.is_none() {
            typed.subcommand = Some(word.clone());
        }
    }
    (typed, pending_flag)
}

fn set(typed: &mut Typed, flag: &str, value: &str) {
    match flag {
        "-n" | "--namespace" => typed.namespace = Some(value.to_string()),
        "--context" => typed.kube.context = Some(value.to_string()),
        "--cluster" => typed.kube.cluster = Some(value.to_string()),
        "--user" => typed.kube.user = Some(value.to_string()),
        "--kubeconfig" => typed.kube.kubeconfig = Some(value.into()),
        _ => {}
    }
}

async fn from_cluster(typed: &Typed, what: &str) -> Vec<String> {
    let work = async {
        let cluster = Cluster::connect(&typed.kube, &crate::narrate::Narrator::silent())
            .await
            .ok()?;
        match what {
            "namespaces" => cluster.namespace_names().await.ok(),
            _ => {
                let scope = match (&typed.namespace, typed.all_namespaces) {
                    (_, true) => Scope::All,
                    (Some(ns), false) => Scope::Namespace(ns.clone()),
                    (None, false) => Scope::Namespace(cluster.default_namespace().to_string()),
                };
                cluster.kustomization_names(&scope).await.ok()
            }
        }
    };
    tokio::time::timeout(CLUSTER_TIMEOUT, work)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

fn contexts(typed: &Typed) -> Vec<String> {
    let config = match &typed.kube.kubeconfig {
        Some(p) => kube::config::Kubeconfig::read_from(p),
        None => kube::config::Kubeconfig::read(),
    };
    config
        .map(|c| c.contexts.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

/// Writes the candidates for `args` (the last one is the word being completed).
pub async fn complete(args: &[String], out: &mut dyn Write) -> std::io::Result<()> {
    let (current, before) = match args.split_last() {
        Some((c, b)) => (c.clone(), b.to_vec()),
        None => (String::new(), vec![]),
    };
    let (typed, pending) = read_typed(&before);
    let cmd = Cli::command();
    let sub = typed
        .subcommand
        .as_deref()
        .and_then(|s| cmd.find_subcommand(s));
    let mut candidates: Vec<(String, String)> = vec![];
    let mut directive = NO_FILE_COMP;

    if let Some(flag) = pending {
        match flag.as_str() {
            "-n" | "--namespace" => candidates.extend(
                from_cluster(&typed, "namespaces")
                    .await
                    .into_iter()
                    .map(|n| (n, String::new())),
            ),
            "--context" => {
                candidates.extend(contexts(&typed).into_iter().map(|c| (c, String::new())))
            }
            "--kubeconfig" | "--root" => directive = DEFAULT,
            "--for" => candidates.extend([
                (
                    "healthy".into(),
                    "ready and up to date with the source".into(),
                ),
                ("revision=".into(), "a revision or its prefix".into()),
            ]),
            _ => {
                let arg = sub
                    .into_iter()
                    .flat_map(|s| s.get_arguments())
                    .chain(cmd.get_arguments())
                    .find(|a| {
                        a.get_long().is_some_and(|l| format!("--{l}") == flag)
                            || a.get_short().is_some_and(|c| format!("-{c}") == flag)
                    });
                if let Some(arg) = arg {
                    for v in arg.get_possible_values() {
                        candidates.push((
                            v.get_name().to_string(),
                            v.get_help().map(|h| h.to_string()).unwrap_or_default(),
                        ));
                    }
                }
            }
        }
    } else if current.starts_with('-') {
        let args = sub
            .into_iter()
            .flat_map(|s| s.get_arguments())
            .chain(cmd.get_arguments());
        for a in args.filter(|a| !a.is_hide_set()) {
            if let Some(long) = a.get_long() {
                candidates.push((
                    format!("--{long}"),
                    a.get_help().map(|h| h.to_string()).unwrap_or_default(),
                ));
            }
        }
    } else {
        match typed.subcommand.as_deref() {
            None => {
                for s in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                    candidates.push((
                        s.get_name().to_string(),
                        s.get_about().map(|a| a.to_string()).unwrap_or_default(),
                    ));
                }
            }
            // A checkout's directory: the shell completes paths.
            Some("lint") => directive = DEFAULT,
            Some("status" | "reconcile" | "rerun" | "wait" | "doctor" | "logs" | "events") => {
                candidates.extend(
                    from_cluster(&typed, "kustomizations")
                        .await
                        .into_iter()
                        .map(|n| (n, String::new())),
                );
            }
            Some("completion") => {
                candidates.extend(["bash", "zsh", "fish"].map(|s| (s.to_string(), String::new())));
            }
            Some(_) => {}
        }
    }
    candidates.sort();
    candidates.dedup();
    for (value, help) in candidates
        .into_iter()
        .filter(|(v, _)| v.starts_with(&current))
    {
        let help = help.lines().next().unwrap_or("").to_string();
        if help.is_empty() {
            writeln!(out, "{value}")?
        } else {
            writeln!(out, "{value}\t{help}")?
        }
    }
    writeln!(out, ":{directive}")
}

/// The completion script for `shell` (`kubectl jobgate completion SHELL`),
/// for the binary as it was invoked: `kubectl-jobgate` or `flux-jobgate`.
pub fn script(shell: clap_complete::Shell, invocation: Invocation, out: &mut dyn Write) {
    let program = invocation.program();
    if shell != clap_complete::Shell::Bash {
        let mut cmd = crate::cli::command(invocation).bin_name(program);
        clap_complete::generate(shell, &mut cmd, program, out);
        return;
    }
    // clap_complete's bash script escapes a hyphen in the binary's name one way where it
    // tracks the subcommand typed and another in the cases that complete its flags, so no
    // subcommand's flags complete for any hyphenated name (clap-rs/clap#6421, open). Its
    // cases match the words typed only from the second on; the name is only registered, in
    // the last line: generate it for a name without a hyphen and register the real one.
    let internal = program.replace('-', "_");
    let mut cmd = crate::cli::command(invocation).bin_name(&internal);
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut cmd, &internal, &mut text);
    let text = String::from_utf8_lossy(&text);
    for line in text.lines() {
        let line = match line.strip_suffix(&format!(" {internal}")) {
            Some(head) if line.trim_start().starts_with("complete ") => format!("{head} {program}"),
            _ => line.to_string(),
        };
        let _ = writeln!(out, "{line}");
    }
}
