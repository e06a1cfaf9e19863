//! Driver: a tracing layer that writes each event to journald's native socket, as a
//! journal entry an administrator reads and a script queries:
//! - `MESSAGE` is the line the text log prints, span context and fields included
//!   (`vrrp{instance=VI_1 vrid=51}: state changed from=Backup to=Master`), so
//!   `journalctl -u allerta-supervisor` reads as it always did;
//! - `PRIORITY` by level (error 3, warn 4, info 5, debug 6, trace 7);
//! - each of the event's fields as a journal field, prefixed `F_` (`F_OPERATOR=rossi`);
//! - `SYSLOG_IDENTIFIER` (the program), `TARGET`, `CODE_FILE`, `CODE_LINE`.
//!
//! Written here because tracing-journald puts only the event's message in `MESSAGE`: the
//! fields and spans that make a line readable ("state changed" from where to where) would
//! then be visible only with `-o verbose`.

use std::fmt::Write as _;
use std::os::unix::net::UnixDatagram;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::{FormatFields, FormattedFields};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// journald's native socket.
pub const SOCKET: &str = "/run/systemd/journal/socket";

/// The longest `MESSAGE` sent, in bytes (journald takes far more from a datagram, but a
/// log line this long is a mistake, not a message).
const MAX_MESSAGE: usize = 48 * 1024;

pub struct Journald {
    socket: UnixDatagram,
    identifier: String,
    fields: DefaultFields,
}

impl Journald {
    /// Fails if journald's socket cannot be reached.
    pub fn new(identifier: &str) -> std::io::Result<Self> {
        Self::at(std::path::Path::new(SOCKET), identifier)
    }

    /// To the socket at `path` (a test's stand-in).
    pub fn at(path: &std::path::Path, identifier: &str) -> std::io::Result<Self> {
        let socket = UnixDatagram::unbound()?;
        socket.connect(path)?;
        Ok(Self {
            socket,
            identifier: identifier.to_owned(),
            fields: DefaultFields::new(),
        })
    }
}

fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 5,
        Level::DEBUG => 6,
        Level::TRACE => 7,
    }
}

/// Appends `KEY=value`, in the binary-safe form when the value has a line break.
fn put(entry: &mut Vec<u8>, key: &str, value: &str) {
    entry.extend_from_slice(key.as_bytes());
    if value.contains('\n') {
        entry.push(b'\n');
        entry.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        entry.push(b'=');
    }
    entry.extend_from_slice(value.as_bytes());
    entry.push(b'\n');
}

/// A field name as journald takes it: upper case letters, digits and `_`, prefixed `F_`.
fn journal_key(name: &str) -> String {
    let mut key = String::from("F_");
    key.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_uppercase()
        } else {
            '_'
        }
    }));
    key
}

/// The event's fields other than its message, as text.
#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() != "message" {
            self.0.push((journal_key(field.name()), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() != "message" {
            self.0
                .push((journal_key(field.name()), format!("{value:?}")));
        }
    }
}

impl<S> Layer<S> for Journald
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut formatted = FormattedFields::<DefaultFields>::new(String::new());
        if self
            .fields
            .format_fields(formatted.as_writer(), attrs)
            .is_ok()
        {
            span.extensions_mut().insert(formatted);
        }
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(formatted) = extensions.get_mut::<FormattedFields<DefaultFields>>() {
            let _ = self.fields.add_fields(formatted, values);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut message = String::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                message.push_str(span.name());
                let extensions = span.extensions();
                if let Some(f) = extensions.get::<FormattedFields<DefaultFields>>() {
                    if !f.fields.is_empty() {
                        let _ = write!(message, "{{{}}}", f.fields);
                    }
                }
                message.push_str(": ");
            }
        }
        let _ = self.fields.format_fields(Writer::new(&mut message), event);
        if message.len() > MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" …(cut)");
        }
        let meta = event.metadata();
        let mut entry = Vec::with_capacity(message.len() + 256);
        put(&mut entry, "MESSAGE", &message);
        put(&mut entry, "PRIORITY", &priority(meta.level()).to_string());
        put(&mut entry, "SYSLOG_IDENTIFIER", &self.identifier);
        put(&mut entry, "TARGET", meta.target());
        if let Some(file) = meta.file() {
            put(&mut entry, "CODE_FILE", file);
        }
        if let Some(line) = meta.line() {
            put(&mut entry, "CODE_LINE", &line.to_string());
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        for (key, value) in &fields.0 {
            put(&mut entry, key, value);
        }
        // A full journal or a stopped journald loses the line; the program goes on.
        let _ = self.socket.send(&entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_key_value_lines_or_binary_safe() {
        let mut e = Vec::new();
        put(&mut e, "MESSAGE", "state changed");
        put(&mut e, "F_ERROR", "two\nlines");
        let mut want = b"MESSAGE=state changed\nF_ERROR\n".to_vec();
        want.extend_from_slice(&9u64.to_le_bytes());
        want.extend_from_slice(b"two\nlines\n");
        assert_eq!(e, want);
        assert_eq!(journal_key("peer.addr-x"), "F_PEER_ADDR_X");
        assert_eq!(priority(&Level::INFO), 5);
        assert_eq!(priority(&Level::ERROR), 3);
    }

    #[test]
    fn an_event_reads_as_its_text_line_with_its_fields_beside() {
        use tracing_subscriber::layer::SubscriberExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("socket");
        let journal = UnixDatagram::bind(&path).unwrap();
        let layer = Journald::at(&path, "allerta-test").unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let _span = tracing::info_span!("vrrp", instance = "VI_1", vrid = 51).entered();
            tracing::warn!(from = "Backup", to = ?"Master", "state changed");
        });
        let mut buf = vec![0u8; 4096];
        let n = journal.recv(&mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        for line in [
            "MESSAGE=vrrp{instance=\"VI_1\" vrid=51}: state changed from=\"Backup\" to=\"Master\"",
            "PRIORITY=4",
            "SYSLOG_IDENTIFIER=allerta-test",
            "F_FROM=Backup",
            "F_TO=\"Master\"",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in:\n{text}");
        }
    }
}
