//! Pure: the sync protocol. One mutually authenticated TLS connection from the master
//! (sender) to the backup (receiver):
//!
//! ```text
//! master                                      backup
//!   Hello{node, head, history}  ───────────▶
//!                               ◀───────────  Hello{node, head, history}
//!   (plan: stream from head+1, or a snapshot; see `handshake`)
//!   Record{gen,seq,kind,hash,body} [Chunk… FileEnd] ─▶  apply in order, atomically
//!                               ◀───────────  Ack{gen,seq}   (durable on the backup)
//!   Heartbeat{head, now}  (idle, every second)
//!                               ◀───────────  Want{path}     (its copy differs from its manifest)
//!   Repair{meta} Chunk… FileEnd ───────────▶
//!                               ◀───────────  Divergent{event, seq, changeset}  (after a split
//!   DivergentKept{event, seq}   ───────────▶   brain: what it wrote alone, one at a time)
//! ```
//! Both the database and the shared tree are journaled in one ordered log (the `_sync_log`
//! table of the database, see `journal`), so the position of a node is one (generation,
//! sequence number) pair, and a template row and its voice file arrive in the order the
//! master made them.

pub mod frame;
pub mod handshake;
pub mod receiver;
pub mod sender;

pub use frame::{Divergent, FileMeta, Hello, Message, SnapshotReason};

/// A position in the log: the record `seq`, written by the master of generation `gen`.
/// `seq` 0 is the empty log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Pos {
    /// Random, created each time a node becomes master (DRBD's generation identifier).
    pub gen: u64,
    pub seq: u64,
}

/// What a record changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A session changeset of one write transaction (body: `journal::pack`ed).
    Db = 1,
    /// A file of the shared tree created or changed (body: `FileMeta`); content follows.
    File = 2,
    /// A file removed (body: its path).
    Delete = 3,
    /// A schema change (body: the SQL, UTF-8): sessions do not capture DDL, so writers
    /// change the schema with `Journal::change_schema`, which journals it.
    Schema = 4,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Db),
            2 => Some(Self::File),
            3 => Some(Self::Delete),
            4 => Some(Self::Schema),
            _ => None,
        }
    }
}

/// One row of the journal, as stored and as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pos: Pos,
    /// A `Kind` (kept as its byte so that an unknown kind is the receiver's error to report).
    pub kind: u8,
    /// BLAKE3 of `body`, computed when the master journaled it.
    pub hash: [u8; 32],
    pub body: Vec<u8>,
}

impl Record {
    pub fn new(pos: Pos, kind: Kind, body: Vec<u8>) -> Self {
        Self {
            pos,
            kind: kind as u8,
            hash: *blake3::hash(&body).as_bytes(),
            body,
        }
    }

    /// Whether the body is what the master journaled.
    pub fn is_intact(&self) -> bool {
        *blake3::hash(&self.body).as_bytes() == self.hash
    }
}
