//! Following stages to a goal from watches (never a polling loop): every
//! snapshot the watch delivers is checked with the model's progress
//! predicates; one narration line per change goes to stderr; with `nudge`, a
//! blocked stage is asked to reconcile the moment its dependencies are done,
//! instead of waiting for Flux's dependency poll. No deadline here: the
//! caller's `--timeout` bounds the whole command.

use std::collections::HashMap;
use std::io::Write;

use crate::cluster::{Cluster, NoLog, Scope, Watch};
use crate::error::AppError;
use crate::model::Snapshot;
use crate::model::progress::{Failure, Goal, Progress, dependencies_done, progress};
use crate::render::{sanitize, short_revision};
use crate::report::StageState;

/// Lines of a failed Job's log shown when following stops on it (`status`
/// shows fewer, per Job, in its report).
const FAILURE_LOG_LINES: i64 = 10;

/// A stage to follow and what it must reach.
#[derive(Debug, Clone)]
pub struct Followed {
    pub namespace: String,
    pub name: String,
    pub goal: Goal,
    pub nudged: bool,
}

impl Followed {
    pub fn new(namespace: &str, name: &str, goal: Goal) -> Self {
        Followed {
            namespace: namespace.into(),
            name: name.into(),
            goal,
            nudged: false,
        }
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// How following ended: every stage done, or one failed (with its Job's log
/// tail, or why there is none).
pub enum Outcome {
    Done(Snapshot),
    Failed {
        failure: Failure,
        log_tail: Option<Result<String, NoLog>>,
        snapshot: Snapshot,
    },
}

/// One line of narration on stderr, with what a terminal would interpret escaped
/// (names and messages come from the cluster).
pub(super) fn narrate(err: &mut dyn Write, line: &str) -> Result<(), AppError> {
    Ok(writeln!(err, "{}", sanitize(line))?)
}

/// One watch over the cluster for a whole command, and the latest snapshot
/// it gave: the phases of a command (deletions gone, source fetched, stages
/// followed) share it instead of each listing everything again.
pub struct Follower<'c> {
    cluster: &'c Cluster,
    scope: Scope,
    watch: Option<Watch>,
    pub snapshot: Snapshot,
}

impl<'c> Follower<'c> {
    pub fn new(cluster: &'c Cluster, scope: &Scope, first: Snapshot) -> Self {
        Follower {
            cluster,
            scope: scope.clone(),
            watch: None,
            snapshot: first,
        }
    }

    /// The next snapshot worth looking at (the watch opens on first use).
    async fn advance(&mut self) -> Result<(), AppError> {
        let (cluster, scope, first) = (self.cluster, &self.scope, &self.snapshot);
        let watch = self
            .watch
            .get_or_insert_with(|| cluster.watch(scope, first));
        match watch.next().await? {
            Some(s) => {
                self.snapshot = s;
                Ok(())
            }
            None => Err(AppError::Usage(
                "the watch on the cluster ended unexpectedly: run the command again (what it already did is said above)".into(),
            )),
        }
    }

    /// Waits until `done` holds (for deletions and source requests).
    pub async fn until(&mut self, done: impl Fn(&Snapshot) -> bool) -> Result<(), AppError> {
        while !done(&self.snapshot) {
            self.advance().await?;
        }
        Ok(())
    }

    /// Follows the stage `ns/name` to `goal` and, with `downstream`, its
    /// dependents after it (to their source's revision, each nudged as its
    /// dependencies become ready): what `reconcile` and `rerun` end with.
    pub async fn follow_stage(
        self,
        ns: &str,
        name: &str,
        goal: Goal,
        downstream: bool,
        err: &mut dyn Write,
    ) -> Result<Outcome, AppError> {
        let mut stages = vec![Followed::new(ns, name, goal)];
        if downstream {
            for (dns, dname) in crate::model::progress::downstream(&self.snapshot, ns, name) {
                stages.push(Followed::new(&dns, &dname, Goal::default()));
            }
        }
        self.follow(stages, downstream, err).await
    }

