//! Every finding jobgate knows, with its stable code: the codes are a
//! contract (CI pipelines filter on them), added to and never renumbered.

use super::Severity;

/// A finding's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    TtlAfterFinished,
    JobNotForced,
    JobNotWaited,
    TimeoutShorterThanJob,
    MixedSources,
    PreStageNotDependedOn,
    PostStageNotAfterDeploy,
    JobImageTagDiffers,
    JobGenerateName,
    DependencyCycle,
    DependencyMissing,
    ReadyExpr,
    KubectlFieldManager,
    DependencyPollCost,
    HealthCheckCanceled,
    NamespaceNotSpecified,
    JobGone,
    PathNotFound,
}

/// What a code means: the same for every finding of that code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    pub code: Code,
    pub id: &'static str,
    pub name: &'static str,
    /// The usual severity; some checks lower it where less is at stake.
    pub severity: Severity,
    pub why: &'static str,
    pub reference: &'static str,
}

/// All checks, in code order: `CATALOG[code as usize]` is the code's (a test
/// holds it so).
pub const CATALOG: &[Check] = &[
    Check {
        code: Code::TtlAfterFinished,
        id: "JG001",
        name: "ttl-after-finished",
        severity: Severity::Error,
        why: "once the Job is deleted after it finishes, Flux sees its inventory object missing and applies it again: the Job runs again at every reconcile",
        reference: "https://github.com/fluxcd/kustomize-controller/issues/1578",
    },
    Check {
        code: Code::JobNotForced,
        id: "JG002",
        name: "job-not-forced",
        severity: Severity::Error,
        why: "a Job's pod template is immutable: without force, a new image tag fails the stage with \"field is immutable\" instead of re-running the Job",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#force",
    },
    Check {
        code: Code::JobNotWaited,
        id: "JG003",
        name: "job-not-waited",
        severity: Severity::Error,
        why: "without wait: true or a health check on the Job, the stage is Ready as soon as the Job is created, and the stages after it do not wait for it to succeed",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#wait",
    },
    Check {
        code: Code::TimeoutShorterThanJob,
        id: "JG004",
        name: "timeout-shorter-than-job",
        severity: Severity::Warning,
        why: "Flux stops waiting at the stage's timeout (its interval when unset) and fails the stage while the Job may still succeed on a retry",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#timeout",
    },
    Check {
        code: Code::MixedSources,
        id: "JG005",
        name: "mixed-sources",
        severity: Severity::Warning,
        why: "Flux holds a dependent back until its dependency applied the same revision only when both use the same source: with two sources the deploy can run before the migration re-ran",
        reference: "https://github.com/fluxcd/flux2/issues/5076",
    },
    Check {
        code: Code::PreStageNotDependedOn,
        id: "JG006",
        name: "pre-stage-not-depended-on",
        severity: Severity::Warning,
        why: "nothing depends on this stage of Jobs, so the deploy runs whether or not they succeeded",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#dependencies",
    },
    Check {
        code: Code::PostStageNotAfterDeploy,
        id: "JG007",
        name: "post-stage-not-after-deploy",
        severity: Severity::Warning,
        why: "a post-deploy stage that does not depend on the deploy runs its Jobs before the new version is out",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#dependencies",
    },
    Check {
        code: Code::JobImageTagDiffers,
        id: "JG008",
        name: "job-image-tag-differs",
        severity: Severity::Warning,
        why: "a Job re-runs when its spec changes: with the app's image and tag, a release re-runs it; with another tag it runs against the wrong version, or not at all",
        reference: "https://fluxcd.io/flux/use-cases/running-jobs/",
    },
    Check {
        code: Code::JobGenerateName,
        id: "JG009",
        name: "job-generate-name",
        severity: Severity::Error,
        why: "Flux applies objects by name: a Job with generateName cannot be applied with server-side apply nor tracked in the inventory",
        reference: "https://kubernetes.io/docs/reference/using-api/server-side-apply/",
    },
    Check {
        code: Code::DependencyCycle,
        id: "JG010",
        name: "dependency-cycle",
        severity: Severity::Error,
        why: "stages that depend on each other wait for each other forever: none of them is ever applied again",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#dependencies",
    },
    Check {
        code: Code::DependencyMissing,
        id: "JG011",
        name: "dependency-missing",
        severity: Severity::Error,
        why: "Flux retries a dependency that does not exist forever: the stage and everything after it are blocked",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#dependencies",
    },
    Check {
        code: Code::ReadyExpr,
        id: "JG012",
        name: "ready-expr",
        severity: Severity::Info,
        why: "a readyExpr replaces Flux's readiness check of the dependency: jobgate shows it but cannot evaluate it, so its view of that edge may differ from Flux's",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#dependency-ready-expression",
    },
    Check {
        code: Code::KubectlFieldManager,
        id: "JG013",
        name: "kubectl-field-manager",
        severity: Severity::Warning,
        why: "Flux removes the fields written by managers whose name starts with kubectl when its parent Kustomization applies this object again: the change is silently undone",
        reference: "https://fluxcd.io/flux/faq/#why-are-kubectl-edits-rolled-back-by-flux",
    },
    Check {
        code: Code::DependencyPollCost,
        id: "JG014",
        name: "dependency-poll-cost",
        severity: Severity::Info,
        why: "a stage whose dependency is not ready is retried at kustomize-controller's --requeue-dependency interval (30s by default): each edge can add that much idle time to a release",
        reference: "https://fluxcd.io/flux/components/kustomize/options/#flags",
    },
    Check {
        code: Code::HealthCheckCanceled,
        id: "JG015",
        name: "health-check-canceled",
        severity: Severity::Info,
        why: "a new revision canceled the stage's health checks (CancelHealthCheckOnNewRevision): it is applied again on the new revision, and a Job it was waiting for may still be running",
        reference: "https://fluxcd.io/flux/components/kustomize/options/#feature-gates",
    },
    Check {
        code: Code::NamespaceNotSpecified,
        id: "JG016",
        name: "namespace-not-specified",
        severity: Severity::Error,
        why: "kustomize-controller refuses a namespaced object without a namespace (\"namespace not specified\") unless the Kustomization sets targetNamespace",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#target-namespace",
    },
    Check {
        code: Code::JobGone,
        id: "JG017",
        name: "job-gone",
        severity: Severity::Warning,
        why: "Flux applies a missing inventory object again at the next reconcile: a Job deleted by a TTL or by hand runs again",
        reference: "https://github.com/fluxcd/kustomize-controller/issues/1578",
    },
    Check {
        code: Code::PathNotFound,
        id: "JG018",
        name: "path-not-found",
        severity: Severity::Error,
        why: "kustomize-controller fails the stage (\"kustomization path not found\") and every stage after it waits",
        reference: "https://fluxcd.io/flux/components/kustomize/kustomizations/#path",
    },
];

impl Code {
    pub fn check(self) -> &'static Check {
        &CATALOG[self as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_in_code_order_with_unique_ids() {
        for (i, c) in CATALOG.iter().enumerate() {
            assert_eq!(c.code as usize, i, "{} is at its code's place", c.id);
            assert_eq!(c.id, format!("JG{:03}", i + 1));
        }
        let mut names: Vec<_> = CATALOG.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
    }
}
