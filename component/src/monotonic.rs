//! Driver: the host's CLOCK_MONOTONIC as plain microseconds. Unlike `Instant`, the number
//! means the same in every process on the host, so the supervisor can stamp an advert and
//! the media core can compare that stamp with its own clock (the dispatch lease).

/// Microseconds of CLOCK_MONOTONIC now (0 if the clock cannot be read, which Linux never
/// does for this clock).
pub fn now_us() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_clock_moves_forward_in_microseconds() {
        let a = super::now_us();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = super::now_us();
        assert!(b >= a + 5_000 && b < a + 5_000_000, "{a} {b}");
    }
}
