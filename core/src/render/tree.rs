//! `-o tree`: the dependsOn graph drawn from each chain's first stages down to
//! their dependents, Jobs as leaves. A stage reached twice (fan-in) is drawn
//! once and referred to afterwards; prefixes come from a stack of "last child"
//! flags, not string fix-ups.

use std::collections::{BTreeMap, BTreeSet};

use super::{View, sanitize, symbol};
use crate::report::{ChainReport, JobPhase, Stage, Text};

/// The report as dependsOn trees, one per chain.
pub fn render(report: &ChainReport, _view: &View) -> String {
    let mut out = String::new();
    for (i, chain) in report.chains.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let by_key: BTreeMap<Text, &Stage> = chain.stages.iter().map(|s| (s.key(), s)).collect();
        let mut dependents: BTreeMap<Text, Vec<Text>> = BTreeMap::new();
        for s in &chain.stages {
            for d in &s.depends_on {
                dependents
                    .entry(smol_str::format_smolstr!("{}/{}", d.namespace, d.name))
                    .or_default()
                    .push(s.key());
            }
        }
        // Roots: stages with no dependency inside the chain; a pure cycle has none, so its first member.
        let mut roots: Vec<&Stage> = chain
            .stages
            .iter()
            .filter(|s| {
                s.depends_on
                    .iter()
                    .all(|d| !by_key.contains_key(format!("{}/{}", d.namespace, d.name).as_str()))
            })
            .collect();
        if roots.is_empty() {
            roots.extend(chain.stages.first());
        }
        let mut drawn = BTreeSet::new();
        for root in roots {
            draw(
                &mut out,
                root,
                &by_key,
                &dependents,
                &mut drawn,
                &mut vec![],
            );
        }
        // Stages only reachable through a cycle.
        for s in &chain.stages {
            if !drawn.contains(&s.key()) {
                draw(&mut out, s, &by_key, &dependents, &mut drawn, &mut vec![]);
            }
        }
    }
    out
}

fn prefix(lasts: &[bool]) -> String {
    let mut p = String::new();
    if let Some((last, parents)) = lasts.split_last() {
        for &parent_last in parents {
            p.push_str(if parent_last { "    " } else { "│   " });
        }
        p.push_str(if *last { "└── " } else { "├── " });
    }
    p
}

fn label(s: &Stage) -> String {
    let mut l = format!(
        "{} [{}] {} {}",
        s.key(),
        super::role(s),
        symbol(s.state),
        s.state.as_str()
    );
    if let Some(reason) = &s.reason {
        l.push_str(&format!(" ({reason})"));
    }
    sanitize(&l)
}

fn draw(
    out: &mut String,
    stage: &Stage,
    by_key: &BTreeMap<Text, &Stage>,
    dependents: &BTreeMap<Text, Vec<Text>>,
    drawn: &mut BTreeSet<Text>,
    lasts: &mut Vec<bool>,
) {
    let key = stage.key();
    if !drawn.insert(key.clone()) {
        out.push_str(&format!(
            "{}{} (shown above)\n",
            prefix(lasts),
            sanitize(&key)
        ));
        return;
    }
    out.push_str(&format!("{}{}\n", prefix(lasts), label(stage)));
    let children: Vec<&Stage> = dependents
        .get(&key)
        .into_iter()
        .flatten()
        .filter_map(|k| by_key.get(k).copied())
        .collect();
    let total = stage.jobs.len() + children.len();
    for (i, job) in stage.jobs.iter().enumerate() {
        lasts.push(i + 1 == total);
        let reason = job
            .reason
            .as_deref()
            .filter(|_| job.phase != JobPhase::Succeeded)
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        // As the table names it: bare in its stage's namespace, qualified elsewhere.
        let name = if job.namespace == stage.namespace {
            job.name.to_string()
        } else {
            format!("{}/{}", job.namespace, job.name)
        };
        out.push_str(&format!(
            "{}job/{} {}{}\n",
            prefix(lasts),
            sanitize(&name),
            job.phase.as_str(),
            sanitize(&reason)
        ));
        lasts.pop();
    }
    for (i, child) in children.iter().enumerate() {
        lasts.push(stage.jobs.len() + i + 1 == total);
        draw(out, child, by_key, dependents, drawn, lasts);
        lasts.pop();
    }
}
