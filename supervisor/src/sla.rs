//! Pure: availability against the service-level agreement in the tender's documents
//! (`../shared/seeds/003_*`), from a list of outages (times in local seconds: the caller
//! applies the node's UTC offset, so this module needs no time-zone data).
//!
//! The rules, per calendar month:
//! - Service time 1 is 07:00–18:00 every day, at least 98 % available; service time 2 is
//!   18:00–07:00, at least 90 %.
//! - An outage shorter than 5 minutes is not counted, as long as such forgiven outages
//!   happen at most twice a day and three times a week (ISO weeks, Monday first); the
//!   ones beyond those limits count.
//! - Planned work announced at least a week before is not counted, up to 2 hours a month
//!   in service time 1 and 7 hours in service time 2; what goes beyond counts.
//! - Outages caused by force majeure or by the customer's instructions are not counted.

use component::civil::days_from_civil;

/// Seconds in a day.
const DAY: i64 = 86_400;
/// Service time 1 starts at 07:00 and ends at 18:00.
const ST1: (i64, i64) = (7 * 3600, 18 * 3600);
/// Shorter outages may be forgiven.
pub const SHORT: i64 = 5 * 60;
/// Planned work must be announced this long before.
pub const NOTICE: i64 = 7 * DAY;

/// Why the service was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A failure.
    Unplanned,
    /// Planned work, announced at this local time.
    Planned {
        /// When it was announced.
        announced: i64,
    },
    /// Force majeure or the customer's instruction: never counted.
    Excluded,
}

/// One outage: no master answered from `start` to `end` (local seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// Start.
    pub start: i64,
    /// End.
    pub end: i64,
    /// Why.
    pub cause: Cause,
}

/// One service time's month.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ServiceTime {
    /// Seconds of service time in the month.
    pub total: i64,
    /// Downtime that counts.
    pub counted: i64,
    /// Short outages forgiven.
    pub forgiven: i64,
    /// Announced planned work not counted.
    pub planned: i64,
    /// Force majeure and the like.
    pub excluded: i64,
    /// The target, percent.
    pub target: f64,
}

impl ServiceTime {
    /// Availability, percent.
    pub fn availability(&self) -> f64 {
        if self.total == 0 {
            return 100.0;
        }
        100.0 * (1.0 - self.counted as f64 / self.total as f64)
    }

    /// Whether the target is met.
    pub fn met(&self) -> bool {
        self.availability() >= self.target
    }
}

/// The month's report: (service time 1, service time 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// 07:00–18:00, 98 %.
    pub st1: ServiceTime,
    /// 18:00–07:00, 90 %.
    pub st2: ServiceTime,
}

/// The month `[start, end)` in local seconds. A month the calendar does not have (years
/// -9999 to 9999; `allertactl sla` takes 1970 to 9999) is empty; December 9999 ends where
/// the calendar does.
pub fn month_bounds(year: i64, month: u32) -> (i64, i64) {
    let Some(start) = days_from_civil(year, month, 1) else {
        return (0, 0);
    };
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let end = days_from_civil(ny, nm, 1).unwrap_or(component::civil::MAX_DAY + 1);
    (start * DAY, end * DAY)
}

/// Seconds of `[a, b)` inside service time 1 (the rest is service time 2).
fn st1_seconds(a: i64, b: i64) -> i64 {
    let mut total = 0;
    let mut day = a.div_euclid(DAY);
    while day * DAY < b {
        let (s, e) = (day * DAY + ST1.0, day * DAY + ST1.1);
        total += (b.min(e) - a.max(s)).max(0);
        day += 1;
    }
    total
}

/// ISO week number key: days since a Monday epoch / 7 (1970-01-05 was a Monday).
fn week(t: i64) -> i64 {
    (t.div_euclid(DAY) - 4).div_euclid(7)
}

/// What one outage contributed to the month, seconds in both service times together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Share {
    /// Counted as downtime.
    pub counted: i64,
    /// Forgiven as a short outage.
    pub forgiven: i64,
    /// Announced planned work within the allowance.
    pub planned: i64,
    /// Force majeure and the like.
    pub excluded: i64,
}

