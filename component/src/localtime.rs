//! Driver: the node's local time, from the system's time-zone data (jiff: `TZ`, else
//! `/etc/localtime`), for the SLA's local service times, the local times operators write
//! in the windows file, campaign dialling windows and the console's pages. The pure
//! modules take the offset as a function or get local seconds, so their tests need no TZ.

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Seconds east of UTC in effect at `utc_secs` (since the Unix epoch): 3600 in Rome in
/// winter, 7200 in summer. 0 outside jiff's range (years -9999 to 9999).
pub fn utc_offset_secs(utc_secs: i64) -> i64 {
    offset_in(&TimeZone::system(), utc_secs)
}

/// The offset of `zone` at `utc_secs`.
pub fn offset_in(zone: &TimeZone, utc_secs: i64) -> i64 {
    Timestamp::from_second(utc_secs).map_or(0, |t| i64::from(zone.to_offset(t).seconds()))
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

    #[test]
    fn rome_changes_its_offset_on_the_last_sundays_of_march_and_october() {
        let rome = TimeZone::get("Europe/Rome").expect("tzdata");
        let at = |s: &str| s.parse::<Timestamp>().unwrap().as_second();
        assert_eq!(offset_in(&rome, at("2026-03-29T00:59:59Z")), 3600);
        assert_eq!(offset_in(&rome, at("2026-03-29T01:00:00Z")), 7200);
        // 02:00 to 03:00 local happens twice on 2026-10-25: first at +2, then at +1.
        assert_eq!(offset_in(&rome, at("2026-10-25T00:30:00Z")), 7200);
        assert_eq!(offset_in(&rome, at("2026-10-25T01:30:00Z")), 3600);
        assert_eq!(offset_in(&rome, i64::MAX), 0);
    }
}
