//! Following stages to a goal from watches (never a polling loop): every
//! snapshot the watch delivers is checked with the model's progress
//! predicates; one narration line per change goes to stderr; with `nudge`, a
//! blocked stage is asked to reconcile the moment its dependencies are done,
//! instead of waiting for Flux's dependency poll. No deadline here: the
//! caller's `--timeout` bounds the whole command.

use std::collections::HashMap;

use crate::cluster::{Cluster, NoLog, Scope, Watch};
use crate::error::AppError;
use crate::events::Event;
use crate::model::progress::{Failure, Goal, Progress, dependencies_done, progress};
use crate::model::{Key, Snapshot, Text};
use crate::narrate::Narrator;
use crate::report::StageState;

/// Lines of a failed Job's log shown when following stops on it (`status`
/// shows fewer, per Job, in its report).
const FAILURE_LOG_LINES: i64 = 10;

/// A stage to follow and what it must reach.
#[derive(Debug, Clone)]
pub struct Followed {
    pub namespace: Text,
    pub name: Text,
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

    pub fn key(&self) -> Key {
        Key::new(self.namespace.clone(), self.name.clone())
    }
}

/// How far a command that acts (`reconcile`, `rerun`) went.
pub enum Acted {
    /// `--no-wait`: done and requested, not followed.
    Requested,
    Followed(Box<Outcome>),
}

/// How following ended: every stage done, or one failed (with its Job's log
/// tail, or why there is none).
pub enum Outcome {
    Done(Snapshot),
    Failed {
        failure: Box<Failure>,
        log_tail: Option<Result<String, NoLog>>,
        snapshot: Snapshot,
    },
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
        narrator: &Narrator,
    ) -> Result<Outcome, AppError> {
        let mut stages = vec![Followed::new(ns, name, goal)];
        if downstream {
            for dependent in crate::model::progress::downstream(&self.snapshot, ns, name) {
                stages.push(Followed::new(
                    &dependent.namespace,
                    &dependent.name,
                    Goal::default(),
                ));
            }
        }
        self.follow(stages, downstream, narrator).await
    }

    /// Whether a snapshot newer than the first one came: when not, what was
    /// made of the first one still describes the cluster.
    pub fn advanced(&self) -> bool {
        self.watch.is_some()
    }

    /// Follows `stages` until all are done or one fails.
    pub async fn follow(
        self,
        stages: Vec<Followed>,
        nudge: bool,
        narrator: &Narrator,
    ) -> Result<Outcome, AppError> {
        self.follow_on(stages, nudge, narrator)
            .await
            .map(|(outcome, _)| outcome)
    }

    /// [`Follower::follow`], and whether it ever looked past the first snapshot.
    pub async fn follow_on(
        mut self,
        mut stages: Vec<Followed>,
        nudge: bool,
        narrator: &Narrator,
    ) -> Result<(Outcome, bool), AppError> {
        let cluster = self.cluster;
        // What was last said of each stage, by its place in `stages`.
        let mut said: Vec<Option<Event>> = vec![None; stages.len()];
        let mut attempts = Attempts::default();
        loop {
            let snapshot = &self.snapshot;
            let mut all_done = true;
            let followed: Vec<Key> = stages.iter().map(Followed::key).collect();
            // Only a nudge asks for the goals of a stage's dependencies.
            let goals: Vec<(Key, Goal)> = if nudge {
                stages.iter().map(|s| (s.key(), s.goal.clone())).collect()
            } else {
                vec![]
            };
            let goal_of = |ns: &str, name: &str| {
                goals
                    .iter()
                    .find(|(k, _)| k.namespace == ns && k.name == name)
                    .map(|(_, g)| g.clone())
                    .unwrap_or_default()
            };
            for (stage, said) in stages.iter_mut().zip(said.iter_mut()) {
                let key = stage.key();
                let p = progress(
                    snapshot,
                    &stage.namespace,
                    &stage.name,
                    &stage.goal,
                    &followed,
                );
                for attempt in attempts
                    .failed(cluster, snapshot, &stage.namespace, &stage.name)
                    .await
                {
                    narrator.say(attempt);
                }
                let event = event_of(&key, &p);
                if said.as_ref() != Some(&event) {
                    narrator.say(event.clone());
                    *said = Some(event);
                }
                match p {
                    Progress::Done { .. } => {}
                    Progress::Failed(failure) => {
                        let log_tail = match &failure.job {
                            Some(job) => Some(
                                cluster
                                    .job_log_tail(&job.namespace, &job.name, FAILURE_LOG_LINES)
                                    .await,
                            ),
                            None => None,
                        };
                        let advanced = self.advanced();
                        return Ok((
                            Outcome::Failed {
                                failure: Box::new(failure),
                                log_tail,
                                snapshot: self.snapshot,
                            },
                            advanced,
                        ));
                    }
                    Progress::Waiting { state, .. } => {
                        all_done = false;
                        let wake = nudge
                            && !stage.nudged
                            && state == StageState::Blocked
                            && dependencies_done(snapshot, &stage.namespace, &stage.name, goal_of);
                        if wake {
                            nudge_stage(cluster, stage, narrator).await?;
                        }
                    }
                }
            }
            if all_done {
                let advanced = self.advanced();
                return Ok((Outcome::Done(self.snapshot), advanced));
            }
            self.advance().await?;
        }
    }
}

