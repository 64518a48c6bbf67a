//! One module per verb. Actions read and write through the cluster layer and
//! return outcomes; they print only narration, to the writer they are given.

pub mod doctor;
pub mod events;
pub mod follow;
pub mod logs;
pub mod reconcile;
pub mod rerun;
pub mod status;
pub mod wait;
