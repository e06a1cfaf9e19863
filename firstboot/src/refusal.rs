//! Driver: what first boot refused, kept for the operator. An environment first boot cannot
//! use (a VIP outside the data network, a malformed certificate, missing adapters) leaves the
//! node on the settings of its last good boot, or unconfigured on its first; the console and
//! the journal say why, and so does `allertactl status`, which reads this file even while
//! the supervisor is not running (an unconfigured node has none). A boot that configures
//! the node, or finds nothing to change, removes it.

use std::io;
use std::path::{Path, PathBuf};

/// The file, on the node (under first boot's `--root`).
pub const FILE: &str = "/etc/allerta/node/firstboot.refused";

fn under(root: &Path) -> PathBuf {
    root.join(FILE.trim_start_matches('/'))
}

/// Records that this boot's environment was refused, with one line per problem.
pub fn record(root: &Path, problems: &[String]) -> io::Result<()> {
    let path = under(root);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut text = String::new();
    for p in problems {
        text.push_str(p.trim_end());
        text.push('\n');
    }
    std::fs::write(path, text)
}

/// This boot used the environment (or found nothing to change): nothing is refused.
pub fn clear(root: &Path) -> io::Result<()> {
    match std::fs::remove_file(under(root)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The problems recorded at `file`, if the last boot refused its environment.
pub fn read(file: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    Some(text.lines().map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_kept_until_a_boot_uses_its_environment() {
        let root = std::env::temp_dir().join(format!("allerta-refusal-{}", std::process::id()));
        let file = under(&root);
        assert_eq!(read(&file), None);
        clear(&root).unwrap();
        record(
            &root,
            &["ha.vip: 10.0.9.10 is not in the data network 10.77.0.0/24".into()],
        )
        .unwrap();
        assert_eq!(
            read(&file).unwrap(),
            ["ha.vip: 10.0.9.10 is not in the data network 10.77.0.0/24"]
        );
        clear(&root).unwrap();
        assert_eq!(read(&file), None);
        let _ = std::fs::remove_dir_all(&root);
    }
}
