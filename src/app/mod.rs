//! Runs one command: connect, act, render, write; one deadline (`--timeout`)
//! over the whole of it, Ctrl-C as an outcome (exit 130), and the exit code.
//! Each verb's part of it is in a room of its own: `status` (and its
//! `--watch` loop), `follow` (what `reconcile` and `wait` end with, and the
//! final view after following), `rerun` (the dry-run plan and the prompt).

mod diagnose;
mod follow;
mod inspect;
mod rerun;
mod status;

use std::io::Write;

use jiff::Timestamp;

use crate::actions::rerun::Journal;
use crate::cluster::Cluster;
use crate::error::{AppError, Exit};
use crate::events::Event;
use crate::narrate::{Narrator, Style};
use crate::render::{self, Format, Styles, View};
use crate::report::ChainReport;
use crate::settings::{CommandSettings, Settings};

/// Runs the command and returns its exit code; errors are said once, through
/// `narrator`, which is finished (its live line taken away) before this returns.
pub async fn run(settings: Settings, out: &mut dyn Write, narrator: Narrator) -> Exit {
    let ticker = matches!(narrator.style(), Style::Live { .. }).then(|| {
        let n = narrator.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(crate::narrate::TICK);
            loop {
                every.tick().await;
                n.tick();
            }
        })
    });
    let exit = run_narrated(&settings, out, &narrator).await;
    if let Some(t) = ticker {
        t.abort();
    }
    if narrator.style() == Style::Json {
        narrator.say(Event::Exit { code: exit as u8 });
    }
    narrator.finish();
    exit
}

async fn run_narrated(settings: &Settings, out: &mut dyn Write, narrator: &Narrator) -> Exit {
    // What a rerun deleted, kept outside the work that a deadline or Ctrl-C drops.
    let journal = Journal::default();
    let result = {
        let work = execute(settings, &journal, out, narrator);
        let deadline = async {
            match settings.timeout {
                Some(t) => {
                    tokio::time::sleep(t).await;
                    Err(AppError::Timeout {
                        after: t,
                        following: !matches!(settings.command, CommandSettings::Status(_)),
                    })
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = work => r,
            r = deadline => r,
            _ = tokio::signal::ctrl_c() => Err(AppError::Interrupted),
        }
    };
    let result = result.and_then(|exit| out.flush().map(|_| exit).map_err(AppError::Output));
    let exit = match &result {
        Ok(exit) => *exit,
        // Output piped into `head` and closed: not an error.
        Err(AppError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
        Err(AppError::Interrupted) => Exit::Interrupted,
        Err(e) => {
            narrator.say(Event::Error {
                message: e.to_string(),
            });
            e.exit()
        }
    };
    // Every way out of a rerun that deleted Jobs it did not see recreated
    // says so, and how to get them back.
    if exit != Exit::Ok || result.is_err() {
        if let Some(recovery) = journal.recovery() {
            narrator.say(Event::Recovery { message: recovery });
            if !matches!(exit, Exit::Timeout | Exit::Interrupted) {
                return Exit::Unhealthy;
            }
        } else if matches!(result, Err(AppError::Interrupted))
            && matches!(settings.command, CommandSettings::Rerun(_))
        {
            narrator.say(Event::Info {
                message: "interrupted: nothing was deleted".into(),
            });
        }
    }
    exit
}

async fn execute(
    settings: &Settings,
    journal: &Journal,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    match &settings.command {
        CommandSettings::Status(s) => status::status(settings, s, out, narrator).await,
        CommandSettings::Reconcile(r) => follow::reconcile(settings, r, out, narrator).await,
        CommandSettings::Rerun(r) => rerun::rerun(settings, r, journal, out, narrator).await,
        CommandSettings::Wait(w) => follow::wait(settings, w, out, narrator).await,
        CommandSettings::Logs(l) => inspect::logs(settings, l, out, narrator).await,
        CommandSettings::Events(e) => inspect::events(settings, e, out, narrator).await,
        CommandSettings::Doctor(d) => diagnose::doctor(settings, d, out, narrator).await,
        CommandSettings::Lint(l) => diagnose::lint(settings, l, out, narrator),
        CommandSettings::Completion(shell) => {
            crate::complete::script(*shell, crate::invocation::get(), out);
            Ok(Exit::Ok)
        }
        CommandSettings::Version(format) => version(*format, out),
    }
}

/// How a view looks now, for these settings.
fn view(
    settings: &Settings,
    no_headers: bool,
    all_namespaces: bool,
    namespace: Option<&str>,
    compact: bool,
) -> View {
    View {
        compact,
        namespace: namespace.map(String::from),
        styles: Styles {
            color: settings.color,
        },
        now: Timestamp::now(),
        width: settings.width,
        no_headers,
        all_namespaces,
    }
}

/// Drops `value` on a thread of its own, which the returned handle joins: a
/// final view lets the snapshot it was made from go (15,000 Kustomizations
/// at 5,000 apps, freed one allocation at a time) while it is drawn. Without
/// a thread to be had, it is dropped here.
fn let_go<T: Send + 'static>(value: T) -> LetGo {
    LetGo(
        std::thread::Builder::new()
            .name("let-go".into())
            .spawn(move || drop(value))
            .ok(),
    )
}

/// Leaves `value` to the process's exit, which returns all its memory at
/// once: what a command ends with is not freed an allocation at a time
/// (10 ms for a report of 5,000 apps, as long again for its snapshot). For
/// the values a command ends with only: a process runs one command.
fn leave<T>(value: T) {
    std::mem::forget(value);
}

/// Joins the dropping thread of [`let_go`] when it goes out of scope.
struct LetGo(Option<std::thread::JoinHandle<()>>);

impl Drop for LetGo {
    fn drop(&mut self) {
        if let Some(dropping) = self.0.take() {
            // A panic while dropping has been reported by the panic hook.
            let _ = dropping.join();
        }
    }
}

/// A report or value serde could not serialize (a bug, not the user's doing).
fn unserializable(e: String) -> AppError {
    AppError::Output(std::io::Error::other(e))
}

fn exit_for(report: &ChainReport) -> Exit {
    if report.unhealthy() {
        Exit::Unhealthy
    } else if !report.warnings.is_empty() {
        Exit::Error
    } else {
        Exit::Ok
    }
}

/// `version`: this build and the APIs it speaks.
fn version(format: Format, out: &mut dyn Write) -> Result<Exit, AppError> {
    let apis = crate::cluster::SPOKEN_APIS;
    let text = match format {
        Format::Json | Format::Yaml => {
            let v = serde_json::json!({
                "version": env!("CARGO_PKG_VERSION"),
                "commit": env!("JOBGATE_GIT_COMMIT"),
                "apis": apis.iter().map(|(gv, kinds)| serde_json::json!({"groupVersion": gv, "kinds": kinds})).collect::<Vec<_>>(),
            });
            render::data(&v, format).map_err(unserializable)?
        }
        _ => {
            let mut t = format!(
                "kubectl-jobgate {} (commit {})\nSpeaks:\n",
                env!("CARGO_PKG_VERSION"),
                env!("JOBGATE_GIT_COMMIT")
            );
            for (gv, kinds) in apis {
                t.push_str(&format!("  {gv}: {}\n", kinds.join(", ")));
            }
            t
        }
    };
    out.write_all(text.as_bytes())?;
    Ok(Exit::Ok)
}

/// The namespace a single-name command acts in: `-n`, or the context's.
fn namespace_of(namespace: &Option<String>, cluster: &Cluster) -> String {
    namespace
        .clone()
        .unwrap_or_else(|| cluster.default_namespace().to_string())
}
