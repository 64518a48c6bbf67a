//! kubectl-jobgate: see, re-run and wait for the Job-gated Flux Kustomization
//! chains of a cluster.
//!
//! The architecture, one line per module; dependencies point down this list
//! and never up:
//! - `cli`: clap types only;
//! - `settings`: the resolved, clap-free settings;
//! - `app`: dispatches a command and maps outcomes to exit codes;
//! - `actions`: one module per verb; returns reports, never prints;
//! - `cluster`: the only module that talks to the API (names `kube::`);
//! - `narrate`: the one way to stderr for what commands report as they go
//!   (text, JSON Lines, a terminal's live status line);
//! - `render`: pure functions from a report (plus styles, time, width) to text,
//!   and from an event to its narration lines;
//! - `events`: the versioned events commands narrate (`--progress json`);
//! - `report`: the versioned machine-readable types every view renders;
//! - `model`: pure Flux semantics (no async, no clock, no I/O);
//! - `error`: typed errors and the exit codes they map to;
//! - `complete`: kubectl's plugin completion protocol (`__complete`).
//!
//! `model` and `render` never name `kube::` or `tokio::` (CI greps for it).

pub mod actions;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod complete;
pub mod error;
pub mod events;
pub mod model;
pub mod narrate;
pub mod render;
pub mod report;
pub mod settings;

#[cfg(test)]
mod robustness;
