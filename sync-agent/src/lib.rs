//! The sync agent: one-way asynchronous replication, master → backup, of the shared
//! config tree and the SQLite database (issue 7).
//!
//! Pure (no I/O, unit-tested): `exclude` (what never leaves a node), `proto` (frames,
//! handshake, sender and receiver sessions), `config` (the `[sync]` table), `status`.
//! Storage (blocking, one thread or `spawn_blocking` each): `replica` (the backup's ordered,
//! atomic apply), `files` (scan with hashes, atomic file apply), `snapshot` (backup-API
//! snapshots), `digest` (the tables' digest at a position), `divergence` (the journal of
//! writes the other node lacks).
//! The journal itself (the library every writer uses: each write transaction's changeset
//! journaled in the same transaction), its record format and the master's inbox of divergent
//! records are the `journal` crate, which the media core uses too.
//! Drivers (tokio): `tls`, `peer` (a session on a TLS connection: `sender`, `receiver`),
//! `watch`, `agent`; `node` (what they share).
pub mod agent;
pub mod config;
pub mod digest;
pub mod divergence;
pub mod exclude;
pub mod files;
pub mod node;
pub mod peer;
pub mod proto;
pub mod replica;
pub mod snapshot;
pub mod status;
pub mod tls;
pub mod watch;
