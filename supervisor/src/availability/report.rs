//! Pure: a month's availability report from the ledger's outages and the windows, as
//! `allertactl sla` prints it (text) or serializes it (`--json`).
//!
//! Outage times become local seconds with the offset in effect when the outage began (so
//! its length stays true across a daylight-saving change), rounded outwards to whole
//! seconds: a 300 ms outage is one second, never zero. Each outage is split by the windows
//! (see `windows::split`), and the pieces go to `sla::judge`; a piece outside every window
//! is a failure, forgiven if short (so the 4 minutes by which work overran its window can
//! be forgiven like any short outage).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::ledger::{End, Ending, Outage};
use super::windows::{self, format_local, Window};
use crate::sla::{self, Cause, Share};

/// The month's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthReport {
    /// "2026-11".
    pub month: String,
    pub service_times: Vec<ServiceTime>,
    /// The outages that touch the month, oldest first.
    pub outages: Vec<OutageLine>,
}

/// One service time's figures, seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceTime {
    /// "07:00-18:00".
    pub hours: String,
    pub total_secs: i64,
    pub counted_secs: i64,
    pub forgiven_secs: i64,
    pub planned_secs: i64,
    pub excluded_secs: i64,
    pub availability_percent: f64,
    pub target_percent: f64,
    pub met: bool,
}

/// One outage, with what the SLA made of it (seconds within the month).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutageLine {
    /// Local time of the first failed probe.
    pub start: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub duration_ms: u64,
    /// "answered" (a probe got an answer), "supervisor stopped" (closed at the last
    /// sighting) or "ongoing" (down now).
    pub end: String,
    /// How the first probe failed.
    pub error: Option<String>,
    /// counted, forgiven, planned, excluded, or several joined with "+".
    pub verdict: String,
    pub counted_secs: i64,
    pub forgiven_secs: i64,
    pub planned_secs: i64,
    pub excluded_secs: i64,
    /// The windows it falls in, described.
    pub windows: Vec<String>,
}

/// The report for `year`-`month` (local). `offset` gives the UTC offset in seconds at a
/// UTC time in seconds. An outage the ledger leaves open is ongoing (up to `now_ms`) if
/// its last sighting is at most `stale_after_ms` old, else the supervisor stopped then.
pub fn month(
    year: i64,
    month: u32,
    outages: &[Outage],
    windows: &[Window],
    offset: &dyn Fn(i64) -> i64,
    now_ms: u64,
    stale_after_ms: u64,
) -> MonthReport {
    let (m0, m1) = sla::month_bounds(year, month);
    // (outage, its end, its end's name, local start, local end)
    let mut kept = Vec::new();
    for o in outages {
        let (end_ms, end) = match o.end {
            Ending::Closed(End::Answered) => (o.close_ms, "answered"),
            Ending::Closed(End::SupervisorStopped) => (o.close_ms, "supervisor stopped"),
            Ending::Open if now_ms.saturating_sub(o.close_ms) <= stale_after_ms => {
                (now_ms.max(o.close_ms), "ongoing")
            }
            Ending::Open => (o.close_ms, "supervisor stopped"),
        };
        let start_utc = (o.open_ms / 1000) as i64;
        let off = offset(start_utc);
        let start = start_utc + off;
        let end_local = end_ms.div_ceil(1000) as i64 + off;
        let end_local = end_local.max(start + 1);
        if end_local > m0 && start < m1 {
            kept.push((o, end_ms, end, start, end_local));
        }
    }
    let mut pieces = Vec::new(); // (index into kept, window)
    let mut sla_outages = Vec::new();
    for (k, &(_, _, _, start, end)) in kept.iter().enumerate() {
        for p in windows::split(start, end, windows) {
            pieces.push((k, p.window));
            sla_outages.push(sla::Outage {
                start: p.start,
                end: p.end,
                cause: p
                    .window
                    .map_or(Cause::Unplanned, |w| windows::cause(&windows[w])),
            });
        }
    }
    let (report, shares) = sla::judge(year, month, &sla_outages);
    let mut lines: Vec<OutageLine> = kept
        .iter()
        .map(|&(o, end_ms, end, start, _)| OutageLine {
            start: format_local(start),
            start_ms: o.open_ms,
            end_ms,
            duration_ms: end_ms.saturating_sub(o.open_ms),
            end: end.into(),
            error: o.error.clone(),
            verdict: String::new(),
            counted_secs: 0,
            forgiven_secs: 0,
            planned_secs: 0,
            excluded_secs: 0,
            windows: Vec::new(),
        })
        .collect();
    for (&(k, window), share) in pieces.iter().zip(&shares) {
        let line = &mut lines[k];
        let Share {
            counted,
            forgiven,
            planned,
            excluded,
        } = *share;
        line.counted_secs += counted;
        line.forgiven_secs += forgiven;
        line.planned_secs += planned;
        line.excluded_secs += excluded;
        if let Some(w) = window {
            let described = windows[w].describe();
            if !line.windows.contains(&described) {
                line.windows.push(described);
            }
        }
    }
    for line in &mut lines {
        let parts: Vec<&str> = [
            ("counted", line.counted_secs),
            ("forgiven", line.forgiven_secs),
            ("planned", line.planned_secs),
            ("excluded", line.excluded_secs),
        ]
        .iter()
        .filter(|(_, secs)| *secs > 0)
        .map(|(name, _)| *name)
        .collect();
        line.verdict = if parts.is_empty() {
            "none".into()
        } else {
            parts.join("+")
        };
    }
    let service_time = |hours: &str, st: &sla::ServiceTime| ServiceTime {
        hours: hours.into(),
        total_secs: st.total,
        counted_secs: st.counted,
        forgiven_secs: st.forgiven,
        planned_secs: st.planned,
        excluded_secs: st.excluded,
        availability_percent: st.availability(),
        target_percent: st.target,
        met: st.met(),
    };
    MonthReport {
        month: format!("{year:04}-{month:02}"),
        service_times: vec![
            service_time("07:00-18:00", &report.st1),
            service_time("18:00-07:00", &report.st2),
        ],
        outages: lines,
    }
}

