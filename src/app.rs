//! Runs one command: connect, act, render, write; one deadline (`--timeout`)
//! over the whole of it, Ctrl-C as an outcome (exit 130), and the exit code.

use std::io::Write;

use jiff::Timestamp;

use crate::actions;
use crate::actions::follow::Outcome;
use crate::actions::rerun::Journal;
use crate::cluster::{Cluster, Scope};
use crate::error::{AppError, Exit};
use crate::events::Event;
use crate::model::analyze;
use crate::model::{Selection, Snapshot};
use crate::narrate::{Narrator, Style};
use crate::render::{self, Format, Styles, View};
use crate::report::ChainReport;
use crate::settings::{
    CommandSettings, Confirm, ReconcileSettings, RerunSettings, Settings, StatusSettings,
    WaitSettings,
};

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
        CommandSettings::Status(s) => status(settings, s, out, narrator).await,
        CommandSettings::Reconcile(r) => reconcile(settings, r, out, narrator).await,
        CommandSettings::Rerun(r) => rerun(settings, r, journal, out, narrator).await,
        CommandSettings::Wait(w) => wait(settings, w, out, narrator).await,
        CommandSettings::Completion(shell) => {
            crate::complete::script(*shell, out);
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

async fn status(
    settings: &Settings,
    st: &StatusSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let scope = settings.namespaces.scope(cluster.default_namespace());
    let found = actions::status::status(&cluster, &scope, &st.names).await?;
    for warning in &found.report.warnings {
        narrator.say(Event::Warning {
            message: warning.clone(),
        });
    }
    for note in &found.snapshot.notes {
        narrator.say(Event::Note {
            message: note.clone(),
        });
    }
    let all_namespaces = scope == Scope::All;
    if found.report.chains.is_empty() {
        let place = match &scope {
            Scope::Namespace(ns) => format!("in {ns} namespace"),
            Scope::All => "in any namespace".into(),
        };
        narrator.say(Event::Info {
            message: format!("No Flux Kustomizations found {place}."),
        });
    }
    show(
        &found.report,
        st,
        &view(
            settings,
            st.no_headers,
            all_namespaces,
            scope.namespace(),
            st.compact,
        ),
        settings.stdout_is_terminal,
        out,
    )?;
    if !st.watch {
        return Ok(exit_for(&found.report));
    }
    let mut last = found.report;
    let mut watch = cluster.watch(&scope, &found.snapshot);
    while let Some(snapshot) = watch.next().await? {
        let report = analyze(&snapshot, &found.selection);
        if report != last {
            show(
                &report,
                st,
                &view(
                    settings,
                    st.no_headers,
                    all_namespaces,
                    scope.namespace(),
                    st.compact,
                ),
                settings.stdout_is_terminal,
                out,
            )?;
            last = report;
        }
    }
    Ok(exit_for(&last))
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

/// The final result on stdout (the chains of `names`), the failure's log tail
/// on stderr, and the exit code.
fn finish(
    settings: &Settings,
    format: Format,
    snapshot: &Snapshot,
    names: Vec<(String, String)>,
    here: Option<&str>,
    failed: bool,
    out: &mut dyn Write,
) -> Result<Exit, AppError> {
    let report = analyze(
        snapshot,
        &Selection {
            namespaces: None,
            names,
        },
    );
    let text = render::render(&report, format, &view(settings, false, false, here, false))
        .map_err(unserializable)?;
    out.write_all(text.as_bytes())?;
    Ok(if failed { Exit::Unhealthy } else { Exit::Ok })
}

fn outcome(
    settings: &Settings,
    format: Format,
    result: Outcome,
    names: Vec<(String, String)>,
    here: Option<&str>,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    match result {
        Outcome::Done(snapshot) => finish(settings, format, &snapshot, names, here, false, out),
        Outcome::Failed {
            failure,
            log_tail,
            snapshot,
        } => {
            match (log_tail, &failure.job) {
                (Some(Ok(tail)), Some((ns, job))) => narrator.say(Event::JobLog {
                    job: format!("{ns}/{job}"),
                    lines: tail.lines().map(String::from).collect(),
                }),
                (Some(Err(why)), Some((ns, job))) => narrator.say(Event::JobLogUnavailable {
                    job: format!("{ns}/{job}"),
                    why: why.to_string(),
                }),
                _ => {}
            }
            finish(settings, format, &snapshot, names, here, true, out)
        }
    }
}

async fn reconcile(
    settings: &Settings,
    r: &ReconcileSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let namespace = namespace_of(&r.namespace, &cluster);
    let req = actions::reconcile::Request {
        namespace: &namespace,
        name: &r.name,
        with_source: r.with_source,
        downstream: r.downstream,
        no_wait: r.no_wait,
    };
    let names = vec![(namespace.clone(), r.name.clone())];
    match actions::reconcile::reconcile(&cluster, &req, narrator).await? {
        actions::reconcile::Reconciled::Requested(_) => Ok(Exit::Ok),
        actions::reconcile::Reconciled::Followed(result) => outcome(
            settings,
            r.format,
            result,
            names,
            Some(&namespace),
            out,
            narrator,
        ),
    }
}

async fn rerun(
    settings: &Settings,
    r: &RerunSettings,
    journal: &Journal,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    use actions::rerun::Rerun;
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let namespace = namespace_of(&r.namespace, &cluster);
    let req = actions::rerun::Request {
        namespace: &namespace,
        name: &r.name,
        jobs: &r.jobs,
        downstream: r.downstream,
        force: r.force,
        no_wait: r.no_wait,
    };
    let plan = actions::rerun::prepare(&cluster, &req).await?;
    if r.dry_run {
        let plan = plan.report();
        let text = match r.format {
            Format::Json | Format::Yaml => render::data(&plan, r.format).map_err(unserializable)?,
            _ => render::rerun_plan(&plan),
        };
        out.write_all(text.as_bytes())?;
        return Ok(Exit::Ok);
    }
    confirm(&plan, r.confirm, narrator).await?;
    let names = vec![(namespace.clone(), r.name.clone())];
    match actions::rerun::execute(&cluster, plan, &req, journal, narrator).await? {
        Rerun::Requested => Ok(Exit::Ok),
        Rerun::Followed(result) => outcome(
            settings,
            r.format,
            *result,
            names,
            Some(&namespace),
            out,
            narrator,
        ),
    }
}

/// Asks before a rerun deletes anything: on a terminal, `[y/N]` on stderr
/// (read on a thread of its own, so that Ctrl-C and `--timeout` still end
/// the command); off a terminal, only `--yes` allows it.
async fn confirm(
    plan: &actions::rerun::Plan,
    confirm: Confirm,
    narrator: &Narrator,
) -> Result<(), AppError> {
    let list: Vec<String> = plan
        .deletable()
        .map(|t| format!("job.batch/{} ({})", t.name, t.phase.as_str()))
        .collect();
    if list.is_empty() || confirm == Confirm::Given {
        return Ok(());
    }
    if confirm == Confirm::Refuse {
        return Err(AppError::Refused(format!(
            "rerun would delete {} in {}, and stdin is not a terminal to ask on: pass --yes to delete without asking (--dry-run shows the plan); nothing was deleted",
            render::sanitize(&list.join(", ")),
            plan.namespace
        )));
    }
    narrator.prompt(&format!(
        "Delete {} in {} and run again? [y/N] ",
        list.join(", "),
        plan.namespace
    ));
    let (tx, rx) = tokio::sync::oneshot::channel();
    // Not joined: a thread blocked in read_line must not keep the process alive.
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = std::io::stdin().read_line(&mut answer).map(|_| answer);
        let _ = tx.send(read);
    });
    match rx.await {
        Ok(Ok(answer)) if matches!(answer.trim(), "y" | "Y" | "yes") => Ok(()),
        _ => Err(AppError::Refused(
            "not confirmed: nothing was deleted".into(),
        )),
    }
}

