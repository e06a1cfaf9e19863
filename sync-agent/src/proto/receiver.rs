//! Pure: the receiver's (backup's) view of one session: which message may come next, in
//! which order records must arrive, and what the driver does with each. The driver
//! performs the `Step`s (write a temporary file, apply a record in one transaction…) and
//! reports back with `applied`, which yields the acknowledgement.

use super::frame::FileMeta;
use super::{Hello, Kind, Message, Pos, Record, SnapshotReason};

/// A broken session: the receiver answers `Error` and drops the connection; the next
/// session resumes from its last applied record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("expected {expected}, got {got}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("record {got} out of order: the next one is {want}")]
    Gap { want: u64, got: u64 },
    #[error("record {seq} is damaged: its hash does not match its body")]
    Damaged { seq: u64 },
    #[error("record {seq} has unknown kind {kind}")]
    UnknownKind { seq: u64, kind: u8 },
    #[error("record {seq}: {reason}")]
    BadBody { seq: u64, reason: String },
    #[error("file content for {path} exceeds the announced {size} bytes")]
    Oversize { path: String, size: u64 },
}

/// What the driver does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing (a heartbeat: `lag` updated).
    None,
    /// Apply a DB or delete record in one transaction, then call `applied`.
    Apply(Record),
    /// Open a temporary file for this file record's content.
    BeginFile { record: Record, meta: FileMeta },
    /// Open a temporary file for a repair (not a journal record).
    BeginRepair(FileMeta),
    /// Append to the open temporary file.
    Write(Vec<u8>),
    /// Content complete: verify, rename into place (`ok`) or discard it (superseded), then
    /// (for a record) apply it and call `applied`.
    EndFile { ok: bool },
    /// Save the divergent tail after `fork` (if any), then stage a snapshot.
    BeginSnapshot {
        reason: SnapshotReason,
        head: Pos,
        size: u64,
        hash: [u8; 32],
    },
    /// Verify the staged snapshot and install it; then call `applied(head)`.
    EndSnapshot,
    /// Compare the tables' digest with the master's, if this node is exactly at `at`.
    Verify { at: Pos, hash: [u8; 32] },
    /// The master holds record `seq` of divergence event `event`.
    Delivered { event: String, seq: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    AwaitHello,
    Ready,
    File { path: String, size: u64, got: u64 },
    Snapshot { size: u64, got: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    /// The last record applied here (durable).
    head: Pos,
    /// The next sequence number to accept (records may be accepted before the previous
    /// ones are durable, so the driver can apply a burst in one transaction).
    expect: u64,
    state: State,
    /// The sender's head, from its Hello and heartbeats.
    sender_head: Pos,
    /// The sender's node name, from its Hello.
    sender_node: String,
}

fn name(m: &Message) -> &'static str {
    match m {
        Message::Hello(_) => "Hello",
        Message::Record(_) => "Record",
        Message::Chunk(_) => "Chunk",
        Message::FileEnd { .. } => "FileEnd",
        Message::Ack(_) => "Ack",
        Message::Heartbeat { .. } => "Heartbeat",
        Message::SnapshotBegin { .. } => "SnapshotBegin",
        Message::SnapshotEnd => "SnapshotEnd",
        Message::Want { .. } => "Want",
        Message::Repair(_) => "Repair",
        Message::Error { .. } => "Error",
        Message::Digest { .. } => "Digest",
        Message::Divergent(_) => "Divergent",
        Message::DivergentKept { .. } => "DivergentKept",
    }
}

impl Receiver {
    pub fn new(head: Pos) -> Self {
        Self {
            head,
            expect: head.seq + 1,
            state: State::AwaitHello,
            sender_head: Pos::default(),
            sender_node: String::new(),
        }
    }

    pub fn head(&self) -> Pos {
        self.head
    }

    /// The sender's last known head.
    pub fn sender_head(&self) -> Pos {
        self.sender_head
    }

    /// The sender's node name (empty before its Hello).
    pub fn sender_node(&self) -> &str {
        &self.sender_node
    }

    /// Records the sender has that this node has not applied yet.
    pub fn lag_records(&self) -> u64 {
        self.sender_head.seq.saturating_sub(self.head.seq)
    }

    /// Our Hello.
    pub fn hello(&self, node: &str, history: Vec<(u64, u64)>) -> Message {
        Message::Hello(Hello {
            node: node.into(),
            head: self.head,
            history,
        })
    }

