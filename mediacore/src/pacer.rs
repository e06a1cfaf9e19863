//! Driver: the RTP pacer, one thread that sends every call's audio on time.
//!
//! ```text
//!  call task ──set source (prompts / silence)──▶ Outgoing (per call, behind a mutex)
//!            ◀──notify: prompts played────────┘        ▲ every 1 ms: the calls in
//!  pacer thread ──sleep to the next ms──────────────────┘ this phase send what is due
//! ```
//!
//! What a slot carries, first match: a queued DTMF digit's RFC 4733 event packet
//! (`dtmf::outgoing`), a frame relayed from the other leg of a bridge, the prompts' next
//! frame, `Playtones`' tones (`codec::tones`), silence.
//!
//! Why a thread and not a timer per call task: with a tokio timer per call, at 400 calls on
//! two cores 0.3 % of the gaps between a call's packets were outside 20 ± 2 ms and at 600
//! calls 0.75 %, all of it wake-up latency (the media core's own send timestamps showed the
//! same as the capture). Here one thread wakes every millisecond, optionally at realtime
//! priority, and sends the packets of the calls whose 20 ms schedule falls in that
//! millisecond: a stream's phase is fixed when it starts, so its gaps are 20 ms give or take
//! the thread's wake-up jitter, whatever the number of calls, and no task wakes up at all
//! to send. Receiving stays in the call tasks.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::warn;

use crate::codec::g711::Codec;
use crate::codec::g711::FRAME_SAMPLES as FRAME;
use crate::codec::tones::Generator;
use crate::codec::wav::Prompt;
use crate::dtmf::outgoing::Queue as DtmfQueue;
use crate::rtp::session::{GapStats, Sender};

/// The pacer's tick, and the grid streams start on.
const TICK: Duration = Duration::from_millis(1);
/// Ticks per frame: the number of phases.
const PHASES: usize = 20;
/// Relayed frames that may wait in a bridge (100 ms): bounds the added delay.
const LIVE_FRAMES: usize = 5;

/// The sending half of one call's media, shared by its call task and the pacer.
pub struct Outgoing {
    socket: UdpSocket,
    /// Where packets go (updated when symmetric RTP latches on the far end's source).
    pub remote: SocketAddr,
    codec: Codec,
    /// The 20 ms schedule, sequence numbers and SR counters.
    pub sender: Sender,
    /// Nothing goes out before the call is answered.
    pub sending: bool,
    /// Nothing goes out before we know where to (a delayed offer: the ACK's answer says).
    pub remote_known: bool,
    prompts: Vec<Arc<Prompt>>,
    which: usize,
    frame: usize,
    /// Whether the current prompts have all been played; outside the mutex, because the
    /// call task reads it on every packet it receives and must not hold the lock the
    /// pacer needs (a call task preempted while holding it delays that stream's sends).
    pub done: Arc<AtomicBool>,
    /// Told when `done` becomes true.
    pub played: Arc<Notify>,
    /// Bridged: frames relayed from the other leg, played instead of prompts.
    pub bridged: bool,
    live: std::collections::VecDeque<[u8; FRAME]>,
    /// `Playtones`: played where silence would be, until prompts start or it is stopped.
    tones: Option<Generator>,
    /// Digits to send as RFC 4733 events, and the payload type the far end gave them.
    dtmf: DtmfQueue,
    dtmf_pt: Option<u8>,
    /// Packets sent.
    pub sent: u64,
    /// Packets the socket refused (buffer full).
    pub dropped: u64,
    last_sent: Option<Instant>,
    /// Gaps between our packets as sent.
    pub gaps: GapStats,
    buf: [u8; 12 + FRAME],
}

impl Outgoing {
    /// The codec this leg sends.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Plays `prompts` from their start (an empty list: silence, or the tones). Prompts
    /// stop the tones, as a playback stops `Playtones` in Asterisk.
    pub fn set_source(&mut self, prompts: Vec<Arc<Prompt>>) {
        if !prompts.is_empty() {
            self.tones = None;
        }
        self.done.store(prompts.is_empty(), Ordering::Release);
        self.prompts = prompts;
        self.which = 0;
        self.frame = 0;
    }

    /// Sends `codec` from now on (a delayed offer's answer chose it).
    pub fn set_codec(&mut self, codec: Codec) {
        self.codec = codec;
        self.sender.set_payload_type(codec.payload_type());
    }

    /// Starts (`Some`) or stops (`None`) tones where silence would be.
    pub fn set_tones(&mut self, tones: Option<Generator>) {
        self.tones = tones;
    }

    /// The payload type for the DTMF we send (the far end's telephone-event; `None`: it
    /// takes none, and digits cannot be sent).
    pub fn set_dtmf_payload_type(&mut self, pt: Option<u8>) {
        self.dtmf_pt = pt;
    }

