//! Pure: AMI event filters, as the `Filter` action adds them and as `manager.conf`'s
//! `eventfilter` gives them to a user: a regex on the event's text, `!` first to exclude.

/// Event filters one session may hold (each is a compiled regex: bounded memory).
pub const MAX_FILTERS: usize = 64;

/// An event filter's regex; the size limit keeps a hostile pattern from costing us memory
/// or time.
pub fn compile(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(256 * 1024)
        .build()
}