/// The month's availability from `outages` (any order; parts outside the month ignored).
pub fn report(year: i64, month: u32, outages: &[Outage]) -> Report {
    judge(year, month, outages).0
}

/// The month's availability, and what each of `outages` contributed to it (in the order
/// given; an outage outside the month contributes nothing). Outages are judged in the
/// order they started: the forgiveness limits and the allowances go to the earliest.
pub fn judge(year: i64, month: u32, outages: &[Outage]) -> (Report, Vec<Share>) {
    let (m0, m1) = month_bounds(year, month);
    let st1_total = st1_seconds(m0, m1);
    let mut r = Report {
        st1: ServiceTime {
            total: st1_total,
            target: 98.0,
            ..ServiceTime::default()
        },
        st2: ServiceTime {
            total: (m1 - m0) - st1_total,
            target: 90.0,
            ..ServiceTime::default()
        },
    };
    let mut shares = vec![Share::default(); outages.len()];
    let mut sorted: Vec<usize> = (0..outages.len())
        .filter(|&i| {
            let o = &outages[i];
            o.end > m0 && o.start < m1 && o.end > o.start
        })
        .collect();
    sorted.sort_by_key(|&i| outages[i].start);
    let mut forgiven_per_day: std::collections::HashMap<i64, u32> = Default::default();
    let mut forgiven_per_week: std::collections::HashMap<i64, u32> = Default::default();
    // Planned-work allowances left this month.
    let (mut allow1, mut allow2) = (2 * 3600, 7 * 3600);
    for i in sorted {
        let (o, share) = (outages[i], &mut shares[i]);
        let (a, b) = (o.start.max(m0), o.end.min(m1));
        let in1 = st1_seconds(a, b);
        let in2 = (b - a) - in1;
        match o.cause {
            Cause::Excluded => {
                r.st1.excluded += in1;
                r.st2.excluded += in2;
                share.excluded += in1 + in2;
            }
            Cause::Planned { announced } if o.start - announced >= NOTICE => {
                let p1 = in1.min(allow1);
                let p2 = in2.min(allow2);
                allow1 -= p1;
                allow2 -= p2;
                r.st1.planned += p1;
                r.st2.planned += p2;
                r.st1.counted += in1 - p1;
                r.st2.counted += in2 - p2;
                share.planned += p1 + p2;
                share.counted += in1 - p1 + in2 - p2;
            }
            // Unplanned, or planned without a week's notice: a failure.
            _ => {
                let day = o.start.div_euclid(DAY);
                let wk = week(o.start);
                let today = forgiven_per_day.entry(day).or_default();
                let this_week = forgiven_per_week.entry(wk).or_default();
                if o.end - o.start < SHORT && *today < 2 && *this_week < 3 {
                    *today += 1;
                    *this_week += 1;
                    r.st1.forgiven += in1;
                    r.st2.forgiven += in2;
                    share.forgiven += in1 + in2;
                } else {
                    r.st1.counted += in1;
                    r.st2.counted += in2;
                    share.counted += in1 + in2;
                }
            }
        }
    }
    (r, shares)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Local seconds of 2026-11-<day> hh:mm.
    fn at(day: u32, h: i64, m: i64) -> i64 {
        days_from_civil(2026, 11, day).unwrap() * DAY + h * 3600 + m * 60
    }

    fn down(start: i64, mins: i64) -> Outage {
        Outage {
            start,
            end: start + mins * 60,
            cause: Cause::Unplanned,
        }
    }

    #[test]
    fn a_month_splits_into_the_two_service_times() {
        let r = report(2026, 11, &[]);
        // November: 30 days × 11 h and 30 × 13 h.
        assert_eq!(r.st1.total, 30 * 11 * 3600);
        assert_eq!(r.st2.total, 30 * 13 * 3600);
        assert_eq!((r.st1.availability(), r.st2.availability()), (100.0, 100.0));
        assert_eq!(
            month_bounds(2026, 12).1 - month_bounds(2026, 12).0,
            31 * DAY
        );
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(month_bounds(2026, 13), (0, 0));
        let (a, b) = month_bounds(9999, 12);
        assert_eq!(b - a, 31 * DAY);
    }

    #[test]
    fn short_outages_are_forgiven_twice_a_day_and_three_times_a_week() {
        // 2026-11-23 is a Monday. Three 1-minute outages on Monday morning: the third counts.
        let o = [
            down(at(23, 9, 0), 1),
            down(at(23, 10, 0), 1),
            down(at(23, 11, 0), 1),
            // Tuesday: one more forgiven (the week's third), then the week is used up.
            down(at(24, 9, 0), 1),
            down(at(25, 9, 0), 1),
            // Next Monday: a new week.
            down(at(30, 9, 0), 1),
        ];
        let r = report(2026, 11, &o);
        assert_eq!(r.st1.forgiven, 4 * 60);
        assert_eq!(r.st1.counted, 2 * 60);
    }

    #[test]
    fn a_long_outage_counts_in_the_service_times_it_covers() {
        // 17:00 to 19:00: one hour in each.
        let r = report(2026, 11, &[down(at(10, 17, 0), 120)]);
        assert_eq!((r.st1.counted, r.st2.counted), (3600, 3600));
        // 98 % of 330 h is 6.6 h: seven hours of failures in service time 1 miss it.
        let r = report(2026, 11, &[down(at(10, 8, 0), 7 * 60)]);
        assert!(!r.st1.met(), "{}", r.st1.availability());
        assert!(r.st2.met());
    }

    #[test]
    fn announced_work_is_free_up_to_its_monthly_allowance() {
        let planned = |start: i64, mins: i64, announced: i64| Outage {
            start,
            end: start + mins * 60,
            cause: Cause::Planned { announced },
        };
        let week_before = at(1, 0, 0);
        // 3 h of announced work in service time 1: 2 h free, 1 h counts.
        let r = report(2026, 11, &[planned(at(10, 8, 0), 180, week_before)]);
        assert_eq!((r.st1.planned, r.st1.counted), (2 * 3600, 3600));
        // Announced only the day before: a failure.
        let r = report(2026, 11, &[planned(at(10, 8, 0), 60, at(9, 8, 0))]);
        assert_eq!((r.st1.planned, r.st1.counted), (0, 3600));
        // Force majeure never counts.
        let r = report(
            2026,
            11,
            &[Outage {
                start: at(10, 8, 0),
                end: at(10, 20, 0),
                cause: Cause::Excluded,
            }],
        );
        assert_eq!((r.st1.counted, r.st2.counted), (0, 0));
        assert_eq!(r.st1.excluded + r.st2.excluded, 12 * 3600);
    }

    #[test]
    fn outages_across_the_month_edge_count_only_their_part_inside() {
        let r = report(2026, 11, &[down(at(30, 23, 0), 120)]);
        assert_eq!(r.st2.counted, 3600);
        let (_, end) = month_bounds(2026, 11);
        assert_eq!(end, at(30, 0, 0) + DAY);
    }

    #[test]
    fn each_outage_gets_its_share_in_the_order_given() {
        // Given out of order: the earlier one (Monday 09:00) is judged first.
        let o = [
            down(at(23, 11, 0), 1),
            Outage {
                start: at(23, 3, 0),
                end: at(23, 4, 0),
                cause: Cause::Excluded,
            },
            down(at(23, 9, 0), 10),
            down(at(1, 9, 0) - DAY, 10), // October: outside the month
        ];
        let (r, shares) = judge(2026, 11, &o);
        assert_eq!(
            shares,
            [
                Share {
                    forgiven: 60,
                    ..Share::default()
                },
                Share {
                    excluded: 3600,
                    ..Share::default()
                },
                Share {
                    counted: 600,
                    ..Share::default()
                },
                Share::default(),
            ]
        );
        assert_eq!(r, report(2026, 11, &o));
    }
}
