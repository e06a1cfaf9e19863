//! Driver: one call's RTP/RTCP stream (RFC 3550, RFC 3551, RFC 4733).
//!
//! A [`Stream`] owns the call's two UDP sockets (RTP on an even port, RTCP on the next)
//! and is run by the call task for one media step at a time ([`Stream::run`]): play
//! prompts (or silence), collect DTMF, record, until the step ends. The audio itself is
//! sent by the [`crate::pacer`] thread from the stream's [`Outgoing`] half, every 20 ms on
//! the schedule of [`crate::rtp::session::Sender`] (the n-th packet at start + n × 20 ms,
//! no drift); silence goes out between prompts so the far end always sees a steady stream. Symmetric RTP: we send to
//! wherever the far end's packets come from once they arrive (RFC 4961), which is what
//! gets media through NAT. No RTP for `timeout` hangs the call up.
//!
//! A delayed offer (an INVITE without SDP: we offer in the 2xx, the caller answers in the
//! ACK, RFC 3261 §13.2.1) makes a stream that sends nothing until the answer arrives
//! ([`Stream::awaiting_answer`]); whichever step is running when the ACK's `Confirmed`
//! event comes takes the answer ([`Stream::on_confirmed`]).

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, trace};

use crate::codec::g711::Codec;
use crate::codec::wav::Prompt;
use crate::dtmf::rfc4733::{DtmfEvent, EventPayload, Receiver as DtmfReceiver};
use crate::pacer::{Outgoing, Pacer};
use crate::rtp::packet::{is_rtcp, Packet};
use crate::rtp::rtcp::{Compound, CompoundWriter, RtcpPacket};
use crate::rtp::session::{Receiver, RtcpTimer};
use crate::rtp::source::{self, Verdict};
use crate::sip::call::CallEvent;

/// Bytes of one 20 ms G.711 frame (one byte per sample).
pub use crate::codec::g711::FRAME_SAMPLES as FRAME;

/// Hands out RTP port pairs from the configured range: each call starts from a random pair
/// and takes the first free one from there, so the next call's port cannot be predicted from
/// this one's (a third party that knows it could aim packets at a call before it latches).
#[derive(Debug)]
pub struct Ports {
    range: RangeInclusive<u16>,
}

impl Ports {
    /// Ports from `range` (RTP on even ports, RTCP on the odd one above).
    pub fn new(range: RangeInclusive<u16>) -> Arc<Self> {
        Arc::new(Self { range })
    }

    /// Binds an RTP/RTCP socket pair on `ip`.
    pub async fn bind(&self, ip: IpAddr) -> io::Result<(UdpSocket, UdpSocket)> {
        let lo = u32::from(*self.range.start()).next_multiple_of(2);
        let pairs = crate::settings::rtp_pairs(&self.range);
        let start = rand::random_range(0..pairs.max(1));
        for i in 0..pairs {
            let Ok(port) = u16::try_from(lo + (start + i) % pairs * 2) else {
                continue;
            };
            let Ok(rtp) = UdpSocket::bind((ip, port)).await else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind((ip, port + 1)).await else {
                continue;
            };
            return Ok((rtp, rtcp));
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "no free RTP port pair in the configured range",
        ))
    }
}

/// What the stream plays during a step.
pub enum Source<'a> {
    /// Silence (G.711 idle code).
    Silence,
    /// Prompts, one after the other.
    Prompts(&'a [Arc<Prompt>]),
}

/// Told of each DTMF key press as it begins and ends.
pub type DtmfObserver = Box<dyn Fn(DtmfEvent) + Send + Sync>;

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// The prompts finished (or the wait elapsed).
    Done,
    /// A digit was pressed and the step stops on digits.
    Digit(char),
    /// The step's deadline passed.
    Timeout,
    /// No RTP from the far end for the inactivity timeout.
    Inactive,
    /// The signalling ended (remote BYE, cancel).
    Hangup,
    /// The application interrupted the step (AMI `Redirect`).
    Interrupted,
}

