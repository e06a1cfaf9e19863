//! Allerta media core: SIP trunks, RTP media with G.711 and RFC 4733 DTMF, prompts, and an
//! Asterisk-style dialplan.
//!
//! Pure modules (no sockets, no clock): `codec` (G.711, WAV), `conf` (Asterisk-style
//! `pjsip.conf`), `dialplan` (`extensions.conf`: parse, patterns, expressions, execution),
//! `dtmf` (RFC 4733), `agi` (the AGI protocol), `rtp` (packets, RTCP, per-stream state), `sdp`, `sip` (framing,
//! transactions, dialogs, digest, registration, qualify).
//! `callfile` (Asterisk call files), `channel` (a channel as AMI lists it), `settings` (the
//! `[mediacore]` table), `status` (what the media core publishes).
//! `campaign` (alert campaigns: ledger, planner, IVR, dialer; see its docs).
//! `live` (what AMI may do to a running call: variables, redirects).
//! Drivers: `sip::transport`, `engine` (the SIP task), `trunks` (resolved at start), `call` (one task per call),
//! `originate` (outbound calls for AMI and call files), `local` (Local channel pairs), `agi::session`, `media` (RTP streams), `pacer`
//! (the thread that sends their audio), `spool` (the outgoing call spool), `ami::server`,
//! `reload` (replicated configuration in force where it lands).
pub mod agi;
pub mod ami;
pub mod call;
pub mod callfile;
pub mod campaign;
pub mod channel;
pub mod codec;
pub mod conf;
pub mod dialplan;
pub mod dtmf;
pub mod engine;
pub mod file_id;
pub mod live;
pub mod local;
// fail2ban's rule, shared with the web console's sign-in: it lives in `component`.
pub use component::lockout;
pub mod media;
pub mod originate;
pub mod pacer;
pub mod reload;
pub mod rtp;
pub mod sdp;
pub mod settings;
pub mod sip;
pub mod spool;
pub mod status;
pub mod trunks;
