//! Pure: the sync protocol's frames and their codec.
//!
//! ```text
//! | length: u32 BE (kind + body + check) | kind: u8 | body ... | check: 8 bytes |
//! ```
//! `check` is the first 8 bytes of BLAKE3(kind ‖ body). TLS already protects the link;
//! the check catches what TLS cannot see (a bug on either side, memory or disk damage
//! between our journal and the socket). Records also carry the full BLAKE3 of their body as
//! it was journaled on the master, verified again by the receiver before it applies.
//!
//! Decoding never panics and never allocates more than the length field allows, which is
//! capped at [`MAX_FRAME`] before anything is allocated.

pub use journal::record::{decode_path, encode_path, DecodeError, Divergent, FileMeta};
use journal::record::{Reader, Writer};

use crate::proto::{Pos, Record};

/// The largest frame either side accepts: a changeset of a bulk transaction, compressed.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;
/// File and snapshot content travels in chunks of this size.
pub const CHUNK: usize = 256 * 1024;
const CHECK_LEN: usize = 8;

/// What the receiver (backup) and the sender (master) say first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The node name from node.toml (for logs and the divergence report).
    pub node: String,
    /// The last record in this node's log.
    pub head: Pos,
    /// The generations of this node's log: (generation, first sequence number), oldest first.
    pub history: Vec<(u64, u64)>,
}

/// Why a snapshot is sent instead of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotReason {
    /// The receiver is empty, or the sender no longer has the records it lacks.
    Behind,
    /// The receiver has records the sender does not have, after sequence number `fork`:
    /// it saves them to its divergence journal before installing the snapshot.
    Diverged { fork: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hello(Hello),
    /// One journal record; a file record's content follows in `Chunk`s and a `FileEnd`.
    Record(Record),
    Chunk(Vec<u8>),
    /// The file content is complete; `ok = false`: the file changed or vanished while it
    /// was being read, so this version is superseded (a later record carries the new one).
    FileEnd {
        ok: bool,
    },
    Ack(Pos),
    /// Every second while idle: the sender's head, and its clock (lag shown by the receiver).
    Heartbeat {
        head: Pos,
        now_ms: u64,
    },
    /// A whole database follows in `Chunk`s and a `SnapshotEnd`; it holds the journal up to
    /// `head`.
    SnapshotBegin {
        reason: SnapshotReason,
        head: Pos,
        size: u64,
        hash: [u8; 32],
    },
    SnapshotEnd,
    /// The receiver's copy of a file differs from its manifest: send the current one.
    Want {
        path: String,
    },
    /// Content for a `Want` (not a journal record): `Chunk`s and a `FileEnd` follow.
    Repair(FileMeta),
    /// The peer gives up on this session and says why (logged by the other side).
    Error {
        reason: String,
    },
    /// A digest of every replicated table as of the record `at` (sent when both sides
    /// are idle): the backup compares it with its own at the same position.
    Digest {
        at: Pos,
        hash: [u8; 32],
    },
    /// Backup → master, after a split brain: one database record this node wrote while it
    /// believed itself master, saved in its divergence journal (folder `event`) before it
    /// took the master's state; `total` records in all. The master keeps it in its inbox
    /// (`inbox`), where the campaign facts are merged and operator changes wait for `apply`.
    Divergent(Divergent),
    /// Master → backup: record `seq` of `event` is durable in the master's inbox.
    DivergentKept {
        event: String,
        seq: u64,
    },
}

impl Message {
    fn kind(&self) -> u8 {
        match self {
            Self::Hello(_) => 1,
            Self::Record(_) => 2,
            Self::Chunk(_) => 3,
            Self::FileEnd { .. } => 4,
            Self::Ack(_) => 5,
            Self::Heartbeat { .. } => 6,
            Self::SnapshotBegin { .. } => 7,
            Self::SnapshotEnd => 8,
            Self::Want { .. } => 9,
            Self::Repair(_) => 10,
            Self::Error { .. } => 11,
            Self::Digest { .. } => 12,
            Self::Divergent(_) => 13,
            Self::DivergentKept { .. } => 14,
        }
    }

