//! `logs NAME`: the logs of the Jobs a stage applied (its inventory), one
//! header per pod, newest run first; with `-f`, the running pod's log as it
//! is written, then the retries that replace it, until each Job finishes.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use futures::StreamExt;

use crate::cluster::{Change, Cluster, LogRequest, Scope};
use crate::error::AppError;
use crate::events::Event;
use crate::logs::{self, ContainerLog, JobLogs, LogsReport, Pod, PodLogs};
use crate::model::{Job, Snapshot};
use crate::narrate::Narrator;
use crate::render::logs as view;
use crate::report::JobPhase;

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub namespace: String,
    pub name: String,
    pub jobs: Vec<String>,
    pub tail: Option<i64>,
    pub since: Option<std::time::Duration>,
    pub previous: bool,
    pub all_pods: bool,
    pub container: Option<String>,
}

/// A Job of the stage, as the snapshot saw it (`None`: in the inventory, gone).
struct Target {
    namespace: String,
    name: String,
    job: Option<Job>,
}

/// The stage's Jobs that `req` names, checked: the stage exists and has
/// Jobs, and every `--job` is one of them.
fn targets(snap: &Snapshot, req: &Request) -> Result<Vec<Target>, AppError> {
    let ks = crate::model::find(snap, &req.namespace, &req.name)
        .map_err(|e| AppError::unselectable(e, "its Jobs' logs can still be read"))?;
    let key = format!("{}/{}", req.namespace, req.name);
    let inventory = ks.inventory_jobs();
    if inventory.is_empty() {
        return Err(AppError::Refused(format!(
            "{key} has no Jobs in its inventory, so there are no Job logs to show (a stage that failed before applying has an empty inventory: `{jobgate} status {}` says why). For its Events: `{jobgate} events {} -n {}`",
            req.name,
            req.name,
            req.namespace,
            jobgate = crate::invocation::command()
        )));
    }
    for wanted in &req.jobs {
        if !inventory.iter().any(|r| r.name == *wanted) {
            let names: Vec<&str> = inventory.iter().map(|r| r.name.as_str()).collect();
            return Err(AppError::Usage(format!(
                "Job \"{wanted}\" is not in the inventory of {key}; its Jobs are: {}",
                names.join(", ")
            )));
        }
    }
    Ok(inventory
        .into_iter()
        .filter(|r| req.jobs.is_empty() || req.jobs.iter().any(|j| *j == r.name))
        .map(|r| Target {
            job: snap.job(&r.namespace, &r.name).cloned(),
            namespace: r.namespace.to_string(),
            name: r.name.to_string(),
        })
        .collect())
}

/// The containers of a pod to read: `-c`, or all of them.
fn containers<'a>(pod: &'a Pod, wanted: Option<&'a str>) -> Result<Vec<&'a str>, String> {
    let all = pod.containers();
    match wanted {
        Some(c) if all.contains(&c) => Ok(vec![c]),
        Some(c) => Err(format!(
            "pod {} has no container \"{c}\"; its containers are: {}",
            pod.metadata.name,
            all.join(", ")
        )),
        None => Ok(all),
    }
}

fn request(req: &Request, container: &str, tail: Option<i64>) -> LogRequest {
    LogRequest {
        container: container.to_string(),
        tail,
        since: req.since,
        previous: req.previous,
    }
}

fn job_logs(t: &Target, job: &Job, attempts: usize) -> JobLogs {
    let (phase, _) = job.phase();
    JobLogs {
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        uid: job.metadata.uid.to_string(),
        phase,
        finished_at: finished_at(job),
        attempts,
        pods: vec![],
        unavailable: None,
    }
}

fn finished_at(job: &Job) -> Option<String> {
    match job.phase() {
        (JobPhase::Succeeded | JobPhase::Failed, cond) => job
            .status
            .completion_time
            .as_deref()
            .or_else(|| cond.and_then(|c| c.last_transition_time.as_deref()))
            .map(String::from),
        _ => None,
    }
}

