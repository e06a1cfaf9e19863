//! Bytes off the sync connection: `sync_agent::proto::frame::Message::decode` until it needs
//! more or fails (each frame must consume bytes and re-encode to the same bytes, so decode →
//! encode → decode is the identity); every decoded message then goes into a
//! `proto::receiver::Receiver`, which must answer with a step or an error, never panic.
//! File and delete bodies inside records go through `FileMeta::decode` and `decode_path`;
//! a `Divergent` record's changeset (what the backup wrote alone, kept by the master's
//! inbox) goes through `inbox::rows`, the reader the inbox checks it with; so does the raw
//! input.
//! The input is also sealed as one frame (`frame::seal`: length and check made valid), so the
//! mutator reaches the body decoders behind the check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sync_agent::proto::frame::{decode_path, seal, FileMeta, Message};
use sync_agent::proto::receiver::Receiver;
use sync_agent::proto::{Pos, Record};

fuzz_target!(|data: &[u8]| {
    let _ = journal::inbox::rows(data);
    stream(data);
    if !data.is_empty() && data.len() < 1 << 20 {
        stream(&seal(data));
    }
});

fn stream(data: &[u8]) {
    let mut rx = Receiver::new(Pos { gen: 1, seq: 0 });
    let mut rest = data;
    while let Ok(Some((message, used))) = Message::decode(rest) {
        assert!(used > 0 && used <= rest.len());
        let mut again = Vec::new();
        message.encode(&mut again);
        assert_eq!(&again[..], &rest[..used], "re-encoding differs");
        if let Message::Record(Record { body, .. }) = &message {
            if let Ok(meta) = FileMeta::decode(body) {
                assert_eq!(FileMeta::decode(&meta.to_bytes()), Ok(meta));
            }
            let _ = decode_path(body);
        }
        if let Message::Divergent(d) = &message {
            let _ = journal::inbox::rows(&d.changeset);
        }
        if let Ok(sync_agent::proto::receiver::Step::Apply(r)) = rx.on_message(message) {
            rx.applied(r.pos);
        }
        rest = &rest[used..];
    }
}
