//! Pure: the file's local times, "YYYY-MM-DD HH:MM", as seconds since 1970-01-01 00:00 of
//! the nodes' local clock (no zone: the file is written and read in the nodes' time).

use component::civil::{civil_from_days, days_from_civil};

/// "YYYY-MM-DD HH:MM" to local seconds; anything else (another shape, a day that does not
/// exist) is `None`.
pub fn parse_local(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let shape = b.len() == 16
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b' '
        && b[13] == b':'
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15]
            .iter()
            .all(|&i| b[i].is_ascii_digit());
    if !shape {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text[r].parse::<i64>().ok();
    let (y, mo, d, h, mi) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
    );
    if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 {
        return None;
    }
    // None for a day that does not exist (2026-02-30).
    let days = days_from_civil(y, mo as u32, d as u32)?;
    Some(days * 86_400 + h * 3600 + mi * 60)
}

/// Local seconds as "YYYY-MM-DD HH:MM:SS" (beyond the years -9999 to 9999, the seconds).
pub fn format_local(local_secs: i64) -> String {
    let Some((y, m, d)) = civil_from_days(local_secs.div_euclid(86_400)) else {
        return format!("{local_secs} s");
    };
    let s = local_secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_are_strict() {
        assert_eq!(parse_local("1970-01-02 01:01"), Some(86_400 + 3660));
        for bad in [
            "2026-11-14 3:10",
            "2026-11-14T03:10",
            "2026-13-01 00:00",
            "2026-02-29 00:00",
            "2026-11-14 24:00",
            "2026-11-14 03:10:00",
        ] {
            assert_eq!(parse_local(bad), None, "{bad}");
        }
        let t = parse_local("2024-02-29 23:59").unwrap();
        assert_eq!(format_local(t + 59), "2024-02-29 23:59:59");
    }
}
