//! `rerun`: the plan (or only its report, `--dry-run`), the question before
//! anything is deleted, then the deletes and the follow.

use std::io::Write;

use super::follow::finish_acted;
use super::{namespace_of, unserializable};
use crate::actions;
use crate::actions::rerun::Journal;
use crate::cluster::Cluster;
use crate::error::{AppError, Exit};
use crate::narrate::Narrator;
use crate::render::{self, Format};
use crate::settings::{Confirm, RerunSettings, Settings};

pub(super) async fn rerun(
    settings: &Settings,
    r: &RerunSettings,
    journal: &Journal,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let namespace = namespace_of(&r.namespace, &cluster);
    let req = r.request(&namespace);
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
    let acted = actions::rerun::execute(&cluster, plan, &req, journal, narrator).await?;
    finish_acted(
        settings,
        r.format,
        acted,
        crate::model::Key::new(namespace.clone(), r.name.clone()),
        out,
        narrator,
    )
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
