//! The Asterisk Gateway Interface: `AGI()` runs an IVR script, local or over FastAGI.
//! Pure: `protocol` (URLs, the `agi_*` environment, command lines, results). Driver:
//! `session` (one script's run on a call).
pub mod protocol;
pub mod session;
