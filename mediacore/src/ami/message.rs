//! Pure: AMI message framing (Asterisk Manager Interface).
//!
//! A message is `Key: Value` lines ending in a blank line. Lines end with CRLF or, from
//! sloppy clients, a bare LF; keys are case-insensitive and may repeat (`Variable:`), so a
//! message is an ordered list of pairs. Blank lines between messages are skipped. Limits
//! keep a hostile client from growing our buffers without bound: a line of more than
//! [`MAX_LINE`] bytes, a message of more than [`MAX_FIELDS`] lines (every line counts, those
//! without a colon too, which are otherwise ignored) or of more than [`MAX_MESSAGE`] bytes is
//! an error and the connection is closed. So a client holds at most `MAX_MESSAGE` bytes of
//! ours while it sends, whatever it sends.

use bytes::{Buf, BytesMut};

/// The longest line we accept (a long `Variable:` list or `Data:` still fits).
pub const MAX_LINE: usize = 64 * 1024;
/// The most lines in one message.
pub const MAX_FIELDS: usize = 512;
/// The most bytes in one message (Asterisk keeps 1 KiB lines and 128 headers; a long
/// `Variable:` list still fits here).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// One AMI message: an action from a client, or a response or event from us. A message
/// may carry more messages to write right after it ([`Message::batch`]): a list response
/// and its events go out as one block, so no other event lands in between.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    fields: Vec<(String, String)>,
    then: Vec<Self>,
}

/// A stream we cannot frame any more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A line longer than [`MAX_LINE`].
    #[error("line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// More than [`MAX_FIELDS`] lines in one message.
    #[error("more than {MAX_FIELDS} lines in one message")]
    TooManyFields,
    /// More than [`MAX_MESSAGE`] bytes in one message.
    #[error("a message longer than {MAX_MESSAGE} bytes")]
    MessageTooLong,
}

impl Message {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// A message starting with `key: value` (`Response: Success`, `Event: Hangup`).
    pub fn with(key: &str, value: impl Into<String>) -> Self {
        let mut m = Self::new();
        m.push(key, value);
        m
    }

    /// Appends a field (keys keep the caller's spelling on the wire).
    pub fn push(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        // A value must stay on its line: CR and LF would start a new field (injection).
        let value: String = value
            .into()
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        self.fields.push((key.to_owned(), value));
        self
    }

    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// All fields in order.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// Several messages written back to back as one (the first, then the rest).
    pub fn batch(mut parts: Vec<Self>) -> Self {
        if parts.is_empty() {
            return Self::default();
        }
        let mut first = parts.remove(0);
        first.then.extend(parts);
        first
    }

