//! The workspace's layout rules, checked on the sources (no root, no tools):
//! - a module whose header (its first `//!` line) says "Pure" names no tokio, no socket and
//!   reads no clock outside its tests, and imports no module whose header says "Driver";
//! - no daemon crate (supervisor, mediacore, sync-agent) depends on another, and the OVA
//!   tool depends on none of them: what two of them share is a crate named for its job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const CRATES: [&str; 7] = [
    "component",
    "journal",
    "firstboot",
    "supervisor",
    "mediacore",
    "sync-agent",
    "vmware",
];
const DAEMONS: [&str; 3] = ["supervisor", "mediacore", "sync-agent"];

/// What a pure module must not name: the async runtime, sockets, and clock reads (the core
/// takes `now` as an input).
const IMPURE: [&str; 14] = [
    "tokio",
    "UdpSocket",
    "TcpStream",
    "TcpListener",
    "UnixStream",
    "UnixListener",
    "UnixDatagram",
    "socket2",
    "Instant::now",
    "SystemTime::now",
    "monotonic::now",
    "localtime::now",
    "now_ms()",
    "now_us()",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Module {
    file: PathBuf,
    header: String,
    /// The code outside comments and outside its `#[cfg(test)]` module.
    code: Vec<(usize, String)>,
}

/// Every module of `krate`, by its path inside the crate (`vrrp::machine`; "" for the root).
fn modules(krate: &str) -> BTreeMap<String, Module> {
    let src = workspace().join(krate).join("src");
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.first().is_some_and(|p| p == "bin") {
                continue;
            }
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            out.insert(parts.join("::"), parse(path, &text));
        }
    }
    out
}

fn parse(file: PathBuf, text: &str) -> Module {
    let header = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.strip_prefix("//!"))
        .unwrap_or("")
        .trim()
        .to_owned();
    let mut code = Vec::new();
    // Inside a `#[cfg(test)]` item: the depth of its braces once it opened one.
    let mut in_test: Option<(bool, i32)> = None;
    for (i, line) in text.lines().enumerate() {
        let without_comment = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        if line.trim_start().starts_with("#[cfg(test)]") {
            in_test = Some((false, 0));
            continue;
        }
        if let Some((opened, depth)) = &mut in_test {
            for c in without_comment.chars() {
                match c {
                    '{' => {
                        *opened = true;
                        *depth += 1;
                    }
                    '}' => *depth -= 1,
                    _ => {}
                }
            }
            let ended =
                (*opened && *depth <= 0) || (!*opened && without_comment.trim_end().ends_with(';'));
            if ended {
                in_test = None;
            }
            continue;
        }
        if !without_comment.trim().is_empty() {
            code.push((i + 1, without_comment.to_owned()));
        }
    }
    Module { file, header, code }
}

fn is_pure(m: &Module) -> bool {
    m.header.starts_with("Pure")
}

#[test]
fn pure_modules_name_no_runtime_no_socket_and_read_no_clock() {
    let mut found = Vec::new();
    let mut pure = 0;
    for krate in CRATES {
        for m in modules(krate).values().filter(|m| is_pure(m)) {
            pure += 1;
            for (line, code) in &m.code {
                for word in IMPURE.iter().filter(|w| code.contains(*w)) {
                    found.push(format!("{}:{line}: {word}", m.file.display()));
                }
            }
        }
    }
    assert!(
        pure > 50,
        "only {pure} modules say they are pure: is the header rule still used?"
    );
    assert!(
        found.is_empty(),
        "pure modules that are not:\n{}",
        found.join("\n")
    );
}

/// The module a `crate::a::b::c` or `super::a` path names: the longest prefix that is one.
fn resolve<'a>(
    modules: &'a BTreeMap<String, Module>,
    from: &str,
    path: &str,
) -> Option<(&'a str, &'a Module)> {
    let mut base: Vec<&str> = Vec::new();
    let mut rest = path;
    if let Some(r) = rest.strip_prefix("crate::") {
        rest = r;
    } else {
        base = from.split("::").filter(|p| !p.is_empty()).collect();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
    }
    let parts: Vec<&str> = base
        .into_iter()
        .chain(rest.split("::").filter(|p| !p.is_empty()))
        .collect();
    (1..=parts.len()).rev().find_map(|n| {
        let key = parts[..n].join("::");
        modules.get_key_value(&key).map(|(k, m)| (k.as_str(), m))
    })
}

/// The `crate::…` and `super::…` paths a line names (in `use` lists, the prefix before `{`).
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut at = 0;
        while let Some(found) = code[at..].find(start) {
            let begin = at + found;
            let preceded = code[..begin]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            let end = code[begin..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| begin + e);
            if !preceded {
                out.push(code[begin..end].trim_end_matches(':').to_owned());
            }
            at = end.max(begin + start.len());
        }
    }
    out
}

#[test]
fn pure_modules_import_no_driver() {
    let mut found = Vec::new();
    for krate in CRATES {
        let modules = modules(krate);
        for (name, m) in modules.iter().filter(|(_, m)| is_pure(m)) {
            // A `mod.rs` is its folder: `super` from it is the folder's parent.
            let from = if m.file.ends_with("mod.rs") || m.file.ends_with("lib.rs") {
                format!("{name}::_")
            } else {
                name.clone()
            };
            for (line, code) in &m.code {
                for path in paths(code) {
                    if let Some((target, t)) = resolve(&modules, &from, &path) {
                        if target != name && t.header.starts_with("Driver") {
                            found.push(format!(
                                "{}:{line}: {path} is a driver ({})",
                                m.file.display(),
                                t.file.display()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "pure modules importing drivers:\n{}",
        found.join("\n")
    );
}

/// The names of the path dependencies in a crate's `[dependencies]` table.
fn dependencies(krate: &str) -> Vec<String> {
    let text = std::fs::read_to_string(workspace().join(krate).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn no_daemon_crate_depends_on_another_and_the_ova_tool_on_none() {
    for krate in DAEMONS
        .iter()
        .chain(&["vmware", "component", "journal", "firstboot"])
    {
        let deps = dependencies(krate);
        let daemons: Vec<_> = deps
            .iter()
            .filter(|d| DAEMONS.contains(&d.as_str()))
            .collect();
        assert!(
            daemons.is_empty(),
            "{krate} depends on the daemon crate(s) {daemons:?}: move what they share into a crate named for its job"
        );
    }
    assert_eq!(
        dependencies("vmware")
            .iter()
            .filter(|d| CRATES.contains(&d.as_str()))
            .collect::<Vec<_>>(),
        ["firstboot"],
        "the OVA tool reads first boot's spec and nothing else of ours"
    );
}
