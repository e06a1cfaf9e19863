//! The workspace's layout rules, checked on the sources (no root, no tools):
//! - a module whose header (its first `//!` line) says "Pure" names no tokio, no socket and
//!   reads no clock outside its tests, and imports no module whose header says "Driver";
//! - no module imports a module that imports it back, however far round (its folder's
//!   `mod.rs` aside);
//! - no daemon crate (supervisor, mediacore, sync-agent, console) depends on another, and the OVA
//!   tool depends on none of them: what two of them share is a crate named for its job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 12] = [
    "component",
    "journal",
    "alertdb",
    "prompts",
    "sla-windows",
    "operator-commands",
    "firstboot",
    "supervisor",
    "mediacore",
    "sync-agent",
    "console",
    "vmware",
];
const DAEMONS: [&str; 4] = ["supervisor", "mediacore", "sync-agent", "console"];

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

/// The `crate::…` and `super::…` paths a module names, with the line each starts on: every
/// leaf of its `use` trees (`use super::{a, b::{c, d}}` names `super::a`, `super::b::c`,
/// `super::b::d`), and the paths written inline in its code.
fn paths(m: &Module) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut statement: Option<(usize, String)> = None;
    for (line, code) in &m.code {
        let trimmed = code.trim_start();
        if statement.is_none() && (trimmed.starts_with("use ") || trimmed.starts_with("pub use ")) {
            statement = Some((*line, String::new()));
        }
        if let Some((start, text)) = &mut statement {
            text.push_str(code);
            if code.trim_end().ends_with(';') {
                let tree = text.split_once("use ").map_or("", |(_, t)| t);
                // One space where there was any, then none around the tree's punctuation:
                // `a::{b as c, d}` becomes `a::{b as c,d}`.
                let tree = tree.trim_end().trim_end_matches(';');
                let mut tree = tree.split_whitespace().collect::<Vec<_>>().join(" ");
                for p in ["::", "{", "}", ","] {
                    tree = tree
                        .replace(&format!(" {p}"), p)
                        .replace(&format!("{p} "), p);
                }
                if tree.starts_with("crate::") || tree.starts_with("super::") {
                    let mut leaves = Vec::new();
                    expand("", &tree, &mut leaves);
                    out.extend(leaves.into_iter().map(|l| (*start, l)));
                }
                statement = None;
            }
            continue;
        }
        out.extend(inline_paths(code).into_iter().map(|p| (*line, p)));
    }
    out
}

/// The leaves of a `use` tree with whitespace removed, each prefixed.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.split(" as ").next().unwrap_or(tree);
    let Some(open) = tree.find('{') else {
        let leaf = format!("{prefix}{tree}");
        let leaf = leaf.trim_end_matches("::self").trim_end_matches("::*");
        out.push(leaf.to_owned());
        return;
    };
    let head = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut depth = 0;
    let mut item = String::new();
    for c in inner.chars().chain([',']) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                if !item.is_empty() {
                    expand(&format!("{prefix}{head}"), &item, out);
                }
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
}

/// `crate::a::b` and `super::a` written in a line of code (not a `use`).
fn inline_paths(code: &str) -> Vec<String> {
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
            for (line, path) in paths(m) {
                if let Some((target, t)) = resolve(&modules, name, &path) {
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
    assert!(
        found.is_empty(),
        "pure modules importing drivers:\n{}",
        found.join("\n")
    );
}

/// The modules `name` imports, its ancestors left out (a module may use what its folder's
/// `mod.rs` defines).
fn imports(modules: &BTreeMap<String, Module>, name: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (_, path) in paths(&modules[name]) {
        if let Some((target, _)) = resolve(modules, name, &path) {
            let ancestor = target.is_empty() || name.starts_with(&format!("{target}::"));
            if target != name && !ancestor {
                out.insert(target.to_owned());
            }
        }
    }
    out
}

/// A cycle through `start` in `graph`, if there is one (depth first, shortest found first).
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut queue = std::collections::VecDeque::from([vec![start.to_owned()]]);
    let mut seen = BTreeSet::new();
    while let Some(path) = queue.pop_front() {
        let last = path.last().unwrap();
        for next in &graph[last] {
            if next == start {
                return Some(path);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                queue.push_back(longer);
            }
        }
    }
    None
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut found = BTreeSet::new();
    for krate in CRATES {
        let modules = modules(krate);
        let graph: BTreeMap<String, BTreeSet<String>> = modules
            .keys()
            .map(|name| (name.clone(), imports(&modules, name)))
            .collect();
        for name in graph.keys() {
            if let Some(mut cycle) = cycle_through(&graph, name) {
                // One line per cycle, whichever module it was found from.
                let first = cycle.iter().min().unwrap().clone();
                let at = cycle.iter().position(|m| *m == first).unwrap();
                cycle.rotate_left(at);
                found.insert(format!("{krate}: {} -> {}", cycle.join(" -> "), first));
            }
        }
    }
    let found: Vec<_> = found.into_iter().collect();
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
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
    for krate in DAEMONS.iter().chain(&[
        "vmware",
        "component",
        "journal",
        "alertdb",
        "prompts",
        "sla-windows",
        "firstboot",
    ]) {
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
