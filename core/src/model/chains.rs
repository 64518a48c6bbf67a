//! From a [`Snapshot`] to a [`ChainReport`]: the dependsOn graph (with
//! cross-namespace edges, missing nodes and cycles), its connected chains in
//! topological order, each stage's role and state, its Jobs, and the root
//! cause of every blocked stage. Pure: no I/O, no clock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::flux::{Kustomization, ObjectRef, Snapshot, condition};
use crate::report::{self, Chain, ChainReport, JobPhase, Role, RootCause, Stage, StageState, Text};

use super::key::Key;

fn key_str(k: &Key) -> Text {
    smol_str::format_smolstr!("{k}")
}

/// Which chains to show.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Show chains with a stage in one of these namespaces; `None`: all.
    pub namespaces: Option<Vec<String>>,
    /// Show only chains containing these Kustomizations.
    pub names: Vec<Key>,
}

/// A stage's state, mirroring kustomize-controller's own readiness predicates.
pub fn stage_state(ks: &Kustomization, source_revision: Option<&str>) -> StageState {
    if ks.spec.suspend {
        return StageState::Suspended;
    }
    let st = &ks.status;
    let generation = ks.metadata.generation;
    if condition(&st.conditions, "Stalled").is_some_and(|c| c.status == "True") {
        return StageState::Failed;
    }
    let Some(ready) = condition(&st.conditions, "Ready") else {
        return if st.observed_generation.is_none() {
            StageState::NeverReconciled
        } else {
            StageState::Progressing
        };
    };
    let current = ready.observed_generation == Some(generation);
    match ready.status.as_str() {
        "True" if current && st.observed_generation == Some(generation) => {
            // Up to date only when the applied revision is known to be the source's.
            match (st.last_applied_revision.as_deref(), source_revision) {
                (Some(applied), Some(source)) if applied == source => StageState::UpToDate,
                _ => StageState::Ready,
            }
        }
        "False" if ready.reason == "DependencyNotReady" => StageState::Blocked,
        "False"
            if current
                && condition(&st.conditions, "Reconciling")
                    .is_some_and(|c| c.reason == "ProgressingWithRetry") =>
        {
            StageState::Failed
        }
        _ => StageState::Progressing,
    }
}

/// The graph's nodes, found by key; [`sorted`] walks them in order.
type Nodes<'a> = HashMap<Key, Node<'a>>;

/// Each node's dependents, in the order of [`sorted`].
type Dependents<'n> = HashMap<&'n Key, Vec<&'n Key>>;

/// The nodes by namespace and name (every walk of the graph goes in this
/// order, so that a report never depends on a hash).
fn sorted<'n, 'a>(nodes: &'n Nodes<'a>) -> Vec<(&'n Key, &'n Node<'a>)> {
    let mut sorted: Vec<_> = nodes.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    sorted
}

struct Node<'a> {
    ks: Option<&'a Kustomization>,
    deps: Vec<Key>,
    /// The Jobs of its inventory (read once: a stage's role asks its neighbours').
    jobs: Vec<ObjectRef>,
    /// It exists, but did not decode.
    undecodable: Option<&'a super::flux::Undecodable>,
}

/// The stages of the chains shown, built in their chains' order (each chain's
/// list is its report's, moved there whole), found by key.
struct Stages<'k> {
    at: HashMap<&'k Key, (usize, usize)>,
    chains: Vec<Vec<Stage>>,
}

impl Stages<'_> {
    fn get(&self, k: &Key) -> Option<&Stage> {
        let &(c, i) = self.at.get(k)?;
        self.chains.get(c)?.get(i)
    }

    fn get_mut(&mut self, k: &Key) -> Option<&mut Stage> {
        let &(c, i) = self.at.get(k)?;
        self.chains.get_mut(c)?.get_mut(i)
    }
}

/// Chains built on one thread at least, when there are more (as the table
/// draws them: a small cluster costs no thread).
const PER_THREAD: usize = 500;