/// Which side ended a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEnd {
    /// The caller hung up (or the caller's signalling ended).
    Caller,
    /// The called party hung up.
    Callee,
    /// One side sent no RTP for its inactivity timeout.
    Inactive,
}

/// Counters for status and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MediaStats {
    /// RTP packets sent.
    pub sent: u64,
    /// RTP packets received (audio).
    pub received: u64,
    /// Packets lost by the far end's sequence numbers.
    pub lost: i64,
    /// DTMF digits received.
    pub digits: u64,
    /// 20 ms frames received here and played to the other leg of a bridge.
    pub relayed: u64,
    /// Send slots skipped because we woke too late (pacing failures).
    pub skipped_slots: u64,
    /// RTP packets dropped as not from the far end (`rtp::source`).
    pub foreign: u64,
    /// Gaps between our consecutive packets, as sent (not counting pauses before answer).
    pub send_gaps: u64,
    /// Of those, the ones outside 20 ± 2 ms.
    pub send_off_pace: u64,
    /// The largest, in microseconds.
    pub send_max_gap_us: u64,
}

/// Sends digits on a call as RFC 4733 events, in the gaps of its audio; it may outlive
/// the call (digits sent after the end go nowhere).
#[derive(Clone)]
pub struct DtmfSender(Arc<Mutex<Outgoing>>);

impl std::fmt::Debug for DtmfSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DtmfSender")
    }
}

impl DtmfSender {
    fn outgoing(&self) -> std::sync::MutexGuard<'_, Outgoing> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `digits`, each for `duration`: all or none (a bad digit, a bad duration, a
    /// full queue or a far end without telephone-event refuse the lot, saying why).
    pub fn send(&self, digits: &str, duration: Duration) -> Result<(), String> {
        if let Some(bad) = digits
            .chars()
            .find(|c| crate::dtmf::rfc4733::digit_to_event(*c).is_none())
        {
            return Err(format!("{bad:?} is not a DTMF digit (0-9, *, #, A-D)"));
        }
        let mut out = self.outgoing();
        if digits.chars().count() > out.dtmf_room() {
            return Err(format!(
                "too many DTMF digits waiting (at most {})",
                crate::dtmf::outgoing::MAX_QUEUED
            ));
        }
        digits.chars().try_for_each(|d| out.send_dtmf(d, duration))
    }

    /// Whether every queued digit has gone out.
    pub fn idle(&self) -> bool {
        self.outgoing().dtmf_idle()
    }
}

/// One call's media.
pub struct Stream {
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// The sending half, shared with the pacer thread.
    out: Arc<Mutex<Outgoing>>,
    played: Arc<tokio::sync::Notify>,
    done: Arc<std::sync::atomic::AtomicBool>,
    remote_rtcp: SocketAddr,
    /// Which packets are the far end's (`rtp::source`).
    source: source::Source,
    dtmf_pt: Option<u8>,
    receiver: Receiver,
    dtmf: DtmfReceiver,
    /// The SSRC the DTMF receiver's events come from.
    dtmf_ssrc: Option<u32>,
    /// Our offer, while the ACK's answer to it has not come (a delayed offer).
    awaiting: Option<crate::sdp::LocalMedia>,
    digits: VecDeque<char>,
    /// Told of every key press as it begins and ends (AMI DTMFBegin/DTMFEnd).
    dtmf_observer: Option<DtmfObserver>,
    rtcp_timer: RtcpTimer,
    timeout: Duration,
    last_rx: Instant,
    cname: Vec<u8>,
    recording: Option<crate::codec::wav::WavWriter<std::io::BufWriter<std::fs::File>>>,
    stats: MediaStats,
    buf: Vec<u8>,
    rtcp_buf: Vec<u8>,
}