/// What a followed stage's progress is said as.
fn event_of(key: &Key, p: &Progress) -> Event {
    match p {
        Progress::Done { revision } => Event::StageReady {
            stage: key.to_string(),
            revision: revision.clone(),
        },
        Progress::Waiting { state, why } => Event::Waiting {
            stage: key.to_string(),
            state: *state,
            why: why.clone(),
        },
        Progress::Failed(f) => Event::StageFailed {
            stage: key.to_string(),
            cause: f.blocked.as_ref().map(|_| f.stage.to_string()),
            job: f.job.as_ref().map(Key::to_string),
            reason: f.reason.clone(),
            message: f.message.clone(),
        },
    }
}

/// Asks a blocked stage whose dependencies are done to reconcile now, instead
/// of at Flux's next dependency poll; from then on it follows that request.
async fn nudge_stage(
    cluster: &Cluster,
    stage: &mut Followed,
    narrator: &Narrator,
) -> Result<(), AppError> {
    stage.nudged = true;
    let key = stage.key().to_string();
    match cluster
        .request_reconcile(&stage.namespace, &stage.name)
        .await
    {
        Ok(token) => {
            narrator.say(Event::Nudged { stage: key });
            stage.goal.token = Some(token);
            Ok(())
        }
        // A nudge is a shortcut: without the permission, Flux's own
        // dependency poll still gets there.
        Err(e) if e.is_forbidden() => {
            narrator.say(Event::NudgeRefused {
                stage: key,
                error: e.to_string(),
            });
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The failed pods of the followed stages' Jobs, counted per Job uid: each
/// new failure is said once, with the pod's exit code where it can be read
/// ("attempt 2/3 failed: exit 1"), so a Job retrying for minutes is not silent.
#[derive(Default)]
struct Attempts {
    /// Job uid → failed pods already said (or found when following began).
    seen: HashMap<Text, i64>,
}

impl Attempts {
    async fn failed(
        &mut self,
        cluster: &Cluster,
        snap: &Snapshot,
        ns: &str,
        name: &str,
    ) -> Vec<Event> {
        let Some(ks) = snap.kustomization(ns, name) else {
            return vec![];
        };
        let mut events = vec![];
        for r in ks.inventory_jobs() {
            let Some(job) = snap.job(&r.namespace, &r.name) else {
                continue;
            };
            let failed = job.status.failed;
            let uid = &job.metadata.uid;
            // Failures before following began are the past: only new ones are news.
            let before = *self.seen.entry(uid.clone()).or_insert(failed);
            if failed <= before {
                continue;
            }
            self.seen.insert(uid.clone(), failed);
            let pod = cluster.failed_pod(&r.namespace, &r.name, uid).await;
            events.push(Event::JobAttemptFailed {
                stage: format!("{ns}/{name}"),
                job: format!("{}/{}", r.namespace, r.name),
                attempt: failed,
                attempts: job.spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT) + 1,
                pod: pod.as_ref().map(|p| p.name.clone()),
                exit_code: pod.as_ref().and_then(|p| p.exit_code),
                reason: pod.and_then(|p| p.reason),
            });
        }
        events
    }
}

/// A Job's `backoffLimit` when its spec leaves it out (Kubernetes' default).
const DEFAULT_BACKOFF_LIMIT: i64 = 6;