/// "0.8 s", "4 min 12 s", "2 h 05 min".
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{:.1} s", ms as f64 / 1000.0),
        60..3600 => format!("{} min {:02} s", secs / 60, secs % 60),
        _ => format!("{} h {:02} min", secs / 3600, secs / 60 % 60),
    }
}

fn secs(s: i64) -> String {
    duration(s.max(0) as u64 * 1000)
}

/// The report as `allertactl sla` prints it.
pub fn render(r: &MonthReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "availability {}", r.month);
    for (i, st) in r.service_times.iter().enumerate() {
        let _ = writeln!(
            out,
            "  service time {} ({}): {:.3} % (target {} %) {}",
            i + 1,
            st.hours,
            st.availability_percent,
            st.target_percent,
            if st.met { "MET" } else { "MISSED" }
        );
        let _ = writeln!(
            out,
            "    total {}, counted {}, forgiven (short) {}, planned {}, excluded {}",
            secs(st.total_secs),
            secs(st.counted_secs),
            secs(st.forgiven_secs),
            secs(st.planned_secs),
            secs(st.excluded_secs)
        );
    }
    if r.outages.is_empty() {
        let _ = writeln!(out, "  no outages");
        return out;
    }
    let _ = writeln!(out, "  outages ({}):", r.outages.len());
    for o in &r.outages {
        let verdict = match o.verdict.as_str() {
            "forgiven" => "forgiven (short)",
            v => v,
        };
        let mut notes = Vec::new();
        if o.end != "answered" {
            notes.push(o.end.clone());
        }
        notes.extend(o.windows.iter().cloned());
        if let Some(e) = &o.error {
            notes.push(e.clone());
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("; {}", notes.join("; "))
        };
        let _ = writeln!(
            out,
            "    {}  {:>11}  {verdict}{notes}",
            o.start,
            duration(o.duration_ms)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::windows::{parse, parse_local};

    /// UTC ms of a local time, with the +1 h offset the tests use.
    fn ms(local: &str) -> u64 {
        (parse_local(local).unwrap() - 3600) as u64 * 1000
    }

    fn closed(open_ms: u64, close_ms: u64) -> Outage {
        Outage {
            open_ms,
            close_ms,
            end: Ending::Closed(End::Answered),
            error: Some("no banner".into()),
        }
    }

    fn plus_one_hour(_: i64) -> i64 {
        3600
    }

    #[test]
    fn a_small_month_is_reported_and_rendered() {
        let w = parse(
            std::path::Path::new("sla.toml"),
            "[[excluded]]\nfrom = \"2026-11-14 03:10\"\nto = \"2026-11-14 04:00\"\nreason = \"power cut\"\n",
        )
        .unwrap();
        let outages = [
            // October: not in the report.
            closed(ms("2026-10-31 10:00"), ms("2026-10-31 10:01")),
            // 800 ms on a Monday morning: forgiven, counted as one whole second.
            closed(ms("2026-11-09 10:00") + 300, ms("2026-11-09 10:00") + 1100),
            // 20 minutes inside the power cut.
            closed(ms("2026-11-14 03:20"), ms("2026-11-14 03:40")),
            // 10 minutes in the evening: counted.
            Outage {
                end: Ending::Closed(End::SupervisorStopped),
                ..closed(ms("2026-11-20 19:00"), ms("2026-11-20 19:10"))
            },
        ];
        let r = month(
            2026,
            11,
            &outages,
            &w,
            &plus_one_hour,
            ms("2026-11-22 12:00"),
            20_000,
        );
        assert_eq!(r.month, "2026-11");
        assert_eq!(r.outages.len(), 3);
        let verdicts: Vec<&str> = r.outages.iter().map(|o| o.verdict.as_str()).collect();
        assert_eq!(verdicts, ["forgiven", "excluded", "counted"]);
        assert_eq!(r.outages[0].start, "2026-11-09 10:00:00");
        assert_eq!(
            (r.outages[0].duration_ms, r.outages[0].forgiven_secs),
            (800, 2)
        );
        assert_eq!(r.service_times[0].forgiven_secs, 2);
        assert_eq!(r.service_times[1].excluded_secs, 20 * 60);
        assert_eq!(r.service_times[1].counted_secs, 600);
        assert_eq!(r.service_times[0].availability_percent, 100.0);
        assert!(r.service_times.iter().all(|st| st.met));
        assert_eq!(
            render(&r),
            "availability 2026-11
  service time 1 (07:00-18:00): 100.000 % (target 98 %) MET
    total 330 h 00 min, counted 0.0 s, forgiven (short) 2.0 s, planned 0.0 s, excluded 0.0 s
  service time 2 (18:00-07:00): 99.957 % (target 90 %) MET
    total 390 h 00 min, counted 10 min 00 s, forgiven (short) 0.0 s, planned 0.0 s, excluded 20 min 00 s
  outages (3):
    2026-11-09 10:00:00        0.8 s  forgiven (short); no banner
    2026-11-14 03:20:00  20 min 00 s  excluded; excluded: power cut (2026-11-14 03:10:00 to 2026-11-14 04:00:00); no banner
    2026-11-20 19:00:00  10 min 00 s  counted; supervisor stopped; no banner
"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["outages"][1]["verdict"], "excluded");
        assert_eq!(json["service_times"][0]["met"], true);
    }

    #[test]
    fn an_open_outage_is_ongoing_only_while_it_is_watched() {
        let open = Outage {
            open_ms: ms("2026-11-22 11:00"),
            close_ms: ms("2026-11-22 11:59"),
            end: Ending::Open,
            error: None,
        };
        let now = ms("2026-11-22 11:59") + 5000;
        let r = month(
            2026,
            11,
            std::slice::from_ref(&open),
            &[],
            &plus_one_hour,
            now,
            20_000,
        );
        assert_eq!(r.outages[0].end, "ongoing");
        assert_eq!(r.outages[0].duration_ms, 3_545_000);
        assert_eq!(r.outages[0].verdict, "counted");
        let later = now + 3_600_000;
        let r = month(2026, 11, &[open], &[], &plus_one_hour, later, 20_000);
        assert_eq!(r.outages[0].end, "supervisor stopped");
        assert_eq!(r.outages[0].duration_ms, 59 * 60_000);
        assert!(render(&r).contains("59 min 00 s  counted; supervisor stopped"));
    }
}
