//! One module per verb. Actions read through the cluster layer and return
//! reports; they never print.

pub mod status;