    /// Queues a digit to send as RFC 4733 events.
    pub fn send_dtmf(&mut self, digit: char, duration: Duration) -> Result<(), String> {
        if self.dtmf_pt.is_none() {
            return Err("the far end takes no telephone-event (RFC 4733) payload".to_owned());
        }
        self.dtmf.push(digit, duration).map_err(|e| e.to_string())
    }

    /// How many more digits may be queued.
    pub fn dtmf_room(&self) -> usize {
        self.dtmf.room()
    }

    /// Whether every queued digit has been sent.
    pub fn dtmf_idle(&self) -> bool {
        self.dtmf.is_idle()
    }

    /// Queues a frame relayed from the other leg of a bridge (already in our codec). At
    /// most [`LIVE_FRAMES`] wait: if the other side sends faster than we play, the
    /// oldest go, so the delay stays bounded.
    pub fn push_live(&mut self, frame: [u8; FRAME]) {
        if self.live.len() >= LIVE_FRAMES {
            self.live.pop_front();
        }
        self.live.push_back(frame);
    }

    /// Sends every packet due at `now` (normally one).
    fn send_due(&mut self, now: Instant) {
        let silence = [self.codec.silence(); FRAME];
        let mut tone = [0u8; FRAME];
        while let Some(mut header) = self.sender.poll(now, FRAME) {
            if let Some(pt) = self.dtmf_pt {
                if let Some(event) = self.dtmf.next(header.timestamp) {
                    // This slot carries the digit instead of audio.
                    header.payload_type = pt;
                    header.timestamp = event.timestamp;
                    header.marker = event.marker;
                    self.transmit(&header, &event.payload.to_bytes());
                    continue;
                }
            }
            let relayed = if self.bridged {
                self.live.pop_front()
            } else {
                None
            };
            let payload: &[u8] = if let Some(frame) = &relayed {
                frame
            } else if self.bridged {
                &silence
            } else {
                loop {
                    match self.prompts.get(self.which) {
                        Some(p) => match p.frame(self.codec, self.frame) {
                            Some(f) => {
                                self.frame += 1;
                                break f;
                            }
                            None => {
                                self.which += 1;
                                self.frame = 0;
                            }
                        },
                        None => {
                            if !self.done.swap(true, Ordering::AcqRel) {
                                self.played.notify_one();
                            }
                            if let Some(tones) = &mut self.tones {
                                let mut samples = [0i16; FRAME];
                                tones.fill(&mut samples);
                                for (byte, sample) in tone.iter_mut().zip(samples) {
                                    *byte = self.codec.encode_sample(sample);
                                }
                                break &tone;
                            }
                            break &silence;
                        }
                    }
                }
            };
            header.payload_type = self.codec.payload_type();
            // Copied out: the prompt's frame is borrowed from `self`, which sending needs.
            let mut frame = [0u8; FRAME];
            let len = payload.len().min(FRAME);
            frame[..len].copy_from_slice(&payload[..len]);
            self.transmit(&header, &frame[..len]);
        }
    }

    /// Sends one packet of the schedule (nothing before the answer: the schedule runs on).
    fn transmit(&mut self, header: &crate::rtp::packet::Header, payload: &[u8]) {
        if !self.sending || !self.remote_known {
            return;
        }
        let Ok(n) = header.write_packet(payload, &mut self.buf) else {
            return;
        };
        match self.socket.send_to(&self.buf[..n], self.remote) {
            Ok(_) => {
                self.sent += 1;
                let at = Instant::now();
                if let Some(last) = self.last_sent.replace(at) {
                    self.gaps.record(at - last);
                }
            }
            Err(_) => self.dropped += 1,
        }
    }
}

/// The pacer thread's registry of streams, by phase.
pub struct Pacer {
    epoch: Instant,
    phases: Mutex<Vec<Vec<Weak<Mutex<Outgoing>>>>>,
}

impl Pacer {
    /// Starts the pacer thread (at SCHED_FIFO `priority` when non-zero).
    pub fn start(priority: u8) -> std::io::Result<Arc<Self>> {
        let pacer = Arc::new(Self {
            epoch: Instant::now(),
            phases: Mutex::new(vec![Vec::new(); PHASES]),
        });
        let weak = Arc::downgrade(&pacer);
        std::thread::Builder::new()
            .name("rtp-pacer".into())
            .spawn(move || {
                if priority > 0 {
                    if let Err(error) = component::realtime::set_fifo(priority) {
                        warn!(%error, priority, "rtp pacer without realtime priority");
                    }
                }
                run(&weak);
            })?;
        Ok(pacer)
    }

