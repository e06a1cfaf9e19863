//! Pure: what the journal stores and the sync protocol sends, and its byte encoding: a
//! position in the log ([`Pos`]), a record ([`Record`], [`Kind`]), a file's metadata
//! ([`FileMeta`]), a divergent record ([`Divergent`]), and the [`Reader`] and [`Writer`] the
//! sync agent's frames are written with too. Decoding never panics and never allocates more
//! than the bytes it was given.

/// Malformed bytes: a frame from the peer (the connection is dropped and the session
/// restarts from the last acknowledged point) or a damaged journal body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes exceeds the {max} byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("frame of {len} bytes is too short")]
    Short { len: usize },
    #[error("frame check failed")]
    Check,
    #[error("unknown frame kind {kind}")]
    Kind { kind: u8 },
    #[error("body truncated: need {need} more bytes")]
    Truncated { need: usize },
    #[error("{extra} bytes after the body")]
    Trailing { extra: usize },
    #[error("a string is not UTF-8")]
    Utf8,
    #[error("list of {count} items does not fit")]
    Count { count: u64 },
    #[error("{what} has the invalid value {value}")]
    Value { what: &'static str, value: u64 },
}

/// A position in the log: the record `seq`, written by the master of generation `gen`.
/// `seq` 0 is the empty log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Pos {
    /// Random, created each time a node becomes master (DRBD's generation identifier).
    pub gen: u64,
    pub seq: u64,
}

impl Pos {
    /// Whichever of the two is further along.
    pub fn max_seq(self, other: Self) -> Self {
        if other.seq >= self.seq {
            other
        } else {
            self
        }
    }
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

/// Metadata of a file in the shared tree, as journaled and as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// Relative to the shared root, `/`-separated.
    pub path: String,
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// BLAKE3 of the content.
    pub hash: [u8; 32],
}

/// One record of a divergence event, as the backup sends it to the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergent {
    /// The divergence journal's folder name on the backup (unique per event).
    pub event: String,
    /// The last record both nodes had.
    pub fork: u64,
    /// How many records the event has.
    pub total: u64,
    /// The record's sequence number in the backup's old log.
    pub seq: u64,
    /// The raw SQLite changeset.
    pub changeset: Vec<u8>,
}

impl FileMeta {
    /// The journal body of a file record (also the `Repair` body).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Writer(out);
        w.str(&self.path);
        w.u64(self.size);
        w.u64(u64::from(self.mode));
        w.u64(self.mtime_ns as u64);
        w.0.extend_from_slice(&self.hash);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader(body);
        let meta = Self::read(&mut r)?;
        if !r.0.is_empty() {
            return Err(DecodeError::Trailing { extra: r.0.len() });
        }
        Ok(meta)
    }

    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            path: r.str()?,
            size: r.u64()?,
            mode: match r.u64()? {
                mode @ 0..=0o7777 => mode as u32,
                value => {
                    return Err(DecodeError::Value {
                        what: "mode",
                        value,
                    })
                }
            },
            mtime_ns: r.u64()? as i64,
            hash: r.array()?,
        })
    }
}

/// The journal body of a delete record.
pub fn decode_path(body: &[u8]) -> Result<String, DecodeError> {
    let mut r = Reader(body);
    let path = r.str()?;
    if !r.0.is_empty() {
        return Err(DecodeError::Trailing { extra: r.0.len() });
    }
    Ok(path)
}

pub fn encode_path(path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    Writer(&mut out).str(path);
    out
}

/// Appends the record format's fields (big-endian integers, length-prefixed bytes).
pub struct Writer<'a>(pub &'a mut Vec<u8>);

impl Writer<'_> {
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub fn pos(&mut self, p: Pos) {
        self.u64(p.gen);
        self.u64(p.seq);
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u32).to_be_bytes());
        self.0.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

/// Takes the record format's fields off the front of a body; every read is bounded by what
/// is left, so a length field never allocates more than the body holds.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated {
                need: n - self.0.len(),
            });
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    /// A boolean byte: only 0 and 1, so every value has one encoding.
    pub fn flag(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError::Value {
                what,
                value: u64::from(v),
            }),
        }
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut b = [0; 8];
        b.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(b))
    }
    pub fn array(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut b = [0; 32];
        b.copy_from_slice(self.take(32)?);
        Ok(b)
    }
    pub fn pos(&mut self) -> Result<Pos, DecodeError> {
        Ok(Pos {
            gen: self.u64()?,
            seq: self.u64()?,
        })
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let mut b = [0; 4];
        b.copy_from_slice(self.take(4)?);
        self.take(u32::from_be_bytes(b) as usize)
    }
    pub fn str(&mut self) -> Result<String, DecodeError> {
        std::str::from_utf8(self.bytes()?)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Utf8)
    }
}
