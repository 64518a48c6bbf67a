//! kubectl-jobgate: see, re-run and wait for the Job-gated Flux Kustomization
//! chains of a cluster.
//!
//! The architecture, one line per module; dependencies point down this list
//! and never up:
//! - `app`: dispatches a command and maps outcomes to exit codes;
//! - `complete`: shell completion: the scripts, and kubectl's plugin
//!   completion protocol (`__complete`);
//! - `settings`: the settings resolved from the command line and the environment;
//! - `cli`: the command line, as clap types only;
//! - `actions`: one module per verb; returns reports, narrates through `narrate`;
//! - `checkout`: reads a Git checkout's YAML files for `lint` (never writes);
//! - `error`: typed errors and the exit codes they map to;
//! - `cluster`: the only module that talks to the API (names `kube::`);
//! - `narrate`: the one way to stderr for what commands report as they go
//!   (text, JSON Lines, a terminal's live status line);
//! - the pure core, its own crate (`jobgate-core`, re-exported here): `render`,
//!   `events`, `logs`, `timeline`, `diagnose`, `model`, `report`, `duration`. It cannot name kube
//!   or tokio: it does not depend on them.

pub mod actions;
pub mod app;
pub mod checkout;
pub mod cli;
pub mod cluster;
pub mod complete;
pub mod error;
pub mod narrate;
pub mod settings;

pub use jobgate_core::{
    diagnose, duration, events, invocation, logs, model, render, report, timeline,
};