    /// Follows `stages` until all are done or one fails.
    pub async fn follow(
        mut self,
        mut stages: Vec<Followed>,
        nudge: bool,
        err: &mut dyn Write,
    ) -> Result<Outcome, AppError> {
        let cluster = self.cluster;
        let mut said: HashMap<String, String> = HashMap::new();
        loop {
            let snapshot = &self.snapshot;
            let mut all_done = true;
            let followed: Vec<(String, String)> = stages
                .iter()
                .map(|s| (s.namespace.clone(), s.name.clone()))
                .collect();
            let goals: Vec<(String, String, Goal)> = stages
                .iter()
                .map(|s| (s.namespace.clone(), s.name.clone(), s.goal.clone()))
                .collect();
            let goal_of = |ns: &str, name: &str| {
                goals
                    .iter()
                    .find(|(n, m, _)| n == ns && m == name)
                    .map(|(_, _, g)| g.clone())
                    .unwrap_or_default()
            };
            for stage in stages.iter_mut() {
                let key = stage.key();
                let p = progress(
                    snapshot,
                    &stage.namespace,
                    &stage.name,
                    &stage.goal,
                    &followed,
                );
                let line = match &p {
                    Progress::Done { revision } => {
                        format!("✔ {key}: ready at {}", short_revision(revision))
                    }
                    Progress::Waiting { state, why } => {
                        format!("◎ {key}: {}: {why}", state.as_str())
                    }
                    // Cause first, then its words: "blocked by X, whose Job J failed: R: M".
                    Progress::Failed(f) => match (&f.blocked, &f.job) {
                        (Some(_), Some((ns, job))) => format!(
                            "✗ {key}: blocked by {}, whose Job {ns}/{job} failed: {}: {}",
                            f.stage, f.reason, f.message
                        ),
                        (Some(_), None) => format!(
                            "✗ {key}: blocked by {}: {}: {}",
                            f.stage, f.reason, f.message
                        ),
                        (None, Some((ns, job))) => format!(
                            "✗ {key}: Job {ns}/{job} failed: {}: {}",
                            f.reason, f.message
                        ),
                        (None, None) => format!("✗ {key}: {}: {}", f.reason, f.message),
                    },
                };
                if said.get(&key) != Some(&line) {
                    narrate(err, &line)?;
                    said.insert(key.clone(), line);
                }
                match p {
                    Progress::Done { .. } => {}
                    Progress::Failed(failure) => {
                        let log_tail = match &failure.job {
                            Some((ns, job)) => {
                                Some(cluster.job_log_tail(ns, job, FAILURE_LOG_LINES).await)
                            }
                            None => None,
                        };
                        return Ok(Outcome::Failed {
                            failure,
                            log_tail,
                            snapshot: self.snapshot,
                        });
                    }
                    Progress::Waiting { state, .. } => {
                        all_done = false;
                        let wake = nudge
                            && !stage.nudged
                            && state == StageState::Blocked
                            && dependencies_done(snapshot, &stage.namespace, &stage.name, goal_of);
                        if wake {
                            stage.nudged = true;
                            match cluster
                                .request_reconcile(&stage.namespace, &stage.name)
                                .await
                            {
                                Ok(token) => {
                                    narrate(
                                        err,
                                        &format!(
                                            "► {key}: dependencies ready, reconcile requested (no dependency poll)"
                                        ),
                                    )?;
                                    stage.goal.token = Some(token);
                                }
                                // A nudge is a shortcut: without the permission, Flux's own
                                // dependency poll still gets there.
                                Err(e) if e.is_forbidden() => narrate(
                                    err,
                                    &format!(
                                        "◎ {key}: cannot nudge it ({e}); waiting for Flux's dependency poll instead"
                                    ),
                                )?,
                                Err(e) => return Err(e.into()),
                            }
                        }
                    }
                }
            }
            if all_done {
                return Ok(Outcome::Done(self.snapshot));
            }
            self.advance().await?;
        }
    }
}