    /// Writes the message and its blank line (and the messages batched after it).
    pub fn encode(&self, out: &mut Vec<u8>) {
        for (k, v) in &self.fields {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        for m in &self.then {
            m.encode(out);
        }
    }

    /// Takes one complete message off the front of `buf`; `Ok(None)` means "need more".
    /// Lines without a colon are ignored, as Asterisk does.
    pub fn decode(buf: &mut BytesMut) -> Result<Option<Self>, DecodeError> {
        // Skip blank lines between messages.
        loop {
            match buf.first() {
                Some(b'\n') => buf.advance(1),
                Some(b'\r') if buf.get(1) == Some(&b'\n') => buf.advance(2),
                _ => break,
            }
        }
        let mut fields = Vec::new();
        let mut lines = 0;
        let mut at = 0;
        loop {
            let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') else {
                if buf.len() - at > MAX_LINE {
                    return Err(DecodeError::LineTooLong);
                }
                if buf.len() > MAX_MESSAGE {
                    return Err(DecodeError::MessageTooLong);
                }
                return Ok(None);
            };
            if nl > MAX_LINE {
                return Err(DecodeError::LineTooLong);
            }
            let line = &buf[at..at + nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            at += nl + 1;
            if line.is_empty() {
                if fields.is_empty() {
                    continue; // cannot happen after the skip above, kept for clarity
                }
                buf.advance(at);
                return Ok(Some(Self {
                    fields,
                    then: Vec::new(),
                }));
            }
            // Every line counts: lines without a colon are ignored below, and a stream of
            // them (`yes | nc node 5038`) must not grow the buffer for ever.
            lines += 1;
            if lines > MAX_FIELDS {
                return Err(DecodeError::TooManyFields);
            }
            if at > MAX_MESSAGE {
                return Err(DecodeError::MessageTooLong);
            }
            let text = String::from_utf8_lossy(line);
            if let Some((k, v)) = text.split_once(':') {
                fields.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
    }
}

/// A list response as Asterisk 22 sends it: the response, one event per item, the
/// `…Complete` event — one block, so nothing interleaves.
pub fn list(
    id: Option<&str>,
    message: &str,
    items: Vec<Message>,
    complete: &str,
    extra: &[(&str, String)],
) -> Message {
    let with_id = |m: &mut Message| {
        if let Some(id) = id {
            m.push("ActionID", id);
        }
    };
    let mut head = Message::with("Response", "Success");
    with_id(&mut head);
    head.push("EventList", "start").push("Message", message);
    let count = items.len().to_string();
    let mut done = Message::with("Event", complete);
    with_id(&mut done);
    done.push("EventList", "Complete").push("ListItems", count);
    for (k, v) in extra {
        done.push(k, v.clone());
    }
    let mut parts = vec![head];
    parts.extend(items);
    parts.push(done);
    Message::batch(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> (Vec<Message>, BytesMut) {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(m) = Message::decode(&mut buf).unwrap() {
            out.push(m);
        }
        (out, buf)
    }

    #[test]
    fn several_actions_in_one_segment_with_crlf_or_lf_come_out_one_by_one() {
        let (msgs, rest) = decode_all(
            b"Action: Ping\r\nActionID: 1\r\n\r\naction: ping\nactionid: 2\n\n\r\nAction: Logo",
        );
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].get("action"), Some("Ping"));
        assert_eq!(msgs[1].get("ActionID"), Some("2"));
        assert_eq!(&rest[..], b"Action: Logo");
    }

    #[test]
    fn a_message_split_anywhere_waits_for_the_rest() {
        let whole = b"Action: Originate\r\nVariable: A=1\r\nVariable: B=2\r\n\r\n";
        for cut in 1..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(Message::decode(&mut buf), Ok(None), "cut at {cut}");
            buf.extend_from_slice(&whole[cut..]);
            let m = Message::decode(&mut buf).unwrap().unwrap();
            assert_eq!(m.get_all("variable").collect::<Vec<_>>(), ["A=1", "B=2"]);
        }
    }

    #[test]
    fn long_values_are_kept_and_endless_lines_refused() {
        let value = "x".repeat(10_000);
        let (msgs, _) = decode_all(format!("Action: Setvar\r\nValue: {value}\r\n\r\n").as_bytes());
        assert_eq!(msgs[0].get("value").map(str::len), Some(10_000));
        let mut endless = BytesMut::from(&vec![b'a'; MAX_LINE + 1][..]);
        assert_eq!(Message::decode(&mut endless), Err(DecodeError::LineTooLong));
        let many = "A: b\r\n".repeat(MAX_FIELDS + 1);
        assert_eq!(
            Message::decode(&mut BytesMut::from(many.as_bytes())),
            Err(DecodeError::TooManyFields)
        );
    }

    #[test]
    fn lines_without_a_colon_count_toward_the_limits() {
        // `yes | nc node 5038`: "y\n" for ever. They are ignored as Asterisk does, but a
        // message of them ends at the limit like any other (issue 16: 215 MB in 5 s).
        let flood = "y\n".repeat(MAX_FIELDS + 1);
        assert_eq!(
            Message::decode(&mut BytesMut::from(flood.as_bytes())),
            Err(DecodeError::TooManyFields)
        );
        let few = "y\nAction: Ping\n\n";
        let (msgs, _) = decode_all(few.as_bytes());
        assert_eq!(msgs[0].get("action"), Some("Ping"));
    }

    #[test]
    fn a_message_is_at_most_max_message_bytes_whatever_its_lines() {
        // Long lines under both line limits: the byte cap ends it.
        let line = format!("Variable: {}\r\n", "v".repeat(MAX_LINE - 100));
        let big = line.repeat(MAX_MESSAGE / line.len() + 1);
        assert_eq!(
            Message::decode(&mut BytesMut::from(big.as_bytes())),
            Err(DecodeError::MessageTooLong)
        );
        // Still arriving (no newline yet): the same cap, before the whole line is in.
        let mut partial = BytesMut::from(line.repeat(MAX_MESSAGE / line.len()).as_bytes());
        partial.extend_from_slice(&vec![b'v'; MAX_LINE - 1]);
        assert_eq!(
            Message::decode(&mut partial),
            Err(DecodeError::MessageTooLong)
        );
    }

    #[test]
    fn values_cannot_inject_fields_on_the_way_out() {
        let mut m = Message::with("Response", "Error");
        m.push("Message", "bad\r\nEvent: Fake");
        let mut out = Vec::new();
        m.encode(&mut out);
        assert_eq!(out, b"Response: Error\r\nMessage: bad  Event: Fake\r\n\r\n");
    }

    #[test]
    fn a_batch_goes_out_as_one_block_in_order() {
        let mut start = Message::with("Response", "Success");
        start.push("EventList", "start");
        let done = Message::with("Event", "CoreShowChannelsComplete");
        let mut out = Vec::new();
        Message::batch(vec![start, done]).encode(&mut out);
        assert_eq!(
            out,
            b"Response: Success\r\nEventList: start\r\n\r\nEvent: CoreShowChannelsComplete\r\n\r\n"
        );
    }

    #[test]
    fn lines_without_a_colon_are_ignored() {
        let (msgs, _) = decode_all(b"Action: Ping\r\ngarbage\r\n\r\n");
        assert_eq!(msgs[0].fields().len(), 1);
    }
}
