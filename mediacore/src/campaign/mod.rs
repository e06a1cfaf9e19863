//! Alert campaigns: the job the appliance exists for. An operator picks a message and
//! lists; the master calls everyone over its outbound trunk, plays the message, asks for
//! "1" to confirm, retries, and reports who was reached. The ledger (`store`) is written
//! before and after every attempt and at the moment someone confirms, so a crash or a
//! takeover never makes us call a confirmed person again.
//!
//! The tables, the store, contacts import, progress, reports and passwords are the
//! `alertdb` crate (re-exported below). Here: pure `plan` (which calls to place now:
//! priorities, lines, pacing, window, retries) and `fence` (who may dial, and from when:
//! never two masters at once); drivers `ivr` (the answered call),
//! `dialer` (the master's dispatch loop), `cli` (`allerta-mediacore campaign …`).

pub mod alert_line;
pub mod cli;
pub mod dialer;
pub mod fence;
pub mod ivr;
pub mod pin_guard;
pub mod plan;
pub mod reconcile;

// The database and its rules are the `alertdb` crate, which the web console shares; they
// keep their paths here so the media core reads as before.
pub use alertdb::{
    astdb, contacts, parse_window, password, progress, report, schema, store, CampaignSpec,
    Outcome, State,
};
// Text-to-speech is the `prompts` crate's, which the console shares too (an operator hears
// there the very prompt a call plays).
pub use prompts::tts;

use crate::dialplan::exec::DialStatus;

/// How an unanswered dial ended.
pub fn outcome_of_dial(status: DialStatus, sip_code: Option<u16>) -> Outcome {
    match (status, sip_code) {
        (_, Some(603 | 403)) => Outcome::Rejected,
        (DialStatus::Busy, _) => Outcome::Busy,
        (DialStatus::NoAnswer | DialStatus::Cancel, _) => Outcome::NoAnswer,
        (DialStatus::Answer, _) => Outcome::Answered,
        (DialStatus::Congestion | DialStatus::ChanUnavail, _) => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unanswered_dials_map_to_outcomes() {
        assert_eq!(outcome_of_dial(DialStatus::Busy, Some(486)), Outcome::Busy);
        assert_eq!(
            outcome_of_dial(DialStatus::Congestion, Some(603)),
            Outcome::Rejected
        );
        assert_eq!(
            outcome_of_dial(DialStatus::NoAnswer, None),
            Outcome::NoAnswer
        );
        assert_eq!(
            outcome_of_dial(DialStatus::Congestion, Some(503)),
            Outcome::Failed
        );
    }
}
