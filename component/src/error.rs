//! Pure: an error and its causes on one line ("connecting to /run/allerta/sync.sock: No such
//! file or directory"), for logs, `allertactl` and the status operators read. Error types
//! keep their causes as `#[source]` and never paste them into their own text; this is where
//! the text is put together.

/// "a: b: c" from an error and its sources.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connecting to {0}")]
    struct Connect(&'static str, #[source] std::io::Error);

    #[test]
    fn each_cause_follows_its_error() {
        let e = Connect("/run/allerta/sync.sock", std::io::Error::other("refused"));
        assert_eq!(chain(&e), "connecting to /run/allerta/sync.sock: refused");
    }
}
