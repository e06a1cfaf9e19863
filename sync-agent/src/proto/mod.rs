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

pub use journal::record::{Kind, Pos, Record};
