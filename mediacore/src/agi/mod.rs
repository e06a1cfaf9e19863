//! The Asterisk Gateway Interface: `AGI()` runs an IVR script, local or over FastAGI.
//! Pure: `protocol` (URLs, the `agi_*` environment, command lines, results).
pub mod protocol;