/// Builds the report of the selected chains.
pub fn analyze(snap: &Snapshot, selection: &Selection) -> ChainReport {
    let nodes = graph(snap);
    let dependents = dependents(&nodes);

    // The chains shown, each in order, before any stage is built: a chain
    // not shown costs no stage, and a stage's blockage lies in its own chain.
    // A set: `wait --all` names every stage, and each is looked up.
    let named: BTreeSet<&Key> = selection.names.iter().collect();
    let mut placed: Vec<(Vec<Key>, Vec<Key>)> = vec![];
    for component in components(&nodes) {
        let selected = if selection.names.is_empty() {
            selection.namespaces.as_ref().is_none_or(|nss| {
                component
                    .iter()
                    .any(|k| nss.iter().any(|n| *n == k.namespace))
            })
        } else {
            component.iter().any(|k| named.contains(k))
        };
        if !selected {
            continue;
        }
        let (order, cycle) = topological(&component, &nodes, &dependents);
        if !order.is_empty() {
            placed.push((order, cycle));
        }
    }

    // Each stage, without its root cause yet.
    let mut at = HashMap::with_capacity(nodes.len());
    at.extend(
        placed
            .iter()
            .enumerate()
            .flat_map(|(c, (order, _))| order.iter().enumerate().map(move |(i, k)| (k, (c, i)))),
    );
    let mut stages = Stages {
        at,
        // Each stage reads only the graph and the snapshot: the chains are
        // built on the machine's cores at once.
        chains: crate::parallel::parts(&placed, PER_THREAD, |_, part| {
            part.iter()
                .map(|(order, _)| {
                    order
                        .iter()
                        .map(|k| stage(k, &nodes[k], &nodes, &dependents, snap))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect(),
    };
    let blocked: Vec<&Key> = placed
        .iter()
        .flat_map(|(order, _)| order)
        .filter(|k| {
            stages
                .get(k)
                .is_some_and(|s| s.state == StageState::Blocked)
        })
        .collect();
    for k in blocked {
        let cause = root_cause(k, &nodes, &stages);
        if let Some(s) = stages.get_mut(k) {
            s.blocked_by = cause;
        }
    }

    let mut chains: Vec<Chain> = placed
        .iter()
        .zip(stages.chains)
        .filter_map(|((_, cycle), stages)| {
            Some(Chain {
                name: stages.first()?.key(),
                state: chain_state(&stages),
                stages,
                cycle: cycle.iter().map(key_str).collect(),
            })
        })
        .collect();
    chains.sort_by(|a, b| a.name.cmp(&b.name));
    ChainReport::new(chains, snap.gaps.iter().map(Text::from).collect())
}

/// One stage, its role read from the graph (or guessed, before Flux wrote an
/// inventory), without its root cause yet.
fn stage(
    k: &Key,
    n: &Node<'_>,
    nodes: &Nodes<'_>,
    dependents: &Dependents<'_>,
    snap: &Snapshot,
) -> Stage {
    let has_jobs = |k: &Key| nodes.get(k).is_some_and(|n| !n.jobs.is_empty());
    let (role, role_guessed) = match n.ks {
        Some(ks) if ks.status.inventory.is_none() => (guess_role(ks, k, nodes, dependents), true),
        _ => {
            let role = if has_jobs(k) && dependents.get(k).is_some_and(|d| !d.is_empty()) {
                Role::Pre
            } else if has_jobs(k)
                && n.deps
                    .iter()
                    .any(|d| nodes.get(d).is_some_and(|dn| dn.ks.is_some()) && !has_jobs(d))
            {
                Role::Post
            } else {
                Role::Deploy
            };
            (role, false)
        }
    };
    let mut stage = match n.ks {
        Some(ks) => build_stage(ks, n, role, snap),
        None => match n.undecodable {
            Some(u) => unreadable_stage(k, u),
            None => missing_stage(k),
        },
    };
    stage.role_guessed = role_guessed;
    stage
}

/// A chain's state: the worst of its stages, a blocked stage counting as the
/// stage at the root of its blockage (a chain waiting on a running migration
/// is `Progressing`, one held by a failed Job `Failed`, one whose dependency
/// does not exist `Missing`), so every view heads it with what is wrong at the
/// root. A chain that looks healthy but whose Jobs could not all be read is
/// `Unknown`: a partial view is not a healthy one.
pub fn chain_state(stages: &[Stage]) -> StageState {
    let state = stages
        .iter()
        .map(|s| match (&s.blocked_by, s.state) {
            (Some(cause), StageState::Blocked) => cause.state,
            (_, state) => state,
        })
        .min()
        .unwrap_or(StageState::UpToDate);
    let unread = stages
        .iter()
        .flat_map(|s| &s.jobs)
        .any(|j| j.phase == JobPhase::Unknown);
    if state.is_ready() && unread {
        StageState::Unknown
    } else {
        state
    }
}

/// The dependsOn graph: a node per Kustomization (one that does not decode
/// included, with its error), and per dependency named that does not exist.
fn graph(snap: &Snapshot) -> Nodes<'_> {
    // Sized once: grown, a map of 15,000 is hashed again at each doubling.
    let mut nodes: Nodes<'_> =
        HashMap::with_capacity(snap.kustomizations().len() + snap.undecodable_kustomizations.len());
    for ks in snap.kustomizations() {
        nodes.insert(
            ks.key(),
            Node {
                ks: Some(ks),
                deps: ks.dependencies(),
                jobs: ks.inventory_jobs(),
                undecodable: None,
            },
        );
    }
    for u in &snap.undecodable_kustomizations {
        nodes
            .entry(Key::new(u.namespace.clone(), u.name.clone()))
            .or_insert(Node {
                ks: None,
                deps: vec![],
                jobs: vec![],
                undecodable: Some(u),
            });
    }
    let missing: Vec<Key> = nodes
        .values()
        .flat_map(|n| n.deps.iter())
        .filter(|d| !nodes.contains_key(*d))
        .cloned()
        .collect();
    for m in missing {
        nodes.entry(m).or_insert(Node {
            ks: None,
            deps: vec![],
            jobs: vec![],
            undecodable: None,
        });
    }
    nodes
}

/// Each node's dependents (the graph's edges reversed).
fn dependents<'n>(nodes: &'n Nodes<'_>) -> Dependents<'n> {
    let mut d: Dependents<'_> = HashMap::with_capacity(nodes.len());
    for (k, n) in sorted(nodes) {
        for dep in &n.deps {
            d.entry(dep).or_default().push(k);
        }
    }
    d
}

/// The role of a stage Flux has never applied (no inventory, so no Jobs to
/// go by): from its path or name where they say it (`./pre-deploy`,
/// `db-migrations`, `…-post-deploy`), else from its place in the chain (the
/// head of a chain of three or more is `pre`, its tail `post`).
fn guess_role(
    ks: &Kustomization,
    key: &Key,
    nodes: &Nodes<'_>,
    dependents: &Dependents<'_>,
) -> Role {
    let words = format!("{} {}", ks.spec.path, ks.metadata.name).to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| words.contains(n));
    if has(&["pre-deploy", "predeploy", "pre_deploy", "migration"]) {
        return Role::Pre;
    }
    if has(&["post-deploy", "postdeploy", "post_deploy"]) {
        return Role::Post;
    }
    let deps = nodes.get(key).map_or(&[][..], |n| n.deps.as_slice());
    let below = dependents.get(key).map_or(&[][..], |d| d.as_slice());
    let has_dependents = |k: &Key| dependents.get(k).is_some_and(|d| !d.is_empty());
    let has_deps = |k: &Key| nodes.get(k).is_some_and(|n| !n.deps.is_empty());
    if deps.is_empty() && below.iter().any(|d| has_dependents(d)) {
        Role::Pre
    } else if below.is_empty() && deps.iter().any(has_deps) {
        Role::Post
    } else {
        Role::Deploy
    }
}

fn build_stage(ks: &Kustomization, node: &Node<'_>, role: Role, snap: &Snapshot) -> Stage {
    let unreadable = &snap.unreadable_job_namespaces;
    let super::key::SourceKey {
        kind,
        key: Key {
            namespace: sns,
            name: sname,
        },
    } = ks.source_key();
    let source_revision = snap
        .source(&kind, &sns, &sname)
        .and_then(|s| s.revision())
        .cloned();
    let state = stage_state(ks, source_revision.as_deref());
    let ready = condition(&ks.status.conditions, "Ready");
    let st = &ks.status;
    let up_to_date = match (&source_revision, &st.last_applied_revision) {
        (Some(src), Some(applied)) => Some(src == applied),
        (Some(_), None) => Some(false),
        _ => None,
    };
    let stage_jobs = node
        .jobs
        .iter()
        .map(|r| match snap.job(&r.namespace, &r.name) {
            Some(job) => {
                let (phase, decided_by) = job.phase();
                report::Job {
                    namespace: r.namespace.clone(),
                    name: r.name.clone(),
                    uid: job.metadata.uid.clone(),
                    phase,
                    reason: decided_by
                        .map(|c| c.reason.clone())
                        .filter(|r| !r.is_empty()),
                    message: decided_by
                        .map(|c| c.message.clone())
                        .filter(|m| !m.is_empty()),
                    start_time: job.status.start_time.clone(),
                    completion_time: job.status.completion_time.clone(),
                    finished_at: job.status.completion_time.clone().or_else(|| {
                        decided_by
                            .and_then(|c| c.last_transition_time.clone())
                            .filter(|_| phase == JobPhase::Failed)
                    }),
                    active: job.status.active,
                    succeeded: job.status.succeeded,
                    failed: job.status.failed,
                    completions: job.spec.completions,
                    log_tail: None,
                    log_unavailable: None,
                }
            }
            None => {
                let unknown = unreadable.iter().any(|n| *n == r.namespace || n == "*");
                report::Job {
                    namespace: r.namespace.clone(),
                    name: r.name.clone(),
                    uid: Text::default(),
                    phase: if unknown {
                        JobPhase::Unknown
                    } else {
                        JobPhase::Gone
                    },
                    reason: None,
                    message: None,
                    start_time: None,
                    completion_time: None,
                    finished_at: None,
                    active: 0,
                    succeeded: 0,
                    failed: 0,
                    completions: None,
                    log_tail: None,
                    log_unavailable: None,
                }
            }
        })
        .collect();
    let non_empty = |s: &Text| Some(s.clone()).filter(|s| !s.is_empty());
    Stage {
        namespace: ks.metadata.namespace.clone(),
        name: ks.metadata.name.clone(),
        role,
        role_guessed: false,
        state,
        ready: ready.map(|c| c.status.clone()),
        reason: ready.and_then(|c| non_empty(&c.reason)),
        message: ready.and_then(|c| non_empty(&c.message)),
        last_transition_time: ready.and_then(|c| c.last_transition_time.clone()),
        revision: st.last_applied_revision.clone(),
        source_revision,
        up_to_date,
        suspended: ks.spec.suspend,
        depends_on: ks
            .spec
            .depends_on
            .iter()
            .zip(&node.deps)
            .map(|(d, Key { namespace, name })| report::Dependency {
                namespace: namespace.clone(),
                name: name.clone(),
                ready_expr: d.ready_expr.clone(),
            })
            .collect(),
        last_handled_reconcile_at: st.last_handled_reconcile_at.clone(),
        source: (!kind.is_empty()).then_some(report::SourceRef {
            kind,
            namespace: sns,
            name: sname,
        }),
        interval: non_empty(&ks.spec.interval),
        timeout: ks.spec.timeout.clone(),
        force: ks.spec.force,
        wait: ks.spec.wait,
        blocked_by: None,
        jobs: stage_jobs,
    }
}

fn missing_stage(k: &Key) -> Stage {
    Stage {
        namespace: k.namespace.clone(),
        name: k.name.clone(),
        role: Role::Deploy,
        role_guessed: false,
        state: StageState::Missing,
        ready: None,
        reason: Some("NotFound".into()),
        message: Some(smol_str::format_smolstr!(
            "Kustomization {} is named in dependsOn but does not exist",
            key_str(k)
        )),
        last_transition_time: None,
        revision: None,
        source_revision: None,
        up_to_date: None,
        suspended: false,
        depends_on: vec![],
        last_handled_reconcile_at: None,
        source: None,
        interval: None,
        timeout: None,
        force: false,
        wait: false,
        blocked_by: None,
        jobs: vec![],
    }
}

fn unreadable_stage(k: &Key, u: &super::flux::Undecodable) -> Stage {
    Stage {
        state: StageState::Unreadable,
        reason: Some("Undecodable".into()),
        message: Some(smol_str::format_smolstr!(
            "Kustomization {} exists but cannot be read: {}",
            key_str(k),
            u.error
        )),
        ..missing_stage(k)
    }
}

/// Walks upstream from a blocked stage to the stage that actually holds the chain.
fn root_cause(start: &Key, nodes: &Nodes<'_>, stages: &Stages<'_>) -> Option<RootCause> {
    let mut visited = BTreeSet::from([start.clone()]);
    let mut current = start.clone();
    loop {
        let deps = &nodes.get(&current)?.deps;
        // The dependency the controller named first, then any other that is not ready.
        let named = stages
            .get(&current)
            .and_then(|s| s.message.as_deref())
            .and_then(named_dependency);
        let mut candidates: Vec<&Key> = deps
            .iter()
            .filter(|d| named.as_deref() == Some(key_str(d).as_str()))
            .collect();
        candidates.extend(
            deps.iter()
                .filter(|d| named.as_deref() != Some(key_str(d).as_str())),
        );
        let next = candidates
            .into_iter()
            .find(|d| stages.get(d).is_some_and(|s| !s.state.is_ready()))?;
        let stage = stages.get(next)?;
        if stage.state == StageState::Blocked {
            if visited.insert(next.clone()) {
                current = next.clone();
                continue;
            }
            // Back at a stage already walked through: the chain waits on itself.
            return Some(RootCause {
                stage: stage.key(),
                state: stage.state,
                job: None,
                reason: Some("DependencyCycle".into()),
                message: Some(smol_str::format_smolstr!(
                    "{} is part of a dependsOn cycle",
                    stage.key()
                )),
            });
        }
        let job = stage
            .jobs
            .iter()
            .find(|j| j.phase == JobPhase::Failed)
            .or_else(|| {
                stage.jobs.iter().find(|j| {
                    matches!(
                        j.phase,
                        JobPhase::Running | JobPhase::Pending | JobPhase::Gone
                    )
                })
            });
        return Some(RootCause {
            stage: stage.key(),
            state: stage.state,
            job: job.map(|j| smol_str::format_smolstr!("{}/{}", j.namespace, j.name)),
            reason: job
                .and_then(|j| j.reason.clone())
                .or_else(|| stage.reason.clone()),
            message: job
                .and_then(|j| j.message.clone())
                .or_else(|| stage.message.clone()),
        });
    }
}

/// `dependency 'apps/app-pre-deploy' is not ready` → `apps/app-pre-deploy`.
fn named_dependency(message: &str) -> Option<String> {
    let rest = message.strip_prefix("dependency '")?;
    Some(rest.split_once('\'')?.0.to_string())
}

/// Connected components of the graph, ignoring edge direction.
fn components(nodes: &Nodes<'_>) -> Vec<Vec<Key>> {
    let sorted = sorted(nodes);
    let keys: Vec<&Key> = sorted.iter().map(|(k, _)| *k).collect();
    let index: HashMap<&Key, usize> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut parent: Vec<usize> = (0..keys.len()).collect();
    fn find(p: &mut [usize], mut i: usize) -> usize {
        while p[i] != i {
            p[i] = p[p[i]];
            i = p[i];
        }
        i
    }
    for (k, n) in &sorted {
        for d in &n.deps {
            let (a, b) = (find(&mut parent, index[k]), find(&mut parent, index[d]));
            parent[a] = b;
        }
    }
    let mut groups: BTreeMap<usize, Vec<Key>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        let root = find(&mut parent, i);
        groups.entry(root).or_default().push((*k).clone());
    }
    groups.into_values().collect()
}

/// Dependencies before dependents (ties by namespace/name). Stages in a
/// cycle are placed where the cycle blocks the order, and returned as the cycle;
/// stages downstream of a cycle follow it.
fn topological<'k>(
    component: &'k [Key],
    nodes: &'k Nodes<'_>,
    dependents: &Dependents<'k>,
) -> (Vec<Key>, Vec<Key>) {
    let members: BTreeSet<&Key> = component.iter().collect();
    let mut pending: BTreeMap<&Key, usize> = component
        .iter()
        .map(|k| {
            (
                k,
                nodes[k].deps.iter().filter(|d| members.contains(d)).count(),
            )
        })
        .collect();
    let mut order = vec![];
    let mut cycle = vec![];
    let mut ready: BTreeSet<&Key> = pending
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| *k)
        .collect();
    loop {
        while let Some(k) = ready.pop_first() {
            pending.remove(k);
            order.push(k.clone());
            release(k, &mut pending, &mut ready, dependents);
        }
        if pending.is_empty() {
            break;
        }
        // Only cycles are left at the front: take their members out, then go on.
        let in_cycle: Vec<&Key> = pending
            .keys()
            .copied()
            .filter(|k| reaches_itself(k, &pending, nodes))
            .collect();
        if in_cycle.is_empty() {
            break;
        }
        for k in &in_cycle {
            pending.remove(*k);
            order.push((*k).clone());
            cycle.push((*k).clone());
        }
        for k in in_cycle {
            release(k, &mut pending, &mut ready, dependents);
        }
    }
    (order, cycle)
}

