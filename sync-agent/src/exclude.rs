//! Pure: what never leaves a node. The shared tree is replicated file by file, and every
//! path is checked here first, on both sides: the sender never journals an excluded path
//! and the receiver refuses one (so a misconfigured or hostile peer cannot write a node's
//! keys or trunks either).
//!
//! Patterns are relative to the shared root, `/`-separated; `*` and `?` match inside one
//! component, `**` matches any number of components (also none).

/// Node-local by design (ARCHITECTURE.md, "Files on a node"): node identity, trunks,
/// addresses and TLS material, wherever someone drops a copy of them in the shared tree.
/// The last one is our own temporary files, which are never state.
pub const NODE_LOCAL: &[&str] = &[
    "node/**",
    "**/node.toml",
    "**/tls/**",
    "**/pjsip.conf",
    "**/*.key",
    "**/*.pem",
    "**/*.crt",
    "**/*.p12",
    "**/*.pfx",
    "**/*.allerta-sync-tmp",
];

/// The suffix of the temporary files the receiver writes before a rename.
pub const TMP_SUFFIX: &str = ".allerta-sync-tmp";

/// The exclusion list: the built-in node-local patterns plus the configured extra ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusions {
    patterns: Vec<String>,
}

/// Why a relative path may not be replicated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is empty")]
    Empty,
    #[error("path is absolute")]
    Absolute,
    #[error("path has a `.`, `..` or empty component")]
    NotNormal,
    #[error("path matches the exclusion pattern {pattern:?}")]
    Excluded { pattern: String },
}

impl Default for Exclusions {
    fn default() -> Self {
        Self::new(&[])
    }
}

impl Exclusions {
    /// The built-in patterns and `extra` (from `[sync] exclude`).
    pub fn new(extra: &[String]) -> Self {
        let patterns = NODE_LOCAL
            .iter()
            .map(|p| (*p).to_owned())
            .chain(extra.iter().cloned())
            .collect();
        Self { patterns }
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// The pattern that excludes `rel`, if any.
    pub fn matching(&self, rel: &str) -> Option<&str> {
        let parts: Vec<&str> = rel.split('/').collect();
        self.patterns
            .iter()
            .find(|p| {
                let pat: Vec<&str> = p.split('/').collect();
                match_parts(&pat, &parts)
            })
            .map(String::as_str)
    }

    /// Accepts `rel` only if it is a normal relative path that no pattern excludes.
    pub fn check(&self, rel: &str) -> Result<(), PathError> {
        if rel.is_empty() {
            return Err(PathError::Empty);
        }
        if rel.starts_with('/') {
            return Err(PathError::Absolute);
        }
        if rel
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.contains('\0'))
        {
            return Err(PathError::NotNormal);
        }
        match self.matching(rel) {
            Some(pattern) => Err(PathError::Excluded {
                pattern: pattern.to_owned(),
            }),
            None => Ok(()),
        }
    }

    pub fn is_excluded(&self, rel: &str) -> bool {
        self.check(rel).is_err()
    }
}

fn match_parts(pat: &[&str], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((&"**", rest)) => (0..=parts.len()).any(|skip| match_parts(rest, &parts[skip..])),
        Some((first, rest)) => match parts.split_first() {
            Some((part, more)) => {
                match_component(first.as_bytes(), part.as_bytes()) && match_parts(rest, more)
            }
            None => false,
        },
    }
}

/// `*` and `?` inside one component (iterative, so a long name cannot blow the stack).
fn match_component(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, i));
            p += 1;
        } else if let Some((sp, si)) = star {
            p = sp + 1;
            i = si + 1;
            star = Some((sp, si + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_local_files_are_excluded_wherever_they_sit() {
        let ex = Exclusions::default();
        for rel in [
            "node/pjsip.conf",
            "node/tls/node.key",
            "node.toml",
            "sub/node.toml",
            "tls/ca.pem",
            "a/b/tls/x",
            "pjsip.conf",
            "trunks/pjsip.conf",
            "server.key",
            "deep/dir/cert.pem",
            "x.crt",
            "prompts/.alert.wav.allerta-sync-tmp",
        ] {
            assert!(ex.is_excluded(rel), "{rel} should be excluded");
        }
    }

    #[test]
    fn shared_files_pass() {
        let ex = Exclusions::default();
        for rel in [
            "extensions.conf",
            "manager.conf",
            "prompts/alert.wav",
            "templates/flood.txt",
            "nodes.txt",
            "mynode/x",
            "tlsx/y",
            "keys.txt",
        ] {
            assert_eq!(ex.check(rel), Ok(()), "{rel}");
        }
    }

    #[test]
    fn unsafe_paths_are_refused() {
        let ex = Exclusions::default();
        assert_eq!(ex.check(""), Err(PathError::Empty));
        assert_eq!(ex.check("/etc/passwd"), Err(PathError::Absolute));
        assert_eq!(ex.check("../node.toml"), Err(PathError::NotNormal));
        assert_eq!(ex.check("a/../../x"), Err(PathError::NotNormal));
        assert_eq!(ex.check("a//b"), Err(PathError::NotNormal));
        assert_eq!(ex.check("./a"), Err(PathError::NotNormal));
    }

    #[test]
    fn extra_patterns_add_to_the_builtin_ones() {
        let ex = Exclusions::new(&["cache/**".into(), "*.bak".into()]);
        assert!(ex.is_excluded("cache/a/b"));
        assert!(ex.is_excluded("x.bak"));
        assert!(!ex.is_excluded("sub/x.bak"), "no ** so only at the top");
        assert!(ex.is_excluded("node/anything"));
        assert_eq!(
            ex.check("x.bak"),
            Err(PathError::Excluded {
                pattern: "*.bak".into()
            })
        );
    }

    #[test]
    fn wildcards_match_within_a_component() {
        assert!(match_component(b"*.wav", b"a.wav"));
        assert!(match_component(b"a?c", b"abc"));
        assert!(!match_component(b"*.wav", b"a.wav.bak"));
        assert!(match_component(b"**", b""));
        assert!(!match_component(b"a*b*c", &[b'a'; 10_000]));
    }
}
