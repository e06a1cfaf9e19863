//! Pure: the OVF manifest (`.mf`), one `SHA256(<file>)= <hex>` line per file. Exactly
//! that form: vSphere refuses `sha256sum --tag`'s `SHA256 (x) = …` ("Invalid OVF checksum
//! algorithm: SHA256 ") and OpenSSL 3's `SHA2-256(x)= …`.

use sha2::{Digest, Sha256};

/// A manifest line that is not `SHA256(<file>)= <64 hex digits>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("manifest line {line}: {text:?} is not SHA256(<file>)= <64 lowercase hex digits>")]
pub struct ManifestError {
    pub line: usize,
    pub text: String,
}

/// The hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The manifest for `files` (name, contents), in that order.
pub fn render<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    files
        .into_iter()
        .map(|(name, data)| format!("SHA256({name})= {}\n", sha256_hex(data)))
        .collect()
}

/// `(file, hex digest)` per line.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, ManifestError> {
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let bad = || ManifestError {
                line: i + 1,
                text: line.to_owned(),
            };
            let rest = line.strip_prefix("SHA256(").ok_or_else(bad)?;
            let (name, digest) = rest.split_once(")= ").ok_or_else(bad)?;
            let hex_ok = digest.len() == 64
                && digest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if name.is_empty() || !hex_ok {
                return Err(bad());
            }
            Ok((name.to_owned(), digest.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_vsphere_s_form_and_read_back() {
        let text = render([("a.ovf", &b"x"[..]), ("a-disk1.vmdk", &b""[..])]);
        assert_eq!(
            text,
            "SHA256(a.ovf)= 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\n\
             SHA256(a-disk1.vmdk)= e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
        );
        assert_eq!(parse(&text).unwrap()[1].0, "a-disk1.vmdk");
    }

    #[test]
    fn other_tools_forms_are_refused() {
        let digest = sha256_hex(b"x");
        for line in [
            format!("SHA256 (a.ovf) = {digest}"),
            format!("SHA2-256(a.ovf)= {digest}"),
            format!("SHA256(a.ovf)={digest}"),
            format!("SHA256(a.ovf)= {}", digest.to_uppercase()),
            format!("SHA1(a.ovf)= {}", &digest[..40]),
        ] {
            assert!(parse(&line).is_err(), "{line}");
        }
    }
}