    /// One message from the sender.
    pub fn on_message(&mut self, m: Message) -> Result<Step, ProtocolError> {
        let unexpected = |expected, m: &Message| ProtocolError::Unexpected {
            expected,
            got: name(m),
        };
        match (&mut self.state, m) {
            (State::AwaitHello, Message::Hello(h)) => {
                self.sender_head = h.head;
                self.sender_node = h.node;
                self.state = State::Ready;
                Ok(Step::None)
            }
            (State::AwaitHello, m) => Err(unexpected("Hello", &m)),
            (State::Ready, Message::Heartbeat { head, .. }) => {
                self.sender_head = head;
                Ok(Step::None)
            }
            (State::Ready, Message::Digest { at, hash }) => Ok(Step::Verify { at, hash }),
            (State::Ready, Message::DivergentKept { event, seq }) => {
                Ok(Step::Delivered { event, seq })
            }
            (State::Ready, Message::Record(r)) => self.on_record(r),
            (State::Ready, Message::Repair(meta)) => {
                self.state = State::File {
                    path: meta.path.clone(),
                    size: meta.size,
                    got: 0,
                };
                Ok(Step::BeginRepair(meta))
            }
            (
                State::Ready,
                Message::SnapshotBegin {
                    reason,
                    head,
                    size,
                    hash,
                },
            ) => {
                self.state = State::Snapshot { size, got: 0 };
                self.sender_head = self.sender_head.max_seq(head);
                Ok(Step::BeginSnapshot {
                    reason,
                    head,
                    size,
                    hash,
                })
            }
            (State::File { path, size, got }, Message::Chunk(data)) => {
                *got += data.len() as u64;
                if *got > *size {
                    return Err(ProtocolError::Oversize {
                        path: path.clone(),
                        size: *size,
                    });
                }
                Ok(Step::Write(data))
            }
            (State::File { .. }, Message::FileEnd { ok }) => {
                self.state = State::Ready;
                Ok(Step::EndFile { ok })
            }
            (State::File { .. }, m) => Err(unexpected("Chunk or FileEnd", &m)),
            (State::Snapshot { size, got }, Message::Chunk(data)) => {
                *got += data.len() as u64;
                if *got > *size {
                    return Err(ProtocolError::Oversize {
                        path: "(snapshot)".into(),
                        size: *size,
                    });
                }
                Ok(Step::Write(data))
            }
            (State::Snapshot { .. }, Message::SnapshotEnd) => {
                self.state = State::Ready;
                Ok(Step::EndSnapshot)
            }
            (State::Snapshot { .. }, m) => Err(unexpected("Chunk or SnapshotEnd", &m)),
            (State::Ready, m) => Err(unexpected("Record, Repair, SnapshotBegin or Heartbeat", &m)),
        }
    }

    fn on_record(&mut self, r: Record) -> Result<Step, ProtocolError> {
        let seq = r.pos.seq;
        if seq != self.expect {
            return Err(ProtocolError::Gap {
                want: self.expect,
                got: seq,
            });
        }
        if !r.is_intact() {
            return Err(ProtocolError::Damaged { seq });
        }
        self.expect += 1;
        self.sender_head = self.sender_head.max_seq(r.pos);
        match Kind::from_u8(r.kind) {
            Some(Kind::Db | Kind::Delete | Kind::Schema) => Ok(Step::Apply(r)),
            Some(Kind::File) => {
                let meta = FileMeta::decode(&r.body).map_err(|e| ProtocolError::BadBody {
                    seq,
                    reason: e.to_string(),
                })?;
                self.state = State::File {
                    path: meta.path.clone(),
                    size: meta.size,
                    got: 0,
                };
                Ok(Step::BeginFile { record: r, meta })
            }
            None => Err(ProtocolError::UnknownKind { seq, kind: r.kind }),
        }
    }

