//! Health: tracked conditions (pure rise/fall and weights in `state.rs`) and the periodic
//! checks that feed them (`script.rs`). Component probes live in `component/`.
pub mod script;
pub mod state;