impl Stream {
    /// A stream on bound sockets toward `remote` (from the SDP), with `codec` and the
    /// far end's telephone-event payload type; `pacer` sends its audio.
    pub fn new(
        (rtp, rtcp): (UdpSocket, UdpSocket),
        remote: SocketAddr,
        codec: Codec,
        dtmf_pt: Option<u8>,
        timeout: Duration,
        pacer: &Pacer,
    ) -> io::Result<Self> {
        let now = Instant::now();
        let mut rng = rand::rng();
        let ip = rtp
            .local_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        // The pacer thread sends on a duplicate of the RTP socket's descriptor; the call
        // task keeps receiving on the original through tokio.
        let std_rtp = rtp.into_std()?;
        let send_half = std_rtp.try_clone()?;
        let rtp = UdpSocket::from_std(std_rtp)?;
        let out = pacer.add(send_half, remote, codec);
        let (played, done) = out
            .lock()
            .map(|mut o| {
                o.set_dtmf_payload_type(dtmf_pt);
                (o.played.clone(), o.done.clone())
            })
            .map_err(|_| io::Error::other("pacer poisoned"))?;
        Ok(Self {
            rtp,
            rtcp,
            out,
            played,
            done,
            remote_rtcp: SocketAddr::new(remote.ip(), remote.port().wrapping_add(1)),
            source: source::Source::new(remote),
            dtmf_pt,
            receiver: Receiver::new(),
            dtmf: DtmfReceiver::new(),
            dtmf_ssrc: None,
            awaiting: None,
            digits: VecDeque::new(),
            dtmf_observer: None,
            rtcp_timer: RtcpTimer::new(now, &mut rng),
            timeout,
            last_rx: now,
            cname: format!("allerta@{ip}").into_bytes(),
            recording: None,
            stats: MediaStats::default(),
            buf: vec![0; 2048],
            rtcp_buf: vec![0; 2048],
        })
    }

    /// A stream for an INVITE without an offer: `local` is the offer our 2xx makes; it
    /// sends nothing, and accepts RTP only after probation, until the ACK's answer.
    pub fn awaiting_answer(
        sockets: (UdpSocket, UdpSocket),
        local: crate::sdp::LocalMedia,
        timeout: Duration,
        pacer: &Pacer,
    ) -> io::Result<Self> {
        // Our own address as the far end's until the answer: no packet qualifies by rule 1
        // of `rtp::source`, and nothing is sent (`remote_known`).
        let placeholder = SocketAddr::new(local.address, local.port);
        let codec = local.codecs.first().copied().unwrap_or(Codec::Pcmu);
        let mut stream = Self::new(
            sockets,
            placeholder,
            codec,
            local
                .telephone_event
                .then_some(crate::sdp::TELEPHONE_EVENT_PT),
            timeout,
            pacer,
        )?;
        stream.outgoing().remote_known = false;
        stream.awaiting = Some(local);
        Ok(stream)
    }

    /// The ACK confirmed the call, with `sdp` as its body: when we are waiting for the
    /// answer to our offer, it sets where media goes and in which codec. `false`: the ACK
    /// carried no usable answer (RFC 3261 leaves the UAS to end the call).
    pub fn on_confirmed(&mut self, sdp: &[u8]) -> bool {
        let Some(local) = self.awaiting.take() else {
            return true;
        };
        let negotiated = crate::sdp::SessionDescription::parse(sdp)
            .map_err(|e| e.to_string())
            .and_then(|answer| local.accept_answer(&answer).map_err(|e| e.to_string()));
        match negotiated {
            Ok(n) => {
                {
                    let mut out = self.outgoing();
                    out.remote = n.remote;
                    out.set_codec(n.codec);
                    out.set_dtmf_payload_type(n.telephone_event);
                    out.remote_known = true;
                }
                self.dtmf_pt = n.telephone_event;
                self.source = source::Source::new(n.remote);
                self.remote_rtcp = SocketAddr::new(n.remote.ip(), n.remote.port().wrapping_add(1));
                debug!(remote = %n.remote, codec = ?n.codec, "delayed offer answered in the ACK");
                true
            }
            Err(error) => {
                tracing::warn!(%error, "the ACK carried no usable answer to our offer");
                false
            }
        }
    }

