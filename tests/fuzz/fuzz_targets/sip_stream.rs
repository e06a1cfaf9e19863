//! Arbitrary bytes as a SIP TCP byte stream, into `mediacore::sip::framing::next_frame`
//! (RFC 3261 §18.3 Content-Length framing, RFC 5626 CRLF keep-alives).
//!
//! The input is framed until `next_frame` asks for more bytes or refuses the stream, once
//! as a single read and once as two reads cut in the middle. Every frame must take at
//! least one byte off the buffer (no endless loop); a message frame must be a head ending
//! in CRLFCRLF plus exactly its Content-Length of body, no larger than `MAX_MESSAGE`, and
//! each goes through `message::parse` (which must not panic; rejecting it is fine). Both
//! ways of reading must give the same messages and the same error: framing may not depend
//! on where TCP cut the stream. (Pings are not compared: a lone CR or LF in front of a
//! CRLFCRLF is dropped as stray whitespace, so whether a ping is seen there can depend on
//! the cut, which is harmless.)
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use mediacore::sip::framing::{next_frame, Frame, FrameError, MAX_MESSAGE};
use mediacore::sip::message;

/// Frames `buf` until it needs more bytes; pushes the messages; returns the error, if any.
fn frame_all(buf: &mut BytesMut, messages: &mut Vec<Bytes>) -> Option<FrameError> {
    // Each frame consumes at least one byte (asserted), so this bound is never reached
    // unless framing stops making progress.
    for _ in 0..=buf.len() {
        let before = buf.len();
        match next_frame(buf) {
            Ok(Some(Frame::Ping)) => {}
            Ok(Some(Frame::Message(frame))) => {
                assert!(frame.len() <= MAX_MESSAGE, "frame of {} bytes", frame.len());
                let head_len = frame
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|i| i + 4)
                    .expect("a message frame has a CRLFCRLF");
                assert_eq!(
                    message::content_length(&frame[..head_len]),
                    Some(frame.len() - head_len),
                    "frame body is not its Content-Length"
                );
                let _ = message::parse(&frame);
                messages.push(frame);
            }
            Ok(None) => return None,
            Err(e) => return Some(e),
        }
        assert!(buf.len() < before, "a frame consumed no bytes");
    }
    panic!("framing made no progress: {} bytes left", buf.len());
}

fuzz_target!(|data: &[u8]| {
    let mut whole = Vec::new();
    let whole_err = frame_all(&mut BytesMut::from(data), &mut whole);

    let (first, second) = data.split_at(data.len() / 2);
    let mut split = Vec::new();
    let mut buf = BytesMut::from(first);
    let mut split_err = frame_all(&mut buf, &mut split);
    if split_err.is_none() {
        buf.extend_from_slice(second);
        split_err = frame_all(&mut buf, &mut split);
    }
    assert_eq!(split, whole, "messages depend on where the stream was cut");
    assert_eq!(
        split_err, whole_err,
        "error depends on where the stream was cut"
    );
});