fn gone(t: &Target) -> JobLogs {
    JobLogs {
        namespace: t.namespace.clone(),
        name: t.name.clone(),
        uid: String::new(),
        phase: JobPhase::Gone,
        finished_at: None,
        attempts: 0,
        pods: vec![],
        unavailable: Some(logs::job_gone(&format!("{}/{}", t.namespace, t.name))),
    }
}

/// Reads the logs once (no `-f`).
pub async fn read(cluster: &Cluster, req: &Request) -> Result<LogsReport, AppError> {
    let snap = cluster
        .snapshot(&Scope::Namespace(req.namespace.clone()))
        .await?;
    let mut jobs = vec![];
    for t in targets(&snap, req)? {
        let Some(job) = &t.job else {
            jobs.push(gone(&t));
            continue;
        };
        let key = format!("{}/{}", t.namespace, t.name);
        let pods = match cluster
            .job_pods(&t.namespace, &t.name, &job.metadata.uid)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                let mut j = job_logs(&t, job, 0);
                j.unavailable = Some(format!("the pods of Job {key} could not be listed: {e}"));
                jobs.push(j);
                continue;
            }
        };
        let mut j = job_logs(&t, job, pods.len());
        if pods.is_empty() {
            j.unavailable = Some(logs::no_pods(
                &key,
                j.phase,
                j.finished_at.as_deref(),
                job.spec.ttl_seconds_after_finished,
            ));
        }
        let shown = if req.all_pods { pods.len() } else { 1 };
        for (i, pod) in pods.iter().enumerate().rev().take(shown) {
            j.pods.push(pod_logs(cluster, req, pod, i + 1).await);
        }
        jobs.push(j);
    }
    Ok(LogsReport::new(
        format!("{}/{}", req.namespace, req.name),
        jobs,
    ))
}

/// One pod's header and its containers' logs (or why not).
async fn pod_logs(cluster: &Cluster, req: &Request, pod: &Pod, attempt: usize) -> PodLogs {
    let mut p = PodLogs::of(pod, attempt);
    let name = &pod.metadata.name;
    let ns = &pod.metadata.namespace;
    let wanted = match containers(pod, req.container.as_deref()) {
        Ok(c) => c,
        Err(why) => {
            p.containers.push(ContainerLog {
                name: req.container.clone().unwrap_or_default(),
                log: None,
                unavailable: Some(why),
            });
            return p;
        }
    };
    for c in wanted {
        let unavailable = |why: String| ContainerLog {
            name: c.to_string(),
            log: None,
            unavailable: Some(why),
        };
        if let Some(w) = pod.waiting(c).filter(|_| !pod.started(c)) {
            p.containers
                .push(unavailable(logs::not_started(name, c, w)));
            continue;
        }
        match cluster
            .container_log(ns, name, &request(req, c, req.tail))
            .await
        {
            Ok(log) => p.containers.push(ContainerLog {
                name: c.to_string(),
                log: Some(log),
                unavailable: None,
            }),
            Err(why) => p.containers.push(unavailable(format!(
                "the log of container {c} of pod {name} could not be read: {why}"
            ))),
        }
    }
    p
}

/// How following ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Followed {
    /// Every Job finished, its last pod's log read to the end.
    Finished,
    /// A Job, its pods or a log could not be followed (said on stderr).
    Partial,
}

/// `-f`: every chosen Job followed at once, lines prefixed with the Job
/// (and the container) when there are several.
pub async fn follow(
    cluster: &Cluster,
    req: &Request,
    out: &mut dyn Write,
    narrator: &Narrator,
) -> Result<Followed, AppError> {
    let snap = cluster
        .snapshot(&Scope::Namespace(req.namespace.clone()))
        .await?;
    let targets = targets(&snap, req)?;
    let several = targets.len() > 1;
    let out = RefCell::new(out);
    let followers = targets
        .iter()
        .map(|t| follow_job(cluster, req, t, several, &out, narrator));
    let mut ended = Followed::Finished;
    for r in futures::future::join_all(followers).await {
        if r? == Followed::Partial {
            ended = Followed::Partial;
        }
    }
    Ok(ended)
}

