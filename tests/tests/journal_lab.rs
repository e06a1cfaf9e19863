//! The programs' lines reach journald natively when their output is the journal's stream,
//! as under the shipped unit: the real `allerta-web` binary, started with its output on a
//! socket whose device:inode is `JOURNAL_STREAM` (as systemd sets it for a unit's output),
//! in a mount namespace of its own where a stand-in journald socket is bind-mounted at
//! `/run/systemd/journal/socket`. Its lines arrive as journal entries with its own
//! identifier and info at priority 5, and nothing is written to the stream. With a
//! `JOURNAL_STREAM` that is not its output (a harness started from a unit), it writes text
//! instead. Needs root (unshare, mount).
//!
//! Lab difference: journald is a socket this test reads; the acceptance run reads the real
//! journal of the booted appliances.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use system_tests::prereq;

/// One native-protocol datagram: `KEY=value` lines, or `KEY\n<u64 le length>value\n`.
fn entry(datagram: &[u8]) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let line_end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let line = &rest[..line_end];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let key = String::from_utf8_lossy(&line[..eq]).into_owned();
            fields.insert(key, String::from_utf8_lossy(&line[eq + 1..]).into_owned());
            rest = rest.get(line_end + 1..).unwrap_or_default();
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let after = &rest[line_end + 1..];
            let len = u64::from_le_bytes(after[..8].try_into().unwrap()) as usize;
            let value = String::from_utf8_lossy(&after[8..8 + len]).into_owned();
            fields.insert(key, value);
            rest = after.get(8 + len + 1..).unwrap_or_default();
        }
    }
    fields
}

struct Started {
    child: Child,
    journal: UnixDatagram,
    output: UnixStream,
    _dir: tempfile::TempDir,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `allerta-web` on a fresh node file, its output on a socket; `JOURNAL_STREAM` names that
/// socket when `ours`, something else otherwise.
fn start(ours: bool) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("journal");
    std::fs::create_dir(&journal_dir).unwrap();
    let journal = UnixDatagram::bind(journal_dir.join("socket")).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let node = dir.path().join("node.toml");
    std::fs::write(
        &node,
        format!(
            "[node]\nname = \"node-a\"\n[log]\nfilter = \"info\"\n[console]\nlisten = \"127.0.0.1:0\"\ndatabase = \"{}\"\n",
            dir.path().join("allerta.db").display()
        ),
    )
    .unwrap();
    let (output, theirs) = UnixStream::pair().unwrap();
    let st = nix::sys::stat::fstat(theirs.as_fd()).unwrap();
    let stream = if ours {
        format!("{}:{}", st.st_dev, st.st_ino)
    } else {
        format!("{}:{}", st.st_dev, st.st_ino + 1)
    };
    let err = theirs.try_clone().unwrap();
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(
            "mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/journal /run/allerta \
             && mount --bind \"$1\" /run/systemd/journal \
             && exec \"$2\" --config \"$3\" --control /run/allerta/web.sock --role master",
        )
        .arg("sh")
        .arg(&journal_dir)
        .arg(prereq::workspace_bin("allerta-web"))
        .arg(&node)
        .env("JOURNAL_STREAM", stream)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stderr(Stdio::from(std::os::fd::OwnedFd::from(err)))
        .spawn()
        .expect("unshare");
    output.set_nonblocking(true).unwrap();
    Started {
        child,
        journal,
        output,
        _dir: dir,
    }
}

/// The entries that arrive within `wait`.
fn entries(s: &Started, wait: Duration) -> Vec<BTreeMap<String, String>> {
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while Instant::now() < deadline {
        if let Ok(n) = s.journal.recv(&mut buf) {
            out.push(entry(&buf[..n]));
        }
    }
    out
}

fn written(s: &mut Started) -> String {
    let mut text = Vec::new();
    let _ = s.output.read_to_end(&mut text);
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn under_the_units_stream_lines_go_to_journald_with_the_programs_identifier() {
    prereq::require_root("journal_lab");
    prereq::require_tools("journal_lab", &["unshare", "mount"]);
    let mut s = start(true);
    let got = entries(&s, Duration::from_secs(5));
    let ready = got.iter().find(|e| {
        e.get("MESSAGE")
            .is_some_and(|m| m.contains("web console ready"))
    });
    let Some(ready) = ready else {
        panic!(
            "no ready line in the journal: {got:#?}\noutput: {}",
            written(&mut s)
        );
    };
    assert_eq!(ready["SYSLOG_IDENTIFIER"], "allerta-web");
    assert_eq!(ready["PRIORITY"], "5", "info is notice: {ready:?}");
    assert_eq!(
        ready["MESSAGE"],
        "web console ready (role master until told otherwise) listen=127.0.0.1:0 node=node-a",
        "the message reads as the text log's line"
    );
    assert_eq!(
        ready.get("F_NODE").map(String::as_str),
        Some("node-a"),
        "fields are journal fields: {ready:?}"
    );
    assert!(
        got.iter()
            .all(|e| e.get("SYSLOG_IDENTIFIER").map(String::as_str) == Some("allerta-web")),
        "{got:#?}"
    );
    let text = written(&mut s);
    assert!(
        !text.contains("web console ready"),
        "a line went to the stream too: {text}"
    );
}

#[test]
fn a_journal_stream_that_is_not_its_output_gets_text() {
    prereq::require_root("journal_lab");
    prereq::require_tools("journal_lab", &["unshare", "mount"]);
    let mut s = start(false);
    let got = entries(&s, Duration::from_secs(3));
    assert!(got.is_empty(), "{got:#?}");
    let text = written(&mut s);
    assert!(text.contains("web console ready"), "{text}");
}
