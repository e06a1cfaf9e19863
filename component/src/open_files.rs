//! Driver: the open-file limit. Each call holds sockets (RTP and RTCP, twice when bridged),
//! so the media core needs thousands of descriptors where Debian's default soft limit is
//! 1024. Like Go's runtime, a daemon raises its soft limit to the hard one at start (the unit
//! sets the hard one, `LimitNOFILE=`), and says so when even that is short of what its
//! configuration needs: calls refused for want of a descriptor are an outage found too late.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft open-file limit to the hard one; returns the limit now in force.
pub fn raise() -> nix::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// Raises the limit and logs an error when it is below `needed` (what the configuration
/// can use at its busiest), naming what to change.
pub fn ensure(needed: u64, what: &str) {
    match raise() {
        Ok(limit) if limit < needed => tracing::error!(
            limit,
            needed,
            "the open-file limit is below what {what} needs; raise LimitNOFILE= in the unit"
        ),
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(error) => tracing::warn!(%error, "cannot read or raise the open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let limit = super::raise().unwrap();
        let (soft, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!((soft, limit), (hard, hard));
    }
}
