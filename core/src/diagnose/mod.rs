//! `doctor` and `lint`: the configuration pitfalls of Job-gated chains, found
//! in what a cluster holds (`doctor`) or in what a repository would apply
//! (`lint`). Both build a [`Subject`] — Flux Kustomizations with the objects
//! each applies — and [`diagnose`] checks it; the findings are one versioned
//! report ([`Diagnosis`]) that every output format renders.
//!
//! Dependencies point down this list and never up:
//! - `repo`: a Git checkout (its files, read by the caller) rendered as
//!   kustomize-controller would, without kustomize: the `lint` subject;
//! - `checks`: the checks, one function each, over a subject;
//! - `catalog`: each finding's code, severity, why it matters and its fix;
//! - `subject`: what is checked.

mod catalog;
mod checks;
pub mod repo;
mod subject;

use serde::Serialize;

pub use catalog::{CATALOG, Check, Code};
pub use checks::diagnose;
pub use subject::{Location, Manifest, NotChecked, Subject};

/// How much a finding matters: errors fail `doctor` and `lint` (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One pitfall found on one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The stable code, `JG001`...
    pub code: &'static str,
    /// The check's name, `ttl-after-finished`...
    pub check: &'static str,
    pub severity: Severity,
    /// The object it is about: `Kind namespace/name`.
    pub object: String,
    /// The stage (Flux Kustomization) it belongs to, `namespace/name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// What was found, in one sentence.
    pub message: String,
    /// Why it matters.
    pub why: &'static str,
    /// The Flux issue or document it comes from.
    pub reference: &'static str,
    /// What to do.
    pub fix: String,
    /// YAML that fixes it, where one helps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// Where it is written (lint).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// The report of `doctor` (`kind: DoctorReport`) and `lint` (`kind: LintReport`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diagnosis {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// Stages looked at, `namespace/name`.
    pub stages: Vec<String>,
    pub findings: Vec<Finding>,
    /// What could not be checked, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<NotChecked>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Diagnosis {
    pub fn new(
        kind: &'static str,
        stages: Vec<String>,
        mut findings: Vec<Finding>,
        not_checked: Vec<NotChecked>,
    ) -> Self {
        findings.sort_by(|a, b| {
            (a.severity, &a.stage, a.code, &a.object)
                .cmp(&(b.severity, &b.stage, b.code, &b.object))
        });
        findings.dedup();
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        let summary = Summary {
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            infos: count(Severity::Info),
        };
        Diagnosis {
            api_version: crate::report::API_VERSION,
            kind,
            stages,
            findings,
            not_checked,
            summary,
        }
    }

    /// Any error-level finding: exit 1.
    pub fn failed(&self) -> bool {
        self.summary.errors > 0
    }

    /// Calls `f` on every piece of text that came from the cluster or the
    /// repository, so a view can make it safe to print.
    pub fn for_each_text(&mut self, f: &mut impl FnMut(&mut String)) {
        self.stages.iter_mut().for_each(&mut *f);
        for x in &mut self.findings {
            f(&mut x.object);
            if let Some(s) = &mut x.stage {
                f(s);
            }
            f(&mut x.message);
            f(&mut x.fix);
            if let Some(s) = &mut x.snippet {
                f(s);
            }
            if let Some(l) = &mut x.location {
                f(&mut l.file);
            }
        }
        for n in &mut self.not_checked {
            f(&mut n.what);
            f(&mut n.why);
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod robustness;