async fn wait(
    settings: &Settings,
    w: &WaitSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let scope = settings.namespaces.scope(cluster.default_namespace());
    let req = actions::wait::Request {
        names: &w.names,
        all: w.all,
        revision: w.revision.clone(),
        nudge: w.nudge,
        allow_empty: w.allow_empty,
    };
    let (result, names) = actions::wait::wait(&cluster, &scope, &req, narrator).await?;
    outcome(
        settings,
        w.format,
        result,
        names,
        scope.namespace(),
        out,
        narrator,
    )
}

/// Writes one view. In watch mode machine formats are JSON Lines, and a
/// terminal is redrawn in place.
fn show(
    report: &ChainReport,
    st: &StatusSettings,
    view: &View,
    terminal: bool,
    out: &mut dyn Write,
) -> Result<(), AppError> {
    let data = matches!(st.format, Format::Json | Format::Yaml);
    let text = match (st.watch, st.format) {
        (true, Format::Json) => render::json_line(report),
        // A stream of YAML documents, as `kubectl get -w -o yaml` writes them.
        (true, Format::Yaml) => render::data(report, Format::Yaml).map(|y| format!("---\n{y}")),
        // Nothing to draw; stderr said so.
        _ if !data && report.chains.is_empty() => Ok(String::new()),
        _ => render::render(report, st.format, view),
    }
    .map_err(unserializable)?;
    let redraw = st.watch && terminal && !data;
    if redraw {
        out.write_all(b"\x1b[H\x1b[2J")?;
    }
    out.write_all(text.as_bytes())?;
    if st.watch && !redraw && !data {
        out.write_all(b"\n")?;
    }
    out.flush().map_err(AppError::Output)
}