    fn outgoing(&self) -> std::sync::MutexGuard<'_, Outgoing> {
        // The pacer never panics while holding the lock (no unwrap, no indexing there);
        // if it ever did, the stream's state is still consistent enough to go on.
        self.out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts (or stops) sending: a call sends media only once it is answered.
    pub fn set_sending(&mut self, sending: bool) {
        self.outgoing().sending = sending;
    }

    /// Starts (`Some`) or stops (`None`) `Playtones` tones: they sound wherever the
    /// stream would be silent, across steps, until stopped or a prompt plays.
    pub fn set_tones(&mut self, tones: Option<crate::codec::tones::Generator>) {
        self.outgoing().set_tones(tones);
    }

    /// Where digits to send on this call go (AMI `PlayDTMF`, `SendDTMF()`).
    pub fn dtmf_sender(&self) -> DtmfSender {
        DtmfSender(self.out.clone())
    }

    /// Counters so far.
    pub fn stats(&self) -> MediaStats {
        let out = self.outgoing();
        MediaStats {
            sent: out.sent,
            lost: self.receiver.lost().map_or(0, i64::from),
            skipped_slots: out.sender.skipped_slots(),
            send_gaps: out.gaps.count(),
            send_off_pace: out.gaps.outside_tolerance(),
            send_max_gap_us: out.gaps.max().map_or(0, |d| d.as_micros() as u64),
            ..self.stats
        }
    }

    /// Starts writing what the far end sends to a WAV file.
    pub fn record_to(&mut self, file: std::fs::File) -> io::Result<()> {
        let writer = crate::codec::wav::WavWriter::new(std::io::BufWriter::new(file))
            .map_err(io::Error::other)?;
        self.recording = Some(writer);
        Ok(())
    }

