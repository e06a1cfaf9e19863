//! Pure: the sender's (master's) view of one session: the next record to send, the last
//! one acknowledged, and a bounded number in flight (so a slow backup applies back-pressure
//! instead of the master buffering its whole log in memory).

use super::Pos;

/// At most this many records sent and not yet acknowledged.
pub const WINDOW: u64 = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The next sequence number to send.
    next: u64,
    /// The receiver's last acknowledged (durable) record.
    acked: Pos,
}

/// A misbehaving receiver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("ack for {got}, which was never sent (next is {next})")]
    Unsent { got: u64, next: u64 },
}

impl Sender {
    /// A session that streams from `from` (the receiver holds everything before it).
    pub fn new(from: u64, acked: Pos) -> Self {
        Self { next: from, acked }
    }

    pub fn acked(&self) -> Pos {
        self.acked
    }

    pub fn next(&self) -> u64 {
        self.next
    }

    /// How many records to send now, given the log's last sequence number `head`.
    pub fn sendable(&self, head: u64) -> u64 {
        let in_flight = self.next.saturating_sub(self.acked.seq + 1);
        let room = WINDOW.saturating_sub(in_flight);
        (head + 1).saturating_sub(self.next).min(room)
    }

    /// `count` records were written to the connection.
    pub fn sent(&mut self, count: u64) {
        self.next += count;
    }

    /// The receiver acknowledged `pos`; old or repeated acks are ignored.
    pub fn on_ack(&mut self, pos: Pos) -> Result<(), AckError> {
        if pos.seq >= self.next {
            return Err(AckError::Unsent {
                got: pos.seq,
                next: self.next,
            });
        }
        if pos.seq > self.acked.seq {
            self.acked = pos;
        }
        Ok(())
    }

    /// Records written here and not yet durable on the receiver.
    pub fn unacked(&self, head: u64) -> u64 {
        head.saturating_sub(self.acked.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_bounds_what_is_in_flight() {
        let mut tx = Sender::new(1, Pos::default());
        assert_eq!(tx.sendable(0), 0);
        assert_eq!(tx.sendable(5000), WINDOW);
        tx.sent(WINDOW);
        assert_eq!(tx.sendable(5000), 0);
        tx.on_ack(Pos { gen: 1, seq: 10 }).unwrap();
        assert_eq!(tx.sendable(5000), 10);
        assert_eq!(tx.unacked(5000), 4990);
    }

    #[test]
    fn acks_only_move_forward_and_never_past_what_was_sent() {
        let mut tx = Sender::new(11, Pos { gen: 1, seq: 10 });
        tx.sent(5);
        tx.on_ack(Pos { gen: 1, seq: 14 }).unwrap();
        tx.on_ack(Pos { gen: 1, seq: 12 }).unwrap();
        assert_eq!(tx.acked(), Pos { gen: 1, seq: 14 });
        assert_eq!(
            tx.on_ack(Pos { gen: 1, seq: 16 }),
            Err(AckError::Unsent { got: 16, next: 16 })
        );
    }
}
