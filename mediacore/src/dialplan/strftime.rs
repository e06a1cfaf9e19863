//! Pure: `STRFTIME(epoch,timezone,format)`'s formatting, C `strftime` in the C locale for a
//! time given as seconds since the epoch and the UTC offset in effect then (the caller
//! reads the offset from the node's time zone). Conversions: `%Y %y %C %m %d %e %j %H %I
//! %M %S %p %a %A %b %h %B %u %w %s %z %n %t %%`, and the composites `%F %T %D %R %r %c
//! %x %X`. Anything else is kept as written, so an unsupported conversion shows in the
//! output rather than vanishing.

use component::civil::civil_from_days;

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Asterisk's default format: `%c`.
pub const DEFAULT_FORMAT: &str = "%c";

/// Formats `epoch` (UTC seconds) shifted by `offset` seconds with `format`.
pub fn format(epoch: i64, offset: i64, format: &str) -> String {
    // Beyond the calendar's years (-9999 to 9999), its first or last second.
    let local = epoch.saturating_add(offset).clamp(
        component::civil::MIN_DAY * 86_400,
        component::civil::MAX_DAY * 86_400 + 86_399,
    );
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days).unwrap_or((1970, 1, 1));
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    // 1970-01-01 was a Thursday.
    let weekday = (days + 4).rem_euclid(7) as usize;
    let yday = days - component::civil::days_from_civil(year, 1, 1).unwrap_or(days) + 1;
    let month_name = MONTHS[(month as usize).saturating_sub(1) % 12];
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(spec) = chars.next() else {
            out.push('%');
            break;
        };
        let piece = match spec {
            'Y' => year.to_string(),
            'y' => format!("{:02}", year.rem_euclid(100)),
            'C' => format!("{:02}", year.div_euclid(100)),
            'm' => format!("{month:02}"),
            'd' => format!("{day:02}"),
            'e' => format!("{day:2}"),
            'j' => format!("{yday:03}"),
            'H' => format!("{hour:02}"),
            'I' => format!("{hour12:02}"),
            'M' => format!("{minute:02}"),
            'S' => format!("{second:02}"),
            'p' => (if hour < 12 { "AM" } else { "PM" }).to_owned(),
            'a' => DAYS[weekday][..3].to_owned(),
            'A' => DAYS[weekday].to_owned(),
            'b' | 'h' => month_name[..3].to_owned(),
            'B' => month_name.to_owned(),
            'u' => (if weekday == 0 { 7 } else { weekday }).to_string(),
            'w' => weekday.to_string(),
            's' => epoch.to_string(),
            'z' => {
                let sign = if offset < 0 { '-' } else { '+' };
                let o = offset.unsigned_abs();
                format!("{sign}{:02}{:02}", o / 3600, o / 60 % 60)
            }
            'n' => "\n".to_owned(),
            't' => "\t".to_owned(),
            '%' => "%".to_owned(),
            'F' => self::format(epoch, offset, "%Y-%m-%d"),
            'T' => self::format(epoch, offset, "%H:%M:%S"),
            'D' | 'x' => self::format(epoch, offset, "%m/%d/%y"),
            'R' => self::format(epoch, offset, "%H:%M"),
            'r' => self::format(epoch, offset, "%I:%M:%S %p"),
            'X' => self::format(epoch, offset, "%H:%M:%S"),
            'c' => self::format(epoch, offset, "%a %b %e %H:%M:%S %Y"),
            other => format!("%{other}"),
        };
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07 14:05:09 UTC, a Monday.
    const T: i64 = 1_796_652_309;

    #[test]
    fn conversions_match_c_strftime_in_the_c_locale() {
        assert_eq!(format(T, 0, "%Y-%m-%d %H:%M:%S"), "2026-12-07 14:05:09");
        assert_eq!(format(T, 3600, "%F %T %z"), "2026-12-07 15:05:09 +0100");
        assert_eq!(
            format(T, 0, "%a %A %b %B %e %j %u %w"),
            "Mon Monday Dec December  7 341 1 1"
        );
        assert_eq!(
            format(T, 0, "%I:%M %p %y %C %s"),
            "02:05 PM 26 20 1796652309"
        );
        assert_eq!(format(T, 0, "%c"), "Mon Dec  7 14:05:09 2026");
        assert_eq!(format(T, 0, "%D %R %r"), "12/07/26 14:05 02:05:09 PM");
        assert_eq!(format(T, -9000, "%H:%M %z"), "11:35 -0230");
    }

    #[test]
    fn the_offset_can_change_the_date_and_midnight_is_12_am() {
        let midnight = 1_796_601_600; // 2026-12-07 00:00 UTC
        assert_eq!(format(midnight, 0, "%d %I %p"), "07 12 AM");
        assert_eq!(format(midnight, -1, "%F %T"), "2026-12-06 23:59:59");
        assert_eq!(format(0, 0, "%F %a"), "1970-01-01 Thu");
        assert_eq!(format(-1, 0, "%F %T"), "1969-12-31 23:59:59");
    }

    #[test]
    fn unknown_conversions_and_a_trailing_percent_are_kept() {
        assert_eq!(format(T, 0, "%Q %%Y 100%"), "%Q %Y 100%");
        assert_eq!(format(i64::MAX, i64::MAX, "%Y"), format(i64::MAX, 0, "%Y"));
    }
}