/// Writes lines to the shared output (never across an await).
fn emit(out: &RefCell<&mut dyn Write>, text: &str) -> Result<(), AppError> {
    let mut out = out.borrow_mut();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// How long a followed log may stay open once its pod has finished: a
/// kubelet closes it when the container exits, but not every node agent does
/// (kwok's stays open), and a node that went away closes nothing.
const AFTER_THE_END: std::time::Duration = std::time::Duration::from_secs(2);

/// What `-f` knows of one Job, kept current from its watch.
struct Tracked {
    key: String,
    uid: String,
    job: Job,
    pods: BTreeMap<String, Pod>,
}

impl Tracked {
    /// Applies one change; `Some` when following must end (the Job went).
    fn apply(
        &mut self,
        change: Option<Change>,
        namespace: &str,
        narrator: &Narrator,
    ) -> Result<Option<Followed>, AppError> {
        match change {
            Some(Change::Applied { feed: 0, object }) => {
                if let Ok(j) = serde_json::from_value::<Job>(object)
                    && j.metadata.uid == self.uid
                {
                    self.job = j;
                }
            }
            Some(Change::Deleted { feed: 0, .. }) => {
                narrator.say(Event::Warning {
                    message: format!(
                        "Job {} was deleted while its logs were followed (a rerun, its TTL, or by hand)",
                        self.key
                    ),
                });
                return Ok(Some(Followed::Partial));
            }
            Some(Change::Applied { object, .. }) => {
                if let Ok(p) = serde_json::from_value::<Pod>(object)
                    && p.owned_by(&self.uid)
                {
                    self.pods.insert(p.metadata.name.clone(), p);
                }
            }
            Some(Change::Deleted { .. }) => {}
            Some(Change::Ended { why, .. }) => {
                return Err(AppError::Refused(format!(
                    "{why}: `logs -f` needs `watch` on jobs.batch and pods in namespace {namespace}"
                )));
            }
            None => return Ok(Some(Followed::Partial)),
        }
        Ok(None)
    }

    fn finished(&self, pod: &str) -> bool {
        self.pods.get(pod).is_none_or(Pod::finished)
    }
}

async fn follow_job(
    cluster: &Cluster,
    req: &Request,
    t: &Target,
    several_jobs: bool,
    out: &RefCell<&mut dyn Write>,
    narrator: &Narrator,
) -> Result<Followed, AppError> {
    let key = format!("{}/{}", t.namespace, t.name);
    let Some(first) = &t.job else {
        narrator.say(Event::Warning {
            message: gone(t).unavailable.unwrap_or_default(),
        });
        return Ok(Followed::Partial);
    };
    let uid = first.metadata.uid.clone();
    let pods: BTreeMap<String, Pod> = cluster
        .job_pods(&t.namespace, &t.name, &uid)
        .await?
        .into_iter()
        .map(|p| (p.metadata.name.clone(), p))
        .collect();
    // Watch by the label that found the pods (the newer one when none yet).
    let label = pods
        .values()
        .next()
        .and_then(|p| {
            logs::JOB_NAME_LABELS
                .into_iter()
                .find(|l| p.metadata.labels.contains_key(*l))
        })
        .unwrap_or(logs::JOB_NAME_LABELS[0]);
    let mut feed = cluster.job_feed(&t.namespace, &t.name, label);
    let mut state = Tracked {
        key: key.clone(),
        uid: uid.to_string(),
        job: first.clone(),
        pods,
    };
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut said: BTreeSet<String> = BTreeSet::new();
    let mut first_pod = true;
    loop {
        let runs = logs::runs(state.pods.values().cloned().collect(), &state.uid);
        let attempts = runs.len();
        let newest = runs.last().filter(|p| !done.contains(&p.metadata.name));
        let Some(newest) = newest else {
            if matches!(state.job.phase().0, JobPhase::Succeeded | JobPhase::Failed) {
                let outcome = match state.job.phase().0 {
                    JobPhase::Succeeded => "succeeded",
                    _ => "failed",
                };
                narrator.say(Event::Info {
                    message: format!("Job {key} {outcome}"),
                });
                return Ok(Followed::Finished);
            }
            if let Some(end) = state.apply(feed.next().await?, &t.namespace, narrator)? {
                return Ok(end);
            }
            continue;
        };
        let name = newest.metadata.name.clone();
        let wanted: Vec<String> = containers(newest, req.container.as_deref())
            .map_err(AppError::Usage)?
            .into_iter()
            .map(String::from)
            .collect();
        let waiting: Vec<String> = wanted
            .iter()
            .filter(|c| !newest.started(c))
            .filter_map(|c| newest.waiting(c).map(|w| logs::not_started(&name, c, w)))
            .collect();
        let pending = newest.status.phase == "Pending" || newest.status.phase.is_empty();
        if !waiting.is_empty() || pending {
            let waiting = if waiting.is_empty() {
                vec![format!(
                    "pod {name} of Job {key} is pending: waiting for it to start"
                )]
            } else {
                waiting
            };
            for w in waiting {
                if said.insert(w.clone()) {
                    narrator.say(Event::Info { message: w });
                }
            }
            if let Some(end) = state.apply(feed.next().await?, &t.namespace, narrator)? {
                return Ok(end);
            }
            continue;
        }
        done.insert(name.clone());
        let j = job_logs(t, &state.job, attempts);
        emit(
            out,
            &format!("{}\n", view::header(&j, &PodLogs::of(newest, attempts))),
        )?;
        let tail = if first_pod { req.tail } else { None };
        first_pod = false;
        let prefix = |c: &str| {
            crate::render::sanitize(&match (several_jobs, wanted.len() > 1) {
                (true, true) => format!("[{}/{c}] ", t.name),
                (true, false) => format!("[{}] ", t.name),
                (false, true) => format!("[{c}] "),
                (false, false) => String::new(),
            })
        };
        if newest.finished() {
            // Nothing more will be written: read it once.
            for c in &wanted {
                match cluster
                    .container_log(&t.namespace, &name, &request(req, c, tail))
                    .await
                {
                    Ok(log) => {
                        let p = prefix(c);
                        let text: String = log
                            .lines()
                            .map(|l| format!("{p}{}\n", view::line(l)))
                            .collect();
                        emit(out, &text)?;
                    }
                    Err(why) => narrator.say(Event::Warning {
                        message: format!(
                            "the log of container {c} of pod {name} could not be read: {why}"
                        ),
                    }),
                }
            }
            continue;
        }
        let mut streams = vec![];
        for c in &wanted {
            let p = prefix(c);
            match cluster
                .follow_log(&t.namespace, &name, &request(req, c, tail))
                .await
            {
                Ok(s) => streams.push(s.map(move |l| (p.clone(), l)).boxed()),
                Err(why) => narrator.say(Event::Warning {
                    message: format!(
                        "the log of container {c} of pod {name} could not be read: {why}"
                    ),
                }),
            }
        }
        let mut merged = futures::stream::select_all(streams);
        // The pod's end, as its watch tells it, ends the streams a little later.
        let mut closing: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        loop {
            tokio::select! {
                line = merged.next() => match line {
                    Some((p, Ok(l))) => emit(out, &format!("{p}{}\n", view::line(&l)))?,
                    Some((_, Err(why))) => narrator.say(Event::Warning {
                        message: format!("pod {name}: {why}"),
                    }),
                    None => break,
                },
                change = feed.next() => {
                    if let Some(end) = state.apply(change?, &t.namespace, narrator)? {
                        return Ok(end);
                    }
                    if closing.is_none() && state.finished(&name) {
                        closing = Some(Box::pin(tokio::time::sleep(AFTER_THE_END)));
                    }
                }
                _ = async { if let Some(c) = closing.as_mut() { c.await } }, if closing.is_some() => break,
            }
        }
    }
}