    /// A new stream's sending half, sending from `socket` to `remote` on the next free
    /// millisecond of the grid.
    pub fn add(&self, socket: UdpSocket, remote: SocketAddr, codec: Codec) -> Arc<Mutex<Outgoing>> {
        let now = Instant::now();
        let ticks = now
            .duration_since(self.epoch)
            .as_nanos()
            .div_ceil(TICK.as_nanos());
        let first = self.epoch
            + Duration::from_nanos(u64::try_from(ticks * TICK.as_nanos()).unwrap_or(u64::MAX));
        let phase = usize::try_from(ticks % PHASES as u128).unwrap_or(0);
        let out = Arc::new(Mutex::new(Outgoing {
            socket,
            remote,
            codec,
            sender: Sender::new(
                rand::random(),
                codec.payload_type(),
                rand::random(),
                rand::random(),
                first,
            ),
            sending: false,
            remote_known: true,
            prompts: Vec::new(),
            bridged: false,
            live: std::collections::VecDeque::new(),
            tones: None,
            dtmf: DtmfQueue::default(),
            dtmf_pt: None,
            which: 0,
            frame: 0,
            done: Arc::new(AtomicBool::new(true)),
            played: Arc::new(Notify::new()),
            sent: 0,
            dropped: 0,
            last_sent: None,
            gaps: GapStats::new(Duration::from_millis(20), Duration::from_millis(2)),
            buf: [0; 12 + FRAME],
        }));
        if let Ok(mut phases) = self.phases.lock() {
            phases[phase].push(Arc::downgrade(&out));
        }
        out
    }
}

/// Wakes on every millisecond of the grid and sends for the streams of that phase; ends
/// when the pacer is dropped.
fn run(pacer: &Weak<Pacer>) {
    let mut tick: u64 = {
        let Some(p) = pacer.upgrade() else { return };
        u64::try_from(p.epoch.elapsed().as_nanos() / TICK.as_nanos()).unwrap_or(0) + 1
    };
    let mut due: Vec<Arc<Mutex<Outgoing>>> = Vec::new();
    let mut busy: Vec<Arc<Mutex<Outgoing>>> = Vec::new();
    let mut waiting: Vec<usize> = Vec::new();
    // Late wake-ups (the kernel did not run this thread on time): counted, logged ≤ 1/s.
    let (mut stalls, mut slow, mut last_report) = (0u64, 0u64, Instant::now());
    loop {
        let Some(p) = pacer.upgrade() else { return };
        let at = p.epoch + Duration::from_millis(tick);
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
            let late = at.elapsed();
            if late > Duration::from_millis(2) {
                stalls += 1;
                if last_report.elapsed() > Duration::from_secs(1) {
                    warn!(
                        late_ms = late.as_secs_f64() * 1000.0,
                        stalls, "rtp pacer woke late"
                    );
                    last_report = Instant::now();
                }
            }
        } else if now - at > Duration::from_millis(20) {
            // Far behind (suspended VM, debugger): skip ahead rather than replay a burst.
            tick = u64::try_from(p.epoch.elapsed().as_nanos() / TICK.as_nanos()).unwrap_or(tick);
        }
        // The registry lock is taken with try_lock too (a call task adding its stream may
        // be preempted while holding it); a phase not scanned now is scanned next tick.
        waiting.push(usize::try_from(tick % PHASES as u64).unwrap_or(0));
        if let Ok(mut phases) = p.phases.try_lock() {
            for phase in waiting.drain(..) {
                phases[phase].retain(|w| match w.upgrade() {
                    Some(out) => {
                        due.push(out);
                        true
                    }
                    None => false,
                });
            }
        }
        let now = Instant::now();
        for out in due.drain(..) {
            // Never wait for a call task holding the lock: it runs at normal priority and
            // may be preempted while holding it, which would make this realtime thread
            // wait behind everything else on the machine. A stream that is busy now is
            // tried again at the next tick; its sender sends the overdue slot then (1 ms
            // late, well inside 20 ± 2 ms).
            let sent = match out.try_lock() {
                Ok(mut guard) => {
                    guard.send_due(now);
                    true
                }
                Err(std::sync::TryLockError::Poisoned(e)) => {
                    e.into_inner().send_due(now);
                    true
                }
                Err(std::sync::TryLockError::WouldBlock) => false,
            };
            if !sent {
                busy.push(out);
            }
        }
        due.append(&mut busy);
        let took = now.elapsed();
        if took > Duration::from_millis(2) {
            slow += 1;
            if last_report.elapsed() > Duration::from_secs(1) {
                warn!(
                    took_ms = took.as_secs_f64() * 1000.0,
                    slow, "rtp pacer tick took long"
                );
                last_report = Instant::now();
            }
        }
        tick += 1;
    }
}
