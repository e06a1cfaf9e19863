//! Allerta sync agent: one-way asynchronous replication of the shared config tree and the
//! SQLite database from master to backup.
//!
//! Not built yet: this crate only reserves its place in the workspace (issue 7).

/// The version string the binary prints.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
