//! Driver: the descriptor validated against the DMTF OVF 1.1.1 envelope schema (DSP8023,
//! in `vmware/ovf-schema/`) by `xmllint --nonet`, so nothing is fetched.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The schema files shipped in this crate.
pub fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ovf-schema")
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("running xmllint (Debian package libxml2-utils)")]
    Spawn {
        #[source]
        source: std::io::Error,
    },
    #[error("the descriptor does not validate against DSP8023:\n{output}")]
    Invalid { output: String },
}

/// Validates `descriptor` against `dir/dsp8023_1.1.1.xsd`.
pub fn validate(descriptor: &[u8], dir: &Path) -> Result<(), SchemaError> {
    let spawn = |source| SchemaError::Spawn { source };
    let mut child = Command::new("xmllint")
        .args(["--nonet", "--noout", "--schema"])
        .arg(dir.join("dsp8023_1.1.1.xsd"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(descriptor)
        .map_err(spawn)?;
    let out = child.wait_with_output().map_err(spawn)?;
    if out.status.success() {
        return Ok(());
    }
    // The duplicate import of common.xsd draws a harmless warning; keep only the rest.
    let output = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.contains("Skipping import of schema"))
        .collect::<Vec<_>>()
        .join("\n");
    Err(SchemaError::Invalid { output })
}
