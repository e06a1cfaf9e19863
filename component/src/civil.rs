//! Pure: calendar dates as day numbers since 1970-01-01 and back, by jiff's civil dates
//! (proleptic Gregorian, years -9999 to 9999: outside that, `None`).

use jiff::civil::Date;
use jiff::ToSpan;

const EPOCH: Date = jiff::civil::date(1970, 1, 1);

/// The first and last day numbers jiff has a date for (-9999-01-01 and 9999-12-31).
pub const MIN_DAY: i64 = -4_371_587;
pub const MAX_DAY: i64 = 2_932_896;

/// (year, month 1–12, day 1–31) of `days` since 1970-01-01.
pub fn civil_from_days(days: i64) -> Option<(i64, u32, u32)> {
    if !(MIN_DAY..=MAX_DAY).contains(&days) {
        return None;
    }
    let date = EPOCH.checked_add(days.days()).ok()?;
    Some((
        i64::from(date.year()),
        date.month() as u32,
        date.day() as u32,
    ))
}

/// Days from 1970-01-01 to `y`-`m`-`d`; `None` for a date that does not exist
/// (2026-02-30) or is out of range.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    let date = Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()?;
    Some(i64::from(EPOCH.until(date).ok()?.get_days()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_dates_round_trip() {
        assert_eq!(civil_from_days(0), Some((1970, 1, 1)));
        assert_eq!(civil_from_days(20_779), Some((2026, 11, 22)));
        assert_eq!(civil_from_days(-1), Some((1969, 12, 31)));
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days).unwrap();
            assert_eq!(days_from_civil(y, m, d), Some(days));
        }
        let day = |y, m, d| days_from_civil(y, m, d).unwrap();
        assert_eq!(day(2024, 3, 1) - day(2024, 2, 28), 2, "leap year");
    }

    #[test]
    fn the_range_ends_and_dates_that_do_not_exist() {
        assert_eq!(civil_from_days(MIN_DAY), Some((-9999, 1, 1)));
        assert_eq!(civil_from_days(MAX_DAY), Some((9999, 12, 31)));
        assert_eq!(civil_from_days(MAX_DAY + 1), None);
        assert_eq!(civil_from_days(i64::MIN), None);
        assert_eq!(days_from_civil(2026, 2, 30), None);
        assert_eq!(days_from_civil(2026, 13, 1), None);
        assert_eq!(days_from_civil(99_999, 1, 1), None);
    }
}
