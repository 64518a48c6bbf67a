//! kubectl-jobgate's pure core: what the commands know, as data and pure
//! functions, with no I/O, no clock, no terminal and no async. The compiler
//! keeps it so: this crate does not depend on kube or tokio (`.ci/run` checks
//! its dependency tree), and the plugin's crate re-exports its modules.
//!
//! Dependencies point down this list and never up:
//! - `render`: views of a report (plus styles, time, width) as text, and the
//!   narration lines of an event;
//! - `events`: the versioned events commands narrate (`--progress json`);
//! - `logs`, `timeline`: a stage's pods and their logs, its Kubernetes
//!   Events, and their reports (`logs`, `events`);
//! - `diagnose`: the configuration pitfalls of chains (`doctor`, `lint`), and
//!   a Git checkout rendered as kustomize-controller renders it;
//! - `model`: Flux semantics: the snapshot of a cluster, chains, states, progress;
//! - `report`: the versioned machine-readable report every view renders;
//! - `duration`: durations as kubectl writes them;
//! - `invocation`: the command the user typed (`kubectl jobgate` or
//!   `flux jobgate`), set once by the binary, named in usage and hints;
//! - `parallel`: a slice's parts worked on the machine's cores at once, in
//!   order (the thousands of chains of a large cluster).

pub mod diagnose;
pub mod duration;
pub mod events;
pub mod invocation;
pub mod logs;
pub mod model;
pub mod parallel;
pub mod render;
pub mod report;
pub mod timeline;

#[cfg(test)]
mod rng;