    /// Appends the whole frame (length, kind, body, check) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.push(self.kind());
        let mut w = Writer(out);
        match self {
            Self::Hello(h) => {
                w.str(&h.node);
                w.pos(h.head);
                w.u64(h.history.len() as u64);
                for (gen, first) in &h.history {
                    w.u64(*gen);
                    w.u64(*first);
                }
            }
            Self::Record(r) => {
                w.pos(r.pos);
                w.0.push(r.kind);
                w.0.extend_from_slice(&r.hash);
                w.bytes(&r.body);
            }
            Self::Chunk(data) => w.bytes(data),
            Self::FileEnd { ok } => w.0.push(u8::from(*ok)),
            Self::Ack(pos) => w.pos(*pos),
            Self::Heartbeat { head, now_ms } => {
                w.pos(*head);
                w.u64(*now_ms);
            }
            Self::SnapshotBegin {
                reason,
                head,
                size,
                hash,
            } => {
                match reason {
                    SnapshotReason::Behind => w.0.push(0),
                    SnapshotReason::Diverged { fork } => {
                        w.0.push(1);
                        w.u64(*fork);
                    }
                }
                w.pos(*head);
                w.u64(*size);
                w.0.extend_from_slice(hash);
            }
            Self::SnapshotEnd => {}
            Self::Want { path } => w.str(path),
            Self::Repair(meta) => meta.encode(out),
            Self::Error { reason } => w.str(reason),
            Self::Digest { at, hash } => {
                w.pos(*at);
                w.0.extend_from_slice(hash);
            }
            Self::Divergent(d) => {
                w.str(&d.event);
                w.u64(d.fork);
                w.u64(d.total);
                w.u64(d.seq);
                w.bytes(&d.changeset);
            }
            Self::DivergentKept { event, seq } => {
                w.str(event);
                w.u64(*seq);
            }
        }
        let check = blake3::hash(&out[start + 4..]);
        out.extend_from_slice(&check.as_bytes()[..CHECK_LEN]);
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// Splits one message off the front of `buf`: `Ok(None)` means "need more bytes";
    /// `Ok(Some((message, used)))` consumed `used` bytes.
    pub fn decode(buf: &[u8]) -> Result<Option<(Self, usize)>, DecodeError> {
        let Some(len) = buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len > MAX_FRAME {
            return Err(DecodeError::TooLarge {
                len,
                max: MAX_FRAME,
            });
        }
        if len < 1 + CHECK_LEN {
            return Err(DecodeError::Short { len });
        }
        let Some(frame) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        let (payload, check) = frame.split_at(len - CHECK_LEN);
        if blake3::hash(payload).as_bytes()[..CHECK_LEN] != *check {
            return Err(DecodeError::Check);
        }
        let message = Self::decode_body(payload[0], &payload[1..])?;
        Ok(Some((message, 4 + len)))
    }

    fn decode_body(kind: u8, body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(body);
        let message = match kind {
            1 => {
                let node = r.str()?;
                let head = r.pos()?;
                let count = r.u64()?;
                // Each entry is 16 bytes: a count the body cannot hold is refused before
                // anything is allocated.
                if count > (r.0.len() / 16) as u64 {
                    return Err(DecodeError::Count { count });
                }
                let mut history = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    history.push((r.u64()?, r.u64()?));
                }
                Self::Hello(Hello {
                    node,
                    head,
                    history,
                })
            }
            2 => Self::Record(Record {
                pos: r.pos()?,
                kind: r.u8()?,
                hash: r.array()?,
                body: r.bytes()?.to_vec(),
            }),
            3 => Self::Chunk(r.bytes()?.to_vec()),
            4 => Self::FileEnd {
                ok: r.flag("FileEnd.ok")?,
            },
            5 => Self::Ack(r.pos()?),
            6 => Self::Heartbeat {
                head: r.pos()?,
                now_ms: r.u64()?,
            },
            7 => {
                let reason = if r.flag("SnapshotBegin.reason")? {
                    SnapshotReason::Diverged { fork: r.u64()? }
                } else {
                    SnapshotReason::Behind
                };
                Self::SnapshotBegin {
                    reason,
                    head: r.pos()?,
                    size: r.u64()?,
                    hash: r.array()?,
                }
            }
            8 => Self::SnapshotEnd,
            9 => Self::Want { path: r.str()? },
            10 => Self::Repair(FileMeta::read(&mut r)?),
            11 => Self::Error { reason: r.str()? },
            12 => Self::Digest {
                at: r.pos()?,
                hash: r.array()?,
            },
            13 => Self::Divergent(Divergent {
                event: r.str()?,
                fork: r.u64()?,
                total: r.u64()?,
                seq: r.u64()?,
                changeset: r.bytes()?.to_vec(),
            }),
            14 => Self::DivergentKept {
                event: r.str()?,
                seq: r.u64()?,
            },
            kind => return Err(DecodeError::Kind { kind }),
        };
        if !r.0.is_empty() {
            return Err(DecodeError::Trailing { extra: r.0.len() });
        }
        Ok(message)
    }
}

