//! bss-region-keeper: keeps one pg_bss region's write lease, confirmed each
//! round by its peers, and takes over the home regions of a region a quorum
//! has lost. This file only names the modules.

pub mod answer;
pub mod changes;
pub mod config;
pub mod decide;
pub mod duration;
pub mod heartbeat;
pub mod keeper;
pub mod local;
pub mod peers;
pub mod session;
