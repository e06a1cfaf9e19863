//! Pure: cutting SIP messages out of a TCP byte stream by Content-Length (RFC 3261 §18.3),
//! and CRLF keep-alives (RFC 5626 §3.5.1).
//!
//! A message is read whole, so the stream is framed here first. On UDP a
//! datagram is one message and [`super::message::parse`] handles Content-Length itself.

use bytes::{Buf, Bytes, BytesMut};

use super::message::content_length;

/// The largest message we accept on a stream; a peer sending more is cut off.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// One unit cut from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A CRLFCRLF keep-alive ping: answer with a single CRLF (pong).
    Ping,
    /// One complete SIP message, head and body.
    Message(Bytes),
}

/// The stream cannot be framed any more; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Head or head + body larger than [`MAX_MESSAGE`].
    #[error("message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
    /// A stream message must say how long its body is (RFC 3261 §18.3, §20.14).
    #[error("message without a valid Content-Length on a stream transport")]
    ContentLength,
}

/// Splits one frame off the front of `buf`; `Ok(None)` means "need more bytes".
pub fn next_frame(buf: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
    let blank = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    if blank > 0 {
        let ping = buf.starts_with(b"\r\n\r\n");
        if ping {
            buf.advance(4);
            return Ok(Some(Frame::Ping));
        }
        if blank == buf.len() && blank < 4 && buf.starts_with(b"\r\n") {
            // Maybe the first half of a ping: wait for the rest.
            return Ok(None);
        }
        buf.advance(blank);
    }
    let Some(head_len) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4) else {
        return if buf.len() > MAX_MESSAGE {
            Err(FrameError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let body_len = content_length(&buf[..head_len]).ok_or(FrameError::ContentLength)?;
    // checked: a Content-Length near usize::MAX must not wrap (found by fuzzing).
    let total = head_len.checked_add(body_len).ok_or(FrameError::TooLarge)?;
    if total > MAX_MESSAGE {
        return Err(FrameError::TooLarge);
    }
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some(Frame::Message(buf.split_to(total).freeze())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";

    #[test]
    fn two_messages_and_a_ping_in_one_read_come_out_one_by_one() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(OPTIONS);
        buf.extend_from_slice(b"\r\n\r\n");
        buf.extend_from_slice(OPTIONS);
        assert_eq!(
            next_frame(&mut buf),
            Ok(Some(Frame::Message(Bytes::from_static(OPTIONS))))
        );
        assert_eq!(next_frame(&mut buf), Ok(Some(Frame::Ping)));
        assert_eq!(
            next_frame(&mut buf),
            Ok(Some(Frame::Message(Bytes::from_static(OPTIONS))))
        );
        assert_eq!(next_frame(&mut buf), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn a_message_split_across_reads_waits_for_its_body() {
        for cut in 1..OPTIONS.len() {
            let mut buf = BytesMut::from(&OPTIONS[..cut]);
            assert_eq!(next_frame(&mut buf), Ok(None), "cut at {cut}");
            buf.extend_from_slice(&OPTIONS[cut..]);
            assert!(
                matches!(next_frame(&mut buf), Ok(Some(Frame::Message(_)))),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_stream_message_without_content_length_is_refused() {
        let mut buf = BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"[..]);
        assert_eq!(next_frame(&mut buf), Err(FrameError::ContentLength));
    }

    #[test]
    fn an_endless_head_is_cut_off() {
        let mut buf = BytesMut::from(&vec![b'a'; MAX_MESSAGE + 1][..]);
        assert_eq!(next_frame(&mut buf), Err(FrameError::TooLarge));
        let mut huge =
            BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 999999\r\n\r\n"[..]);
        assert_eq!(next_frame(&mut huge), Err(FrameError::TooLarge));
    }

    #[test]
    fn content_length_in_any_spelling_frames_and_two_that_differ_do_not() {
        for head in [
            "OPTIONS sip:a@b SIP/2.0\r\nL: 3\r\n\r\n",
            "OPTIONS sip:a@b SIP/2.0\r\ncontent-length   :  3\r\n\r\n",
            "OPTIONS sip:a@b SIP/2.0\r\nContent-Length:\r\n 3\r\n\r\n",
            "OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\nContent-Length: 3\r\n\r\n",
        ] {
            let mut buf = BytesMut::from(format!("{head}abc").as_bytes());
            assert!(
                matches!(next_frame(&mut buf), Ok(Some(Frame::Message(_)))),
                "{head:?}"
            );
            assert!(buf.is_empty(), "{head:?}");
        }
        let mut two = BytesMut::from(&b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\nl: 5\r\n\r\nabc"[..]);
        assert_eq!(next_frame(&mut two), Err(FrameError::ContentLength));
    }
}