/// Wraps `payload` (a kind byte and a body) into a frame with its length and check, valid
/// or not as a message (the fuzz target uses it to get past the check).
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let mut frame = ((payload.len() + CHECK_LEN) as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame.extend_from_slice(&blake3::hash(payload).as_bytes()[..CHECK_LEN]);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Message> {
        let meta = FileMeta {
            path: "prompts/alert.wav".into(),
            size: 3,
            mode: 0o640,
            mtime_ns: 1_700_000_000_123_456_789,
            hash: [7; 32],
        };
        vec![
            Message::Hello(Hello {
                node: "node-b".into(),
                head: Pos { gen: 9, seq: 41 },
                history: vec![(3, 1), (9, 30)],
            }),
            Message::Record(Record {
                pos: Pos { gen: 9, seq: 42 },
                kind: 2,
                hash: [1; 32],
                body: meta.to_bytes(),
            }),
            Message::Chunk(b"abc".to_vec()),
            Message::FileEnd { ok: true },
            Message::FileEnd { ok: false },
            Message::Ack(Pos { gen: 9, seq: 42 }),
            Message::Heartbeat {
                head: Pos { gen: 9, seq: 42 },
                now_ms: 5,
            },
            Message::SnapshotBegin {
                reason: SnapshotReason::Diverged { fork: 29 },
                head: Pos { gen: 9, seq: 42 },
                size: 4096,
                hash: [2; 32],
            },
            Message::SnapshotBegin {
                reason: SnapshotReason::Behind,
                head: Pos { gen: 1, seq: 2 },
                size: 0,
                hash: [0; 32],
            },
            Message::SnapshotEnd,
            Message::Want {
                path: "extensions.conf".into(),
            },
            Message::Repair(meta),
            Message::Error {
                reason: "gap".into(),
            },
            Message::Digest {
                at: Pos { gen: 9, seq: 42 },
                hash: [5; 32],
            },
            Message::Divergent(Divergent {
                event: "2026-12-06T17-30-00Z-after-57".into(),
                fork: 57,
                total: 3,
                seq: 59,
                changeset: vec![0x54, 1, 2],
            }),
            Message::DivergentKept {
                event: "2026-12-06T17-30-00Z-after-57".into(),
                seq: 59,
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            let mut buf = Vec::new();
            m.encode(&mut buf);
            assert_eq!(
                Message::decode(&buf),
                Ok(Some((m.clone(), buf.len()))),
                "{m:?}"
            );
        }
    }

    #[test]
    fn a_partial_frame_asks_for_more() {
        let mut buf = Vec::new();
        Message::Want { path: "x".into() }.encode(&mut buf);
        for cut in 0..buf.len() {
            assert_eq!(Message::decode(&buf[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_is_caught() {
        for m in samples() {
            let mut buf = Vec::new();
            m.encode(&mut buf);
            for i in 4..buf.len() {
                let mut bad = buf.clone();
                bad[i] ^= 0x10;
                assert!(Message::decode(&bad).is_err(), "{m:?}: byte {i}");
            }
        }
    }

    #[test]
    fn huge_lengths_and_counts_are_refused_before_allocating() {
        assert_eq!(
            Message::decode(&[0xff, 0xff, 0xff, 0xff, 1]),
            Err(DecodeError::TooLarge {
                len: 0xffff_ffff,
                max: MAX_FRAME
            })
        );
        assert_eq!(
            Message::decode(&[0, 0, 0, 2, 1, 2]),
            Err(DecodeError::Short { len: 2 })
        );
        // A Hello claiming 2^60 history entries, with a valid check.
        let mut payload = vec![1u8];
        Writer(&mut payload).str("n");
        Writer(&mut payload).pos(Pos { gen: 1, seq: 1 });
        Writer(&mut payload).u64(1 << 60);
        let frame = seal(&payload);
        assert_eq!(
            Message::decode(&frame),
            Err(DecodeError::Count { count: 1 << 60 })
        );
    }

    #[test]
    fn two_frames_in_one_buffer_come_out_one_by_one() {
        let mut buf = Vec::new();
        Message::SnapshotEnd.encode(&mut buf);
        Message::FileEnd { ok: true }.encode(&mut buf);
        let (first, used) = Message::decode(&buf).unwrap().unwrap();
        assert_eq!(first, Message::SnapshotEnd);
        let (second, rest) = Message::decode(&buf[used..]).unwrap().unwrap();
        assert_eq!(second, Message::FileEnd { ok: true });
        assert_eq!(used + rest, buf.len());
    }

    #[test]
    fn file_metadata_and_paths_round_trip() {
        let meta = FileMeta {
            path: "a/b".into(),
            size: 1,
            mode: 0o4755,
            mtime_ns: -5,
            hash: [3; 32],
        };
        assert_eq!(FileMeta::decode(&meta.to_bytes()), Ok(meta));
        assert_eq!(decode_path(&encode_path("x/y")), Ok("x/y".into()));
        assert!(decode_path(&[0, 0, 0, 9, b'a']).is_err());
    }
}