    /// The driver made `pos` durable (a record, or a snapshot's head): the ack to send.
    pub fn applied(&mut self, pos: Pos) -> Message {
        self.head = pos;
        self.expect = self.expect.max(pos.seq + 1);
        Message::Ack(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::frame::encode_path;

    fn hello(head: Pos) -> Message {
        Message::Hello(Hello {
            node: "node-a".into(),
            head,
            history: vec![(7, 1)],
        })
    }

    fn meta(path: &str, size: u64) -> FileMeta {
        FileMeta {
            path: path.into(),
            size,
            mode: 0o644,
            mtime_ns: 0,
            hash: *blake3::hash(b"abc").as_bytes(),
        }
    }

    #[test]
    fn records_apply_in_order_and_each_is_acknowledged() {
        let mut rx = Receiver::new(Pos { gen: 7, seq: 4 });
        assert_eq!(rx.on_message(hello(Pos { gen: 7, seq: 6 })), Ok(Step::None));
        assert_eq!(rx.lag_records(), 2);
        let r5 = Record::new(Pos { gen: 7, seq: 5 }, Kind::Delete, encode_path("a"));
        assert_eq!(
            rx.on_message(Message::Record(r5.clone())),
            Ok(Step::Apply(r5))
        );
        assert_eq!(
            rx.applied(Pos { gen: 7, seq: 5 }),
            Message::Ack(Pos { gen: 7, seq: 5 })
        );
        let m = meta("x.conf", 3);
        let r6 = Record::new(Pos { gen: 7, seq: 6 }, Kind::File, m.to_bytes());
        assert_eq!(
            rx.on_message(Message::Record(r6.clone())),
            Ok(Step::BeginFile {
                record: r6,
                meta: m
            })
        );
        assert_eq!(
            rx.on_message(Message::Chunk(b"ab".to_vec())),
            Ok(Step::Write(b"ab".to_vec()))
        );
        assert_eq!(
            rx.on_message(Message::Chunk(b"c".to_vec())),
            Ok(Step::Write(b"c".to_vec()))
        );
        assert_eq!(
            rx.on_message(Message::FileEnd { ok: true }),
            Ok(Step::EndFile { ok: true })
        );
        rx.applied(Pos { gen: 7, seq: 6 });
        assert_eq!(rx.lag_records(), 0);
    }

    #[test]
    fn a_gap_or_a_replay_breaks_the_session() {
        let mut rx = Receiver::new(Pos { gen: 7, seq: 4 });
        rx.on_message(hello(Pos { gen: 7, seq: 9 })).unwrap();
        let r7 = Record::new(Pos { gen: 7, seq: 7 }, Kind::Delete, encode_path("a"));
        assert_eq!(
            rx.on_message(Message::Record(r7)),
            Err(ProtocolError::Gap { want: 5, got: 7 })
        );
        let r4 = Record::new(Pos { gen: 7, seq: 4 }, Kind::Delete, encode_path("a"));
        assert_eq!(
            rx.on_message(Message::Record(r4)),
            Err(ProtocolError::Gap { want: 5, got: 4 })
        );
    }

    #[test]
    fn a_burst_is_accepted_before_it_is_durable_and_acknowledged_at_once() {
        let mut rx = Receiver::new(Pos { gen: 7, seq: 4 });
        rx.on_message(hello(Pos { gen: 7, seq: 7 })).unwrap();
        for seq in 5..=7 {
            let r = Record::new(Pos { gen: 7, seq }, Kind::Db, vec![0, 1]);
            assert_eq!(
                rx.on_message(Message::Record(r.clone())),
                Ok(Step::Apply(r))
            );
        }
        assert_eq!(rx.head().seq, 4, "nothing durable yet");
        assert_eq!(
            rx.applied(Pos { gen: 7, seq: 7 }),
            Message::Ack(Pos { gen: 7, seq: 7 })
        );
        let r8 = Record::new(Pos { gen: 7, seq: 8 }, Kind::Db, vec![0, 1]);
        assert!(rx.on_message(Message::Record(r8)).is_ok());
    }

    #[test]
    fn a_damaged_record_is_refused() {
        let mut rx = Receiver::new(Pos::default());
        rx.on_message(hello(Pos { gen: 7, seq: 1 })).unwrap();
        let mut r = Record::new(Pos { gen: 7, seq: 1 }, Kind::Db, vec![1, 2, 3]);
        r.body[0] ^= 1;
        assert_eq!(
            rx.on_message(Message::Record(r)),
            Err(ProtocolError::Damaged { seq: 1 })
        );
    }

    #[test]
    fn anything_before_hello_or_inside_a_file_out_of_place_is_refused() {
        let mut rx = Receiver::new(Pos::default());
        assert!(matches!(
            rx.on_message(Message::SnapshotEnd),
            Err(ProtocolError::Unexpected {
                expected: "Hello",
                ..
            })
        ));
        let mut rx = Receiver::new(Pos::default());
        rx.on_message(hello(Pos { gen: 7, seq: 1 })).unwrap();
        let m = meta("x", 2);
        rx.on_message(Message::Record(Record::new(
            Pos { gen: 7, seq: 1 },
            Kind::File,
            m.to_bytes(),
        )))
        .unwrap();
        assert!(matches!(
            rx.on_message(Message::Chunk(b"abc".to_vec())),
            Err(ProtocolError::Oversize { .. })
        ));
    }

    #[test]
    fn a_snapshot_is_staged_then_installed_and_acknowledged_at_its_head() {
        let mut rx = Receiver::new(Pos { gen: 7, seq: 100 });
        rx.on_message(hello(Pos { gen: 9, seq: 120 })).unwrap();
        let head = Pos { gen: 9, seq: 120 };
        let begin = Message::SnapshotBegin {
            reason: SnapshotReason::Diverged { fork: 95 },
            head,
            size: 4,
            hash: [0; 32],
        };
        assert!(matches!(
            rx.on_message(begin),
            Ok(Step::BeginSnapshot {
                reason: SnapshotReason::Diverged { fork: 95 },
                ..
            })
        ));
        assert_eq!(
            rx.on_message(Message::Chunk(vec![0; 4])),
            Ok(Step::Write(vec![0; 4]))
        );
        assert_eq!(rx.on_message(Message::SnapshotEnd), Ok(Step::EndSnapshot));
        assert_eq!(rx.applied(head), Message::Ack(head));
        assert_eq!(rx.head(), head);
    }
}
