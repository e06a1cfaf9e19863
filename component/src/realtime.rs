//! Driver: realtime scheduling for the advert thread.
//!
//! At a 20 ms advert interval a thread that waits 60 ms for a core makes the backup take
//! over from a live master; SCHED_FIFO lets the advert thread run as soon as its timer fires.
//! neither nix nor std wraps sched_setscheduler, so this is the one call made by hand.
#![allow(unsafe_code)]

use std::io;

/// Puts the calling thread under SCHED_FIFO at `priority` (1..=99).
pub fn set_fifo(priority: u8) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0 is this thread.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
