//! `doctor` and `lint`: find the pitfalls (in the cluster, in a checkout),
//! write the one report in the chosen view, exit 1 on an error-level finding.

use std::io::Write;

use super::unserializable;
use crate::actions;
use crate::cluster::Cluster;
use crate::diagnose::{Diagnosis, repo};
use crate::error::{AppError, Exit};
use crate::events::Event;
use crate::narrate::Narrator;
use crate::render::{self, Format, Styles};
use crate::settings::{DoctorSettings, FindingsView, LintSettings, Settings};

pub(super) async fn doctor(
    settings: &Settings,
    d: &DoctorSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let scope = settings.namespaces.scope(cluster.default_namespace());
    let diagnosis = actions::doctor::doctor(&cluster, &scope, &d.names).await?;
    for n in &diagnosis.not_checked {
        narrator.say(Event::Warning {
            message: format!("not checked: {}: {}", n.what, n.why),
        });
    }
    let view = match d.format {
        Format::Json => FindingsView::Json,
        Format::Yaml => FindingsView::Yaml,
        _ => FindingsView::Text,
    };
    let exit = write(&diagnosis, view, settings, out, narrator)?;
    // A partial check is not a clean bill, as a partial status is not.
    Ok(match exit {
        Exit::Ok if !diagnosis.not_checked.is_empty() => Exit::Error,
        exit => exit,
    })
}

pub(super) fn lint(
    settings: &Settings,
    l: &LintSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let files = crate::checkout::read(&l.root).map_err(AppError::Repository)?;
    // Where the Flux Kustomizations are looked for, relative to the root.
    let within = relative(&l.root, &l.path)?;
    let subject = repo::render(&files, &within).map_err(|e| {
        AppError::Repository(match e {
            repo::RepoError::Yaml(y) => format!(
                "{}: {y}. Fix the YAML; nothing was checked",
                l.root.display()
            ),
            e => format!("{}: {e}. Pass the directory that holds the Flux manifests (and --root for the repository they point into)", l.path.display()),
        })
    })?;
    let diagnosis = crate::diagnose::diagnose(&subject, &Default::default());
    write(&diagnosis, l.view, settings, out, narrator)
}

/// `path` relative to `root`, `/`-separated (`""`: the root itself).
fn relative(root: &std::path::Path, path: &std::path::Path) -> Result<String, AppError> {
    let canon = |p: &std::path::Path| {
        p.canonicalize()
            .map_err(|e| AppError::Repository(format!("cannot read {}: {e}", p.display())))
    };
    let (root_c, path_c) = (canon(root)?, canon(path)?);
    let rel = path_c.strip_prefix(&root_c).map_err(|_| {
        AppError::Usage(format!(
            "{} is not inside --root {}: the Kustomizations' paths are relative to the repository's root",
            path.display(),
            root.display()
        ))
    })?;
    Ok(rel.to_string_lossy().replace('\\', "/"))
}

fn write(
    diagnosis: &Diagnosis,
    view: FindingsView,
    settings: &Settings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let text = match view {
        FindingsView::Json => render::data(diagnosis, Format::Json).map_err(unserializable)?,
        FindingsView::Yaml => render::data(diagnosis, Format::Yaml).map_err(unserializable)?,
        FindingsView::Github => {
            // The counts still reach the log, on stderr.
            narrator.say(Event::Info {
                message: summary(diagnosis),
            });
            render::findings::github(diagnosis)
        }
        FindingsView::Text => render::findings::text(
            diagnosis,
            Styles {
                color: settings.color,
            },
        ),
    };
    out.write_all(text.as_bytes())?;
    Ok(if diagnosis.failed() {
        Exit::Unhealthy
    } else {
        Exit::Ok
    })
}

fn summary(d: &Diagnosis) -> String {
    let s = d.summary;
    format!(
        "{} stage(s) checked: {} error(s), {} warning(s), {} info(s)",
        d.stages.len(),
        s.errors,
        s.warnings,
        s.infos
    )
}
