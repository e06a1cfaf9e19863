//! Pure: from probe results to ledger records. An outage opens at the first failed probe,
//! at the time that probe started (the service was found down somewhere between then and
//! the probe's timeout), and closes when the first answer after it arrives (the time the
//! probe that answered ended: a probe in flight when a backup takes over gets its answer
//! late). Both choices make an outage as long as what was seen, never shorter. While it
//! lasts, a `still_down` every 10 s keeps its last sighting on disk.
//!
//! There is no debounce: one failed probe between two good ones is an outage from that
//! probe to the next good one (about one interval). The SLA counts minutes and forgives
//! short outages, so a flap costs nothing there, and a debounce would hide real blips from
//! the ledger.

use super::ledger::{End, Record};

/// How often an open outage is confirmed on disk.
pub const STILL_DOWN_EVERY_MS: u64 = 10_000;

/// The outage in progress, as far as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Open {
    /// The first failed probe.
    since_ms: u64,
    /// The last record written for it.
    written_ms: u64,
    /// The last failed probe.
    last_down_ms: u64,
}

/// Turns probe results into ledger records.
#[derive(Debug, Default)]
pub struct Monitor {
    open: Option<Open>,
    /// The latest time seen: a wall clock stepped back does not make a record go back.
    latest_ms: u64,
}

impl Monitor {
    pub fn new() -> Self {
        Self::default()
    }

    /// A probe's result: `Ok` when the answer came at `at_ms`, `Err` when the probe that
    /// started at `at_ms` failed (ms since the epoch).
    pub fn on_probe(&mut self, at_ms: u64, result: Result<(), String>, out: &mut Vec<Record>) {
        let at_ms = at_ms.max(self.latest_ms);
        self.latest_ms = at_ms;
        match (&mut self.open, result) {
            (None, Ok(())) => {}
            (None, Err(error)) => {
                self.open = Some(Open {
                    since_ms: at_ms,
                    written_ms: at_ms,
                    last_down_ms: at_ms,
                });
                out.push(Record::Open {
                    at_ms,
                    error: Some(error),
                });
            }
            (Some(open), Err(_)) => {
                open.last_down_ms = at_ms;
                if at_ms - open.written_ms >= STILL_DOWN_EVERY_MS {
                    open.written_ms = at_ms;
                    out.push(Record::StillDown { at_ms });
                }
            }
            (Some(open), Ok(())) => {
                out.push(Record::Close {
                    at_ms,
                    open_ms: open.since_ms,
                    end: End::Answered,
                });
                self.open = None;
            }
        }
    }

    /// The supervisor stops: an outage in progress is closed at its last failed probe.
    pub fn stop(&mut self, out: &mut Vec<Record>) {
        if let Some(open) = self.open.take() {
            out.push(Record::Close {
                at_ms: open.last_down_ms,
                open_ms: open.since_ms,
                end: End::SupervisorStopped,
            });
        }
    }

    /// When the outage in progress began, if there is one.
    pub fn down_since_ms(&self) -> Option<u64> {
        self.open.as_ref().map(|o| o.since_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(m: &mut Monitor, probes: &[(u64, bool)]) -> Vec<Record> {
        let mut out = Vec::new();
        for &(at, ok) in probes {
            let result = if ok { Ok(()) } else { Err("refused".into()) };
            m.on_probe(at, result, &mut out);
        }
        out
    }

    #[test]
    fn an_outage_opens_at_the_first_failure_and_closes_at_the_first_answer() {
        let mut m = Monitor::new();
        let out = feed(
            &mut m,
            &[(0, true), (1000, false), (2000, false), (3000, true)],
        );
        assert_eq!(
            out,
            [
                Record::Open {
                    at_ms: 1000,
                    error: Some("refused".into())
                },
                Record::Close {
                    at_ms: 3000,
                    open_ms: 1000,
                    end: End::Answered
                },
            ]
        );
        assert_eq!(m.down_since_ms(), None);
    }

    #[test]
    fn one_failed_probe_is_an_outage_of_one_interval() {
        let mut m = Monitor::new();
        let out = feed(&mut m, &[(1000, false), (2000, true), (3000, true)]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].at_ms() - out[0].at_ms(), 1000);
    }

    #[test]
    fn a_long_outage_is_confirmed_every_ten_seconds() {
        let mut m = Monitor::new();
        let probes: Vec<(u64, bool)> = (0..=25).map(|s| (s * 1000, false)).collect();
        let out = feed(&mut m, &probes);
        let times: Vec<u64> = out.iter().map(Record::at_ms).collect();
        assert_eq!(times, [0, 10_000, 20_000]);
        assert!(matches!(out[1], Record::StillDown { .. }));
        assert_eq!(m.down_since_ms(), Some(0));
        // Stopping closes it at the last failed probe, not later.
        let mut out = Vec::new();
        m.stop(&mut out);
        assert_eq!(
            out,
            [Record::Close {
                at_ms: 25_000,
                open_ms: 0,
                end: End::SupervisorStopped
            }]
        );
        m.stop(&mut out);
        assert_eq!(out.len(), 1, "nothing left to close");
    }

    #[test]
    fn a_clock_stepped_back_does_not_close_an_outage_before_it_opened() {
        let mut m = Monitor::new();
        let out = feed(&mut m, &[(5000, false), (4000, true)]);
        assert_eq!(
            out[1],
            Record::Close {
                at_ms: 5000,
                open_ms: 5000,
                end: End::Answered
            }
        );
    }
}
