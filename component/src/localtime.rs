//! Driver: the node's UTC offset from the system's time-zone data (`localtime_r`), for the
//! SLA's local service times and the local times operators write in the windows file. The
//! pure modules take the offset as a function or get local seconds, so their tests need no TZ.

/// Seconds east of UTC in effect at `utc_secs` (since the Unix epoch): 3600 in Rome in
/// winter, 7200 in summer. 0 if the C library cannot tell.
#[allow(unsafe_code)]
pub fn utc_offset_secs(utc_secs: i64) -> i64 {
    // time_t is 64 bits on every target we build for.
    let t = utc_secs as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which we own; `t` lives for the call. An
    // all-zero `tm` is a valid value of that plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        tm.tm_gmtoff as i64 // c_long: i64 on our 64-bit targets
    } else {
        0
    }
}

/// Local seconds (UTC seconds plus the offset in effect then) of `utc_ms`.
pub fn local_secs(utc_ms: u64) -> i64 {
    let secs = (utc_ms / 1000) as i64;
    secs + utc_offset_secs(secs)
}

/// Milliseconds since the Unix epoch now (wall clock).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_whole_minutes_within_a_day() {
        let off = utc_offset_secs(1_780_000_000);
        assert!(off.abs() < 86_400 && off % 60 == 0, "{off}");
        assert_eq!(local_secs(1_780_000_000_123), 1_780_000_000 + off);
    }
}