    /// Stops recording and finishes the file's header.
    pub fn stop_recording(&mut self) -> io::Result<()> {
        if let Some(w) = self.recording.take() {
            w.finalize().map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Runs one media step: plays `source` (then silence), until the prompts end (when
    /// `until_done`), a digit arrives (when `stop_on_digit`), `deadline` passes, the call
    /// goes quiet or the signalling ends. Whatever ends it, the prompts stop with it.
    pub async fn run(
        &mut self,
        source: Source<'_>,
        until_done: bool,
        stop_on_digit: bool,
        deadline: Option<Instant>,
        events: &mut mpsc::UnboundedReceiver<CallEvent>,
    ) -> Wake {
        let prompts: Vec<Arc<Prompt>> = match source {
            Source::Silence => Vec::new(),
            Source::Prompts(p) => p.to_vec(),
        };
        if until_done && prompts.is_empty() && deadline.is_none() {
            return Wake::Done;
        }
        self.outgoing().set_source(prompts);
        let wake = self.step(until_done, stop_on_digit, deadline, events).await;
        self.outgoing().set_source(Vec::new());
        wake
    }

    async fn step(
        &mut self,
        until_done: bool,
        stop_on_digit: bool,
        deadline: Option<Instant>,
        events: &mut mpsc::UnboundedReceiver<CallEvent>,
    ) -> Wake {
        loop {
            if stop_on_digit {
                if let Some(d) = self.digits.pop_front() {
                    return Wake::Digit(d);
                }
            }
            if until_done && self.done.load(std::sync::atomic::Ordering::Acquire) {
                return Wake::Done;
            }
            let now = Instant::now();
            if self.rtcp_timer.poll(now, &mut rand::rng()) {
                self.send_report(now);
            }
            if deadline.is_some_and(|d| now >= d) {
                return Wake::Timeout;
            }
            if now.duration_since(self.last_rx) >= self.timeout {
                return Wake::Inactive;
            }
            let mut wake = self
                .rtcp_timer
                .next_deadline()
                .min(self.last_rx + self.timeout);
            if let Some(d) = deadline {
                wake = wake.min(d);
            }
            if let Some(d) = self.dtmf.next_deadline() {
                wake = wake.min(d);
            }
            let played = self.played.clone();
            tokio::select! {
                biased;
                event = events.recv() => match event {
                    Some(CallEvent::Ended(_)) | None => return Wake::Hangup,
                    Some(CallEvent::Interrupted) => return Wake::Interrupted,
                    Some(CallEvent::Confirmed { sdp }) => if !self.on_confirmed(&sdp) {
                        return Wake::Hangup;
                    },
                    Some(_) => {}
                },
                recv = self.rtp.recv_from(&mut self.buf) => {
                    if let Ok((n, from)) = recv {
                        let _ = self.on_rtp(n, from);
                    }
                }
                recv = self.rtcp.recv_from(&mut self.rtcp_buf) => {
                    if let Ok((n, from)) = recv {
                        self.on_rtcp(n, from);
                    }
                }
                _ = played.notified(), if until_done => {}
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            }
            let mut events_out = Vec::new();
            self.dtmf.on_tick(Instant::now(), &mut events_out);
            self.on_dtmf(events_out);
        }
    }

    /// Appends the audio of the packet just received into `buf` to `acc`, converted to
    /// `to`: any packet size (10, 20, 30 ms…); the bridge cuts 20 ms frames from `acc`.
    fn relay_into(&self, n: usize, to: Codec, acc: &mut Vec<u8>) {
        let Ok(packet) = Packet::parse(&self.buf[..n]) else {
            return;
        };
        let Some(from) = Codec::from_payload_type(packet.header.payload_type) else {
            return;
        };
        if from == to {
            acc.extend_from_slice(packet.payload);
        } else {
            acc.extend(
                packet
                    .payload
                    .iter()
                    .map(|&c| to.encode_sample(from.decode_sample(c))),
            );
        }
    }

    /// Moves whole 20 ms frames from `acc` into `to`'s pacer queue; how many.
    fn cut_frames(acc: &mut Vec<u8>, to: &Self) -> u64 {
        let mut n = 0;
        let mut out = to.outgoing();
        while acc.len() >= FRAME {
            let mut frame = [0u8; FRAME];
            frame.copy_from_slice(&acc[..FRAME]);
            acc.drain(..FRAME);
            out.push_live(frame);
            n += 1;
        }
        n
    }

    /// Bridges two answered calls until one ends: what each side says is played to the
    /// other through the pacer (converted between A-law and µ-law when their codecs
    /// differ). DTMF is detected on both legs but not passed through.
    pub async fn bridge(
        a: &mut Self,
        b: &mut Self,
        a_events: &mut mpsc::UnboundedReceiver<CallEvent>,
        b_events: &mut mpsc::UnboundedReceiver<CallEvent>,
    ) -> BridgeEnd {
        let (mut a_codec, b_codec) = (a.outgoing().codec(), b.outgoing().codec());
        for s in [&mut *a, &mut *b] {
            let mut out = s.outgoing();
            out.set_source(Vec::new());
            out.bridged = true;
            out.sending = true;
        }
        // Received audio waiting to be cut into 20 ms frames for the other side.
        let (mut to_a, mut to_b) = (Vec::with_capacity(4 * FRAME), Vec::with_capacity(4 * FRAME));
        let end = loop {
            let now = Instant::now();
            if now.duration_since(a.last_rx) >= a.timeout
                || now.duration_since(b.last_rx) >= b.timeout
            {
                break BridgeEnd::Inactive;
            }
            let wake = (a.last_rx + a.timeout).min(b.last_rx + b.timeout);
            tokio::select! {
                biased;
                event = a_events.recv() => match event {
                    Some(CallEvent::Ended(_)) | None => break BridgeEnd::Caller,
                    // The caller's ACK answered our offer (a delayed offer): its codec now.
                    Some(CallEvent::Confirmed { sdp }) => {
                        if !a.on_confirmed(&sdp) {
                            break BridgeEnd::Caller;
                        }
                        a_codec = a.outgoing().codec();
                    }
                    Some(_) => {}
                },
                event = b_events.recv() => if matches!(event, Some(CallEvent::Ended(_)) | None) {
                    break BridgeEnd::Callee;
                },
                recv = a.rtp.recv_from(&mut a.buf) => if let Ok((n, from)) = recv {
                    if a.on_rtp(n, from) {
                        a.relay_into(n, b_codec, &mut to_b);
                        a.stats.relayed += Self::cut_frames(&mut to_b, b);
                    }
                },
                recv = b.rtp.recv_from(&mut b.buf) => if let Ok((n, from)) = recv {
                    if b.on_rtp(n, from) {
                        b.relay_into(n, a_codec, &mut to_a);
                        b.stats.relayed += Self::cut_frames(&mut to_a, a);
                    }
                },
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            }
        };
        for s in [a, b] {
            s.outgoing().bridged = false;
        }
        end
    }

    /// Takes the RTP packet just received into `buf`; whether it was the far end's (a
    /// bridge relays only those).
    fn on_rtp(&mut self, n: usize, from: SocketAddr) -> bool {
        let now = Instant::now();
        let buf = &self.buf[..n];
        if is_rtcp(buf) {
            return false;
        }
        let Ok(packet) = Packet::parse(buf) else {
            trace!(%from, "dropping malformed rtp");
            return false;
        };
        let verdict = self
            .source
            .on_packet(now, from, packet.header.ssrc, packet.header.sequence);
        match verdict {
            Verdict::Drop => {
                self.stats.foreign += 1;
                trace!(%from, "dropping rtp not from the far end");
                return false;
            }
            Verdict::Accept { latched: None } => {}
            Verdict::Accept {
                latched: Some(from),
            } => {
                let before = std::mem::replace(&mut self.outgoing().remote, from);
                if before != from {
                    debug!(%before, now = %from, "symmetric rtp: sending to the packets' source");
                }
                self.remote_rtcp = SocketAddr::new(from.ip(), from.port().wrapping_add(1));
            }
        }
        self.last_rx = now;
        if Some(packet.header.payload_type) == self.dtmf_pt {
            if let Ok(payload) = EventPayload::parse(packet.payload) {
                let mut events = Vec::new();
                // A new source (another SSRC) numbers its events afresh: its timestamps
                // say nothing about the old source's, so the receiver starts over.
                if self.dtmf_ssrc.replace(packet.header.ssrc) != Some(packet.header.ssrc) {
                    self.dtmf = DtmfReceiver::new();
                }
                self.dtmf
                    .on_packet(now, packet.header.timestamp, &payload, &mut events);
                self.on_dtmf(events);
            }
            return true;
        }
        self.receiver.on_packet(now, &packet.header);
        self.stats.received += 1;
        if let Some(w) = &mut self.recording {
            let codec = if packet.header.payload_type == Codec::Pcma.payload_type() {
                Codec::Pcma
            } else {
                Codec::Pcmu
            };
            let _ = w.write_g711(codec, packet.payload);
        }
        true
    }

    /// Tells `observer` of every key press from now on.
    pub fn observe_dtmf(&mut self, observer: DtmfObserver) {
        self.dtmf_observer = Some(observer);
    }

    fn on_dtmf(&mut self, events: Vec<DtmfEvent>) {
        for event in events {
            if let Some(observer) = &self.dtmf_observer {
                observer(event);
            }
            if let DtmfEvent::End { digit, .. } = event {
                debug!(%digit, "dtmf");
                self.stats.digits += 1;
                self.digits.push_back(digit);
            }
        }
    }

    fn on_rtcp(&mut self, n: usize, from: SocketAddr) {
        let now = Instant::now();
        if self.source.latched().map(|a| a.ip()) != Some(from.ip()) {
            return; // reports are the far end's only (any port: NAT)
        }
        if let Ok(compound) = Compound::parse(&self.rtcp_buf[..n]) {
            for packet in compound.iter() {
                if let RtcpPacket::SenderReport { info, .. } = packet {
                    self.receiver.on_sender_report(now, &info);
                }
            }
        }
    }

    fn send_report(&mut self, now: Instant) {
        let mut buf = [0u8; 256];
        let mut w = CompoundWriter::new(&mut buf);
        let (info, ssrc) = {
            let out = self.outgoing();
            (
                out.sender.sender_info(now, SystemTime::now()),
                out.sender.ssrc(),
            )
        };
        let blocks: Vec<_> = self.receiver.report_block(now).into_iter().collect();
        if w.sender_report(ssrc, &info, &blocks).is_ok() && w.sdes_cname(ssrc, &self.cname).is_ok()
        {
            let n = w.finish();
            let _ = self.rtcp.try_send_to(&buf[..n], self.remote_rtcp);
        }
    }

    /// Sends an RTCP BYE (the call is over).
    pub fn bye(&mut self) {
        let mut buf = [0u8; 256];
        let mut w = CompoundWriter::new(&mut buf);
        let (info, ssrc) = {
            let out = self.outgoing();
            (
                out.sender.sender_info(Instant::now(), SystemTime::now()),
                out.sender.ssrc(),
            )
        };
        if w.sender_report(ssrc, &info, &[]).is_ok()
            && w.sdes_cname(ssrc, &self.cname).is_ok()
            && w.bye(&[ssrc], None).is_ok()
        {
            let n = w.finish();
            let _ = self.rtcp.try_send_to(&buf[..n], self.remote_rtcp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_delayed_offer_sends_nothing_until_the_acks_answer_and_refuses_an_empty_one() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let pacer = Pacer::start(0).unwrap();
        let ports = Ports::new(21_200..=21_299);
        let local = |port| crate::sdp::LocalMedia {
            address: ip,
            port,
            codecs: vec![Codec::Pcma, Codec::Pcmu],
            telephone_event: true,
            session_id: 1,
            session_version: 1,
        };
        let sockets = ports.bind(ip).await.unwrap();
        let port = sockets.0.local_addr().unwrap().port();
        let mut stream =
            Stream::awaiting_answer(sockets, local(port), Duration::from_secs(5), &pacer).unwrap();
        stream.set_sending(true);
        assert!(
            !stream.outgoing().remote_known,
            "nowhere to send before the answer"
        );
        let answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                      m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
                      a=rtpmap:101 telephone-event/8000\r\n";
        assert!(stream.on_confirmed(answer.as_bytes()));
        {
            let out = stream.outgoing();
            assert!(out.remote_known);
            assert_eq!(out.remote, "127.0.0.1:40000".parse().unwrap());
            assert_eq!(out.codec(), Codec::Pcmu, "the answer's choice");
        }
        assert!(
            stream.on_confirmed(b""),
            "a later ACK (none awaited) changes nothing"
        );

        let sockets = ports.bind(ip).await.unwrap();
        let port = sockets.0.local_addr().unwrap().port();
        let mut stream =
            Stream::awaiting_answer(sockets, local(port), Duration::from_secs(5), &pacer).unwrap();
        assert!(
            !stream.on_confirmed(b""),
            "an ACK without the answer ends the call"
        );
    }

    #[tokio::test]
    async fn rtp_pairs_come_from_random_places_in_the_range_until_it_is_full() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let ports = Ports::new(21_000..=21_199); // 100 pairs, below the ephemeral range
        let mut held = Vec::new();
        for _ in 0..100 {
            let (rtp, rtcp) = ports.bind(ip).await.expect("a free pair");
            let (a, b) = (
                rtp.local_addr().unwrap().port(),
                rtcp.local_addr().unwrap().port(),
            );
            assert!(
                a % 2 == 0 && b == a + 1 && (21_000..=21_199).contains(&b),
                "{a}"
            );
            held.push((a, rtp, rtcp));
        }
        assert!(ports.bind(ip).await.is_err(), "all 100 pairs are taken");
        let steps: Vec<i32> = held
            .windows(2)
            .map(|w| i32::from(w[1].0) - i32::from(w[0].0))
            .collect();
        let sequential = steps.iter().filter(|s| **s == 2).count();
        assert!(
            sequential < 50,
            "{sequential} of 99 steps were to the next pair: {steps:?}"
        );
    }
}