/// `done` is placed: its dependents have one dependency less to wait for
/// (one per edge: a dependency listed twice was counted twice). Only its
/// dependents are visited, so a stage many depend on costs its fan-in, not
/// the size of the chain.
fn release<'k>(
    done: &Key,
    pending: &mut BTreeMap<&'k Key, usize>,
    ready: &mut BTreeSet<&'k Key>,
    dependents: &Dependents<'k>,
) {
    for other in dependents.get(done).into_iter().flatten() {
        if let Some(count) = pending.get_mut(*other) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                ready.insert(*other);
            }
        }
    }
}

/// Whether `start` depends on itself through stages still pending.
fn reaches_itself(start: &Key, pending: &BTreeMap<&Key, usize>, nodes: &Nodes<'_>) -> bool {
    let mut stack: Vec<&Key> = nodes[start].deps.iter().collect();
    let mut seen = BTreeSet::new();
    while let Some(k) = stack.pop() {
        if k == start {
            return true;
        }
        if pending.contains_key(k) && seen.insert(k) {
            stack.extend(nodes[k].deps.iter());
        }
    }
    false
}

/// Up to three existing names closest to `wanted` (for "did you mean").
pub fn suggest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (edit_distance(wanted, c), c))
        .filter(|(d, c)| *d <= (wanted.len().max(c.len()) / 3).max(2) || c.contains(wanted))
        .collect();
    scored.sort();
    scored.dedup();
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}
