//! Prerequisites of lab tests. A missing one is a failure with a message saying what to
//! install, never a quiet skip: `./allerta test` installs everything the suite needs.

use std::path::PathBuf;

/// Fails the test unless it runs as root (network namespaces need it).
pub fn require_root(test: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{test}: lab tests need root (network namespaces); run `./allerta test` as root"
    );
}

/// Fails the test unless every tool is on PATH.
pub fn require_tools(test: &str, tools: &[&str]) {
    for tool in tools {
        assert!(
            which(tool).is_some(),
            "{test}: needs `{tool}` on PATH; `./allerta setup` installs it (Debian package list in the script)"
        );
    }
}

pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// A binary of this workspace, built by `cargo build --workspace --bins` (the test script
/// does that first): next to the running program (a bench or the demo), or next to the
/// `deps/` folder a test executable runs from.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let here = exe.parent().expect("exe dir");
    let candidates = [here.join(name), here.parent().unwrap_or(here).join(name)];
    candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| {
        panic!(
            "{name} not found next to {}: build the workspace first (`cargo build --workspace --bins`)",
            exe.display()
        )
    })
}

/// Fails (never skips) unless `python3` can import `module` (`./allerta setup` installs
/// the PyPI packages the tests use).
pub fn require_python_module(test: &str, module: &str) {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{test}: needs the Python module `{module}`; `./allerta setup` installs it from PyPI"
    );
}
