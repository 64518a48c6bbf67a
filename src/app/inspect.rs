//! `logs` and `events`: read what a stage left behind, write it in the
//! chosen view (stdout), say on stderr what could not be read (exit 2).

use std::io::Write;

use jiff::Timestamp;

use super::{namespace_of, unserializable};
use crate::actions;
use crate::actions::logs::Followed;
use crate::cluster::Cluster;
use crate::error::{AppError, Exit};
use crate::events::Event;
use crate::narrate::Narrator;
use crate::render::timeline::{self, Columns};
use crate::render::{self, Format, Styles};
use crate::settings::{EventsSettings, LogsSettings, Settings};

pub(super) async fn logs(
    settings: &Settings,
    l: &LogsSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let mut req = l.request.clone();
    req.namespace = namespace_of(&l.namespace, &cluster);
    if l.follow {
        return Ok(
            match actions::logs::follow(&cluster, &req, out, narrator).await? {
                Followed::Finished => Exit::Ok,
                Followed::Partial => Exit::Error,
            },
        );
    }
    let report = actions::logs::read(&cluster, &req).await?;
    let text = match l.format {
        Format::Json | Format::Yaml => render::data(&report, l.format).map_err(unserializable)?,
        _ => render::logs::text(&report),
    };
    out.write_all(text.as_bytes())?;
    let missing = report.unavailable();
    for why in &missing {
        narrator.say(Event::Warning {
            message: why.clone(),
        });
    }
    Ok(if missing.is_empty() {
        Exit::Ok
    } else {
        Exit::Error
    })
}

pub(super) async fn events(
    settings: &Settings,
    e: &EventsSettings,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Exit, AppError> {
    let cluster = Cluster::connect(&settings.kube, narrator).await?;
    let req = actions::events::Request {
        namespace: namespace_of(&e.namespace, &cluster),
        name: e.name.clone(),
        for_chain: e.for_chain,
    };
    let found = actions::events::read(&cluster, &req).await?;
    let report = &found.report;
    for w in &report.warnings {
        narrator.say(Event::Warning { message: w.clone() });
    }
    let namespaces: std::collections::BTreeSet<&str> =
        report.events.iter().map(|e| e.namespace.as_str()).collect();
    let columns = Columns {
        namespace: namespaces.len() > 1,
        no_headers: e.no_headers,
        styles: Styles {
            color: settings.color,
        },
    };
    let now = Timestamp::now();
    let mut partial = !report.warnings.is_empty();
    match (e.format, e.watch) {
        (Format::Json, true) => {
            for ev in &report.events {
                out.write_all(line(ev)?.as_bytes())?;
            }
        }
        (Format::Json | Format::Yaml, _) => out.write_all(
            render::data(report, e.format)
                .map_err(unserializable)?
                .as_bytes(),
        )?,
        _ if report.events.is_empty() => narrator.say(Event::Info {
            message: format!(
                "no Events of {} (Kubernetes keeps Events for an hour by default)",
                report.stages.join(", ")
            ),
        }),
        _ => out.write_all(timeline::table(now, &report.events, columns).as_bytes())?,
    }
    if !e.watch {
        return Ok(if partial { Exit::Error } else { Exit::Ok });
    }
    out.flush()?;
    // Rows as they come, in the widths of the first table (or kubectl's own).
    let mut widths = timeline::widths(now, &report.events, columns);
    let mut headed = !report.events.is_empty() || e.no_headers;
    let mut follow = actions::events::Follow::start(&cluster, &found);
    while let Some(next) = follow.next().await? {
        match next {
            Ok(ev) => {
                let text = match e.format {
                    Format::Json => line(&ev)?,
                    Format::Yaml => format!(
                        "---\n{}",
                        render::data(&ev, Format::Yaml).map_err(unserializable)?
                    ),
                    _ => {
                        let now = Timestamp::now();
                        let mut text = String::new();
                        if !headed {
                            widths = timeline::widths(now, std::slice::from_ref(&ev), columns);
                            text.push_str(&timeline::header_line(&widths, columns));
                            headed = true;
                        }
                        text.push_str(&timeline::row(now, &ev, &widths, columns));
                        text
                    }
                };
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
            Err(why) => {
                partial = true;
                narrator.say(Event::Warning { message: why });
            }
        }
    }
    Ok(if partial { Exit::Error } else { Exit::Ok })
}

fn line(ev: &crate::timeline::Occurrence) -> Result<String, AppError> {
    serde_json::to_string(ev)
        .map(|s| s + "\n")
        .map_err(|e| unserializable(e.to_string()))
}
