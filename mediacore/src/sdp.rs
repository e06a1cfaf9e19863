//! Pure: SDP (RFC 4566 §5) as much as G.711 telephony needs, and the offer/answer rules of
//! RFC 3264 (§5 offers, §6 answers, §6.1 unicast streams, §8.4 hold directions), with
//! RFC 4733 §7 `telephone-event` negotiation.
//!
//! Parsing keeps v, o, s, c (IN IP4/IP6, session and media level), t, m and the attributes
//! rtpmap, fmtp, ptime and the four directions; other lines and attributes are ignored.
//! Malformed lines of those kinds are errors carrying the line number, never panics.
//! Static payload types 0 (PCMU) and 8 (PCMA) are recognized without `a=rtpmap`
//! (RFC 3551 Table 4).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::codec::g711::{Codec, CLOCK_RATE};

/// The payload type we offer for telephone-event.
pub const TELEPHONE_EVENT_PT: u8 = 101;
/// The events we offer: DTMF 0–15 and flash 16.
pub const TELEPHONE_EVENT_FMTP: &str = "0-16";
/// The packetization time we offer and send, in ms.
pub const PTIME_MS: u32 = 20;

/// Malformed SDP: the peer's fault (answer 400 or 488).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is empty.
    #[error("empty SDP")]
    Empty,
    /// A line is not UTF-8.
    #[error("SDP line {line}: not UTF-8")]
    NotUtf8 {
        /// 1-based line number.
        line: usize,
    },
    /// A line is not `<letter>=<value>`.
    #[error("SDP line {line}: not of the form <type>=<value>")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// The first line is not `v=0`.
    #[error("SDP line {line}: must start with v=0")]
    Version {
        /// 1-based line number.
        line: usize,
    },
    /// A line we interpret has a bad value.
    #[error("SDP line {line}: malformed {field}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The line type or attribute (`m`, `c`, `a=rtpmap` …).
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Offer/answer cannot produce a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// No offered audio stream has a codec we allow: answer 488 Not Acceptable Here.
    #[error("no common codec; offered audio formats: {offered:?}")]
    NoCommonCodec {
        /// The offered audio formats, as encoding names where known, else payload types.
        offered: Vec<String>,
    },
    /// The chosen stream has no connection address (neither media nor session `c=`).
    #[error("audio stream {index} has no c= address")]
    NoConnection {
        /// Index of the m-line.
        index: usize,
    },
    /// The answer rejected our audio stream (port 0) or has none.
    #[error("the answer rejected our audio stream")]
    Rejected,
}

/// Stream direction attributes (RFC 4566 §6, RFC 3264 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default).
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The answerer's direction for this offered direction (RFC 3264 §6.1).
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    fn parse(attr: &str) -> Option<Self> {
        match attr {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]` (RFC 4566 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name, as written.
    pub encoding: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Channels, if given.
    pub channels: Option<u16>,
}

/// `o=` (RFC 4566 §5.2), kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Username.
    pub username: String,
    /// Session id.
    pub session_id: String,
    /// Session version.
    pub session_version: String,
    /// Unicast address, as written.
    pub address: String,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Media type (`audio`, `video` …).
    pub kind: String,
    /// Port; 0 means the stream is rejected or disabled.
    pub port: u16,
    /// Transport protocol (`RTP/AVP` …).
    pub protocol: String,
    /// Format list as written (payload types for RTP).
    pub formats: Vec<String>,
    /// Media-level `c=` address.
    pub connection: Option<IpAddr>,
    /// `a=rtpmap` lines.
    pub rtpmaps: Vec<RtpMap>,
    /// `a=fmtp` lines: payload type and parameters.
    pub fmtps: Vec<(u8, String)>,
    /// `a=ptime` in ms.
    pub ptime: Option<u32>,
    /// Media-level direction attribute.
    pub direction: Option<Direction>,
}

impl Media {
    /// The formats that are valid payload types (0–127), in order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats
            .iter()
            .filter_map(|f| f.parse::<u8>().ok())
            .filter(|&pt| pt < 128)
    }

    /// The rtpmap for a payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == payload_type)
    }

    /// The fmtp parameters for a payload type.
    pub fn fmtp(&self, payload_type: u8) -> Option<&str> {
        self.fmtps
            .iter()
            .find(|(pt, _)| *pt == payload_type)
            .map(|(_, p)| p.as_str())
    }

    /// The G.711 codec a payload type stands for: by rtpmap name at 8000 Hz mono, or by
    /// static payload type 0/8 when there is no rtpmap.
    pub fn codec(&self, payload_type: u8) -> Option<Codec> {
        match self.rtpmap(payload_type) {
            Some(map) => Codec::from_name(&map.encoding)
                .filter(|_| map.clock_rate == CLOCK_RATE && map.channels.is_none_or(|c| c == 1)),
            None => Codec::from_payload_type(payload_type),
        }
    }

    /// The payload type of `telephone-event/8000`, if listed.
    pub fn telephone_event(&self) -> Option<u8> {
        self.payload_types().find(|&pt| {
            self.rtpmap(pt).is_some_and(|m| {
                m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == CLOCK_RATE
            })
        })
    }

    fn is_rtp_audio(&self) -> bool {
        self.kind == "audio" && self.protocol.eq_ignore_ascii_case("RTP/AVP")
    }

    fn describe_formats(&self) -> Vec<String> {
        self.payload_types()
            .map(|pt| match self.rtpmap(pt) {
                Some(m) => format!("{}/{}", m.encoding, m.clock_rate),
                None => self
                    .codec(pt)
                    .map_or_else(|| pt.to_string(), |c| c.name().to_string()),
            })
            .collect()
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionDescription {
    /// `o=`, if well-formed.
    pub origin: Option<Origin>,
    /// `s=`.
    pub session_name: String,
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute.
    pub direction: Option<Direction>,
    /// The `m=` sections in order.
    pub media: Vec<Media>,
}

impl SessionDescription {
    /// Parses an SDP body (CRLF or LF line ends).
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut sdp = Self::default();
        let mut seen_version = false;
        for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let text = std::str::from_utf8(raw).map_err(|_| ParseError::NotUtf8 { line })?;
            let (kind, value) = match text.as_bytes() {
                [k, b'=', ..] => (*k, &text[2..]),
                _ => return Err(ParseError::Syntax { line }),
            };
            if !seen_version {
                if kind != b'v' || value.trim() != "0" {
                    return Err(ParseError::Version { line });
                }
                seen_version = true;
                continue;
            }
            sdp.parse_line(line, kind, value.trim_end())?;
        }
        if seen_version {
            Ok(sdp)
        } else {
            Err(ParseError::Empty)
        }
    }

    fn parse_line(&mut self, line: usize, kind: u8, value: &str) -> Result<(), ParseError> {
        let malformed = |field, reason| ParseError::Malformed {
            line,
            field,
            reason,
        };
        match kind {
            b'o' => {
                let f: Vec<&str> = value.split_ascii_whitespace().collect();
                // Tolerated if odd: we only use o= for logging.
                if let [username, id, version, _, _, address] = f[..] {
                    self.origin = Some(Origin {
                        username: username.into(),
                        session_id: id.into(),
                        session_version: version.into(),
                        address: address.into(),
                    });
                }
            }
            b's' if self.media.is_empty() => self.session_name = value.to_string(),
            b'c' => {
                let address = parse_connection(value);
                match self.media.last_mut() {
                    // A stream we will decline may say what it likes (see parse_attribute).
                    Some(m) if !m.is_rtp_audio() => m.connection = address,
                    Some(m) => {
                        m.connection =
                            Some(address.ok_or(malformed("c", "expected IN IP4|IP6 <address>"))?)
                    }
                    None => {
                        self.connection =
                            Some(address.ok_or(malformed("c", "expected IN IP4|IP6 <address>"))?)
                    }
                }
            }
            b'm' => {
                let mut f = value.split_ascii_whitespace();
                let (Some(kind), Some(port), Some(protocol)) = (f.next(), f.next(), f.next())
                else {
                    return Err(malformed("m", "expected <media> <port> <proto> <fmt> ..."));
                };
                let port = port.split('/').next().unwrap_or(port);
                let port = port
                    .parse()
                    .map_err(|_| malformed("m", "port is not a number 0-65535"))?;
                self.media.push(Media {
                    kind: kind.to_string(),
                    port,
                    protocol: protocol.to_string(),
                    formats: f.map(str::to_string).collect(),
                    connection: None,
                    rtpmaps: Vec::new(),
                    fmtps: Vec::new(),
                    ptime: None,
                    direction: None,
                });
            }
            b'a' => self.parse_attribute(line, value)?,
            _ => {} // t, b, k, i, u, e, p, z, r and unknown types
        }
        Ok(())
    }

    fn parse_attribute(&mut self, line: usize, value: &str) -> Result<(), ParseError> {
        let malformed = |field, reason| ParseError::Malformed {
            line,
            field,
            reason,
        };
        let (name, arg) = value.split_once(':').unwrap_or((value, ""));
        if let Some(direction) = Direction::parse(name) {
            match self.media.last_mut() {
                Some(m) => m.direction = Some(direction),
                None => self.direction = Some(direction),
            }
            return Ok(());
        }
        // The remaining attributes are media-level; at session level they are ignored, and
        // so they are in a stream we will decline (not RTP audio): a line we cannot read
        // there must not cost the call its audio (RFC 4475's `a=rtpmap:31 LPC` in video).
        let Some(media) = self.media.last_mut().filter(|m| m.is_rtp_audio()) else {
            return Ok(());
        };
        match name {
            "rtpmap" => {
                let bad = || malformed("a=rtpmap", "expected <pt> <encoding>/<rate>[/<channels>]");
                let (pt, encoding) = arg.split_once(' ').ok_or_else(bad)?;
                let payload_type = pt
                    .trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|&p| p < 128)
                    .ok_or_else(bad)?;
                let mut parts = encoding.trim().split('/');
                let name = parts.next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
                let clock_rate = parts.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
                let channels = match parts.next() {
                    Some(c) => Some(c.parse().map_err(|_| bad())?),
                    None => None,
                };
                media.rtpmaps.push(RtpMap {
                    payload_type,
                    encoding: name.to_string(),
                    clock_rate,
                    channels,
                });
            }
            "fmtp" => {
                let bad = || malformed("a=fmtp", "expected <pt> <parameters>");
                let (pt, params) = arg.split_once(' ').ok_or_else(bad)?;
                let payload_type = pt.trim().parse::<u8>().map_err(|_| bad())?;
                media.fmtps.push((payload_type, params.trim().to_string()));
            }
            "ptime" => {
                let ms = arg
                    .trim()
                    .parse()
                    .map_err(|_| malformed("a=ptime", "not a number of ms"))?;
                media.ptime = Some(ms);
            }
            _ => {}
        }
        Ok(())
    }

    /// The address of a media section: its own `c=`, else the session's.
    pub fn media_connection(&self, media: &Media) -> Option<IpAddr> {
        media.connection.or(self.connection)
    }

    /// The direction of a media section: its own attribute, else the session's, else
    /// sendrecv.
    pub fn media_direction(&self, media: &Media) -> Direction {
        media.direction.or(self.direction).unwrap_or_default()
    }
}

/// `IN IP4 <addr>[/ttl[/n]]` or `IN IP6 <addr>`.
fn parse_connection(value: &str) -> Option<IpAddr> {
    let mut f = value.split_ascii_whitespace();
    if f.next()? != "IN" {
        return None;
    }
    let family = f.next()?;
    let address = f.next()?.split('/').next()?;
    match family {
        "IP4" => address.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
        "IP6" => address.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        _ => None,
    }
}

/// The result of offer/answer for our one audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec both sides use.
    pub codec: Codec,
    /// Its payload type (the offerer's numbering).
    pub payload_type: u8,
    /// Where to send RTP (RTCP goes to port + 1).
    pub remote: SocketAddr,
    /// The telephone-event payload type, if both support it.
    pub telephone_event: Option<u8>,
    /// Our direction for the stream.
    pub direction: Direction,
    /// The peer's `a=ptime`, if given (we send 20 ms regardless).
    pub remote_ptime: Option<u32>,
    /// Index of the audio m-line in the offer.
    pub media_index: usize,
}

/// Our side of the media negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Our RTP address (goes in `o=` and `c=`).
    pub address: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// Codecs we allow, in preference order (used in offers; in answers the offerer's
    /// order wins).
    pub codecs: Vec<Codec>,
    /// Whether we offer and accept RFC 4733 telephone-event.
    pub telephone_event: bool,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version; bump it for each new offer in a dialog.
    pub session_version: u64,
}

impl LocalMedia {
    /// An offer: our address and port, the codecs in preference order, telephone-event
    /// on PT 101 with `0-16`, ptime 20, sendrecv.
    pub fn offer(&self) -> String {
        let mut sdp = self.session_header();
        let te = self
            .telephone_event
            .then_some((TELEPHONE_EVENT_PT, TELEPHONE_EVENT_FMTP));
        self.write_media(&mut sdp, &self.codecs, te, Direction::SendRecv);
        sdp
    }

    /// Answers an offer (RFC 3264 §6): the first audio stream whose codec list has a codec
    /// we allow, taking the offerer's first such codec and echoing its telephone-event
    /// payload type; every other stream is rejected with port 0.
    pub fn answer(
        &self,
        offer: &SessionDescription,
    ) -> Result<(Negotiated, String), NegotiationError> {
        let chosen = offer.media.iter().enumerate().find_map(|(index, m)| {
            if !m.is_rtp_audio() || m.port == 0 {
                return None;
            }
            let (pt, codec) = m.payload_types().find_map(|pt| {
                m.codec(pt)
                    .filter(|c| self.codecs.contains(c))
                    .map(|c| (pt, c))
            })?;
            Some((index, m, pt, codec))
        });
        let Some((index, media, payload_type, codec)) = chosen else {
            let offered = offer
                .media
                .iter()
                .filter(|m| m.kind == "audio")
                .flat_map(Media::describe_formats)
                .collect();
            return Err(NegotiationError::NoCommonCodec { offered });
        };
        let address = offer
            .media_connection(media)
            .ok_or(NegotiationError::NoConnection { index })?;
        let telephone_event = media.telephone_event().filter(|_| self.telephone_event);
        let direction = offer.media_direction(media).reversed();
        let negotiated = Negotiated {
            codec,
            payload_type,
            remote: SocketAddr::new(address, media.port),
            telephone_event,
            direction,
            remote_ptime: media.ptime,
            media_index: index,
        };
        let mut sdp = self.session_header();
        for (i, m) in offer.media.iter().enumerate() {
            if i == index {
                let te = telephone_event.map(|pt| (pt, media.fmtp(pt).unwrap_or("0-15")));
                self.write_answer_media(&mut sdp, payload_type, codec, te, direction);
            } else {
                let _ = writeln!(
                    sdp,
                    "m={} 0 {} {}\r",
                    m.kind,
                    m.protocol,
                    m.formats.join(" ")
                );
            }
        }
        Ok((negotiated, sdp))
    }

    /// Reads the answer to our [`LocalMedia::offer`]: which codec and payload type they
    /// chose, their RTP address and their telephone-event payload type.
    pub fn accept_answer(
        &self,
        answer: &SessionDescription,
    ) -> Result<Negotiated, NegotiationError> {
        let (index, media) = answer
            .media
            .iter()
            .enumerate()
            .find(|(_, m)| m.kind == "audio")
            .filter(|(_, m)| m.port != 0)
            .ok_or(NegotiationError::Rejected)?;
        let Some((payload_type, codec)) = media.payload_types().find_map(|pt| {
            media
                .codec(pt)
                .filter(|c| self.codecs.contains(c))
                .map(|c| (pt, c))
        }) else {
            return Err(NegotiationError::NoCommonCodec {
                offered: media.describe_formats(),
            });
        };
        let address = answer
            .media_connection(media)
            .ok_or(NegotiationError::NoConnection { index })?;
        Ok(Negotiated {
            codec,
            payload_type,
            remote: SocketAddr::new(address, media.port),
            telephone_event: media.telephone_event().filter(|_| self.telephone_event),
            direction: answer.media_direction(media).reversed(),
            remote_ptime: media.ptime,
            media_index: index,
        })
    }

    fn session_header(&self) -> String {
        let family = if self.address.is_ipv4() { "IP4" } else { "IP6" };
        format!(
            "v=0\r\no=allerta {id} {version} IN {family} {addr}\r\ns=allerta\r\nc=IN {family} {addr}\r\nt=0 0\r\n",
            id = self.session_id,
            version = self.session_version,
            addr = self.address,
        )
    }

    fn write_media(
        &self,
        sdp: &mut String,
        codecs: &[Codec],
        te: Option<(u8, &str)>,
        direction: Direction,
    ) {
        let _ = write!(sdp, "m=audio {} RTP/AVP", self.port);
        for c in codecs {
            let _ = write!(sdp, " {}", c.payload_type());
        }
        if let Some((pt, _)) = te {
            let _ = write!(sdp, " {pt}");
        }
        sdp.push_str("\r\n");
        for c in codecs {
            let _ = write!(
                sdp,
                "a=rtpmap:{} {}/{}\r\n",
                c.payload_type(),
                c.name(),
                c.clock_rate()
            );
        }
        write_tail(sdp, te, direction);
    }

    fn write_answer_media(
        &self,
        sdp: &mut String,
        pt: u8,
        codec: Codec,
        te: Option<(u8, &str)>,
        direction: Direction,
    ) {
        let _ = write!(sdp, "m=audio {} RTP/AVP {pt}", self.port);
        if let Some((te_pt, _)) = te {
            let _ = write!(sdp, " {te_pt}");
        }
        let _ = write!(
            sdp,
            "\r\na=rtpmap:{pt} {}/{}\r\n",
            codec.name(),
            codec.clock_rate()
        );
        write_tail(sdp, te, direction);
    }
}

fn write_tail(sdp: &mut String, te: Option<(u8, &str)>, direction: Direction) {
    if let Some((pt, events)) = te {
        let _ = write!(
            sdp,
            "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} {events}\r\n"
        );
    }
    let _ = write!(sdp, "a=ptime:{PTIME_MS}\r\na={}\r\n", direction.as_str());
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;

    /// The offer in sipp's built-in `uac_pcap` scenario (media port and address filled in).
    const SIPP_UAC_PCAP: &str = "v=0\r\n\
        o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
        s=-\r\n\
        c=IN IP4 127.0.0.1\r\n\
        t=0 0\r\n\
        m=audio 6000 RTP/AVP 8 101\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-15\r\n";

    /// An Asterisk/baresip-style offer: several codecs, media-level c=, a video stream,
    /// dynamic telephone-event, unknown attributes, LF line ends.
    const ASTERISK_OFFER: &str = "v=0
o=- 1183296402 1183296402 IN IP4 198.51.100.7
s=Asterisk
c=IN IP4 198.51.100.7
b=AS:64
t=0 0
m=audio 17232 RTP/AVP 9 107 0 8 96
c=IN IP4 203.0.113.20
a=rtpmap:9 G722/8000
a=rtpmap:107 opus/48000/2
a=fmtp:107 useinbandfec=1
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-16
a=ptime:20
a=maxptime:150
a=sendonly
a=rtcp-mux
m=video 0 RTP/AVP 31
m=video 9078 RTP/AVP 96
a=rtpmap:96 H264/90000
";

    fn local() -> LocalMedia {
        LocalMedia {
            address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
            port: 40_000,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: true,
            session_id: 42,
            session_version: 1,
        }
    }

    fn parse(text: &str) -> SessionDescription {
        SessionDescription::parse(text.as_bytes()).expect("valid SDP")
    }

    #[test]
    fn the_sipp_offer_parses() {
        let sdp = parse(SIPP_UAC_PCAP);
        assert_eq!(sdp.connection, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(
            sdp.origin.as_ref().map(|o| o.username.as_str()),
            Some("user1")
        );
        let m = &sdp.media[0];
        assert_eq!(
            (m.kind.as_str(), m.port, m.protocol.as_str()),
            ("audio", 6000, "RTP/AVP")
        );
        assert_eq!(m.payload_types().collect::<Vec<_>>(), [8, 101]);
        assert_eq!(m.codec(8), Some(Codec::Pcma));
        assert_eq!(m.telephone_event(), Some(101));
        assert_eq!(m.fmtp(101), Some("0-15"));
        assert_eq!(sdp.media_direction(m), Direction::SendRecv);
    }

    #[test]
    fn answering_sipp_picks_pcma_and_echoes_its_telephone_event() {
        let (n, answer) = local().answer(&parse(SIPP_UAC_PCAP)).expect("common codec");
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (Codec::Pcma, 8, Some(101))
        );
        assert_eq!(n.remote, "127.0.0.1:6000".parse().expect("addr"));
        assert_eq!(
            answer,
            "v=0\r\no=allerta 42 1 IN IP4 192.0.2.10\r\ns=allerta\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        // Our answer is itself valid SDP that reads back the same way.
        let again = parse(&answer);
        assert_eq!(again.media[0].codec(8), Some(Codec::Pcma));
    }

    #[test]
    fn answering_asterisk_follows_the_offerers_order_and_rejects_other_streams() {
        let offer = parse(ASTERISK_OFFER);
        let (n, answer) = local().answer(&offer).expect("common codec");
        // 9 (G722) and 107 (opus) are not ours; PCMU is the offerer's first G.711.
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (Codec::Pcmu, 0, Some(96))
        );
        assert_eq!(
            n.remote,
            "203.0.113.20:17232".parse().expect("addr"),
            "media-level c= wins"
        );
        assert_eq!(n.direction, Direction::RecvOnly);
        assert_eq!(n.remote_ptime, Some(20));
        let lines: Vec<&str> = answer.lines().collect();
        assert!(lines.contains(&"m=audio 40000 RTP/AVP 0 96"), "{answer}");
        assert!(lines.contains(&"a=fmtp:96 0-16"));
        assert!(lines.contains(&"a=recvonly"));
        assert!(lines.contains(&"m=video 0 RTP/AVP 31"));
        assert!(lines.contains(&"m=video 0 RTP/AVP 96"));
        assert_eq!(
            parse(&answer).media.len(),
            3,
            "one m-line per offered stream"
        );
    }

    #[test]
    fn a_line_we_cannot_read_in_a_stream_we_decline_costs_nothing() {
        // RFC 4475's SDP: `LPC` has no clock rate, in a video stream we do not take.
        let rfc4475 = "v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.3\r\ns=-\r\n\
            c=IN IP4 192.0.2.4\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\n\
            m=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\nc=IN IP9 nowhere\r\n";
        let offer = parse(rfc4475);
        let (n, answer) = local().answer(&offer).expect("the audio stream is fine");
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
        assert!(
            answer.lines().any(|l| l == "m=video 0 RTP/AVP 31"),
            "{answer}"
        );
        // The same line in the audio stream is still an error, with its line number.
        let bad_audio = "v=0\r\nc=IN IP4 192.0.2.4\r\nm=audio 49217 RTP/AVP 0 31\r\n\
            a=rtpmap:31 LPC\r\n";
        assert!(matches!(
            SessionDescription::parse(bad_audio.as_bytes()),
            Err(ParseError::Malformed { line: 4, .. })
        ));
    }

    #[test]
    fn static_payload_types_need_no_rtpmap() {
        let offer = parse("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5004 RTP/AVP 18 0\r\n");
        let (n, _) = local().answer(&offer).expect("PCMU by static PT");
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (Codec::Pcmu, 0, None)
        );
    }

    #[test]
    fn a_dynamic_payload_type_named_pcmu_is_accepted_with_its_number() {
        let offer = parse(
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5004 RTP/AVP 97\r\na=rtpmap:97 pcmu/8000\r\n",
        );
        let (n, answer) = local().answer(&offer).expect("PCMU by name");
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 97));
        assert!(answer.contains("m=audio 40000 RTP/AVP 97\r\na=rtpmap:97 PCMU/8000\r\n"));
    }

    #[test]
    fn an_offer_without_our_codecs_is_not_acceptable() {
        let offer = parse(
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5004 RTP/AVP 18 9\r\na=rtpmap:18 G729/8000\r\n",
        );
        assert_eq!(
            local().answer(&offer),
            Err(NegotiationError::NoCommonCodec {
                offered: vec!["G729/8000".into(), "9".into()]
            })
        );
        let pcma_only = LocalMedia {
            codecs: vec![Codec::Pcma],
            ..local()
        };
        let offer = parse("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5004 RTP/AVP 0\r\n");
        assert!(matches!(
            pcma_only.answer(&offer),
            Err(NegotiationError::NoCommonCodec { .. })
        ));
        // A port-0 or SRTP audio stream is not a candidate either.
        let offer =
            parse("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\nm=audio 5 RTP/SAVP 0\r\n");
        assert!(matches!(
            local().answer(&offer),
            Err(NegotiationError::NoCommonCodec { .. })
        ));
    }

    #[test]
    fn an_offer_without_any_address_is_refused() {
        let offer = parse("v=0\r\nm=audio 5004 RTP/AVP 0\r\n");
        assert_eq!(
            local().answer(&offer),
            Err(NegotiationError::NoConnection { index: 0 })
        );
    }

    #[test]
    fn our_offer_lists_codecs_in_preference_order_with_telephone_event() {
        let offer = LocalMedia {
            codecs: vec![Codec::Pcma, Codec::Pcmu],
            ..local()
        }
        .offer();
        assert_eq!(
            offer,
            "v=0\r\no=allerta 42 1 IN IP4 192.0.2.10\r\ns=allerta\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
        );
    }

    #[test]
    fn an_answer_to_our_offer_tells_codec_address_and_telephone_event() {
        let answer = parse(
            "v=0\r\no=- 1 1 IN IP4 10.1.1.1\r\ns=-\r\nc=IN IP4 10.1.1.1\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        );
        let n = local().accept_answer(&answer).expect("accepted");
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event),
            (Codec::Pcma, 8, Some(101))
        );
        assert_eq!(n.remote, "10.1.1.1:30000".parse().expect("addr"));
        let rejected = parse("v=0\r\nc=IN IP4 10.1.1.1\r\nm=audio 0 RTP/AVP 0\r\n");
        assert_eq!(
            local().accept_answer(&rejected),
            Err(NegotiationError::Rejected)
        );
    }

    #[test]
    fn malformed_lines_are_reported_with_their_line_number() {
        let cases: [(&str, ParseError); 8] = [
            ("", ParseError::Empty),
            ("s=x\r\n", ParseError::Version { line: 1 }),
            ("v=0\r\nnonsense\r\n", ParseError::Syntax { line: 2 }),
            (
                "v=0\r\nc=IN IP4 not-an-ip\r\n",
                ParseError::Malformed {
                    line: 2,
                    field: "c",
                    reason: "expected IN IP4|IP6 <address>",
                },
            ),
            (
                "v=0\r\nm=audio\r\n",
                ParseError::Malformed {
                    line: 2,
                    field: "m",
                    reason: "expected <media> <port> <proto> <fmt> ...",
                },
            ),
            (
                "v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
                ParseError::Malformed {
                    line: 2,
                    field: "m",
                    reason: "port is not a number 0-65535",
                },
            ),
            (
                "v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
                ParseError::Malformed {
                    line: 3,
                    field: "a=rtpmap",
                    reason: "expected <pt> <encoding>/<rate>[/<channels>]",
                },
            ),
            (
                "v=0\r\nm=audio 1 RTP/AVP 0\r\na=ptime:x\r\n",
                ParseError::Malformed {
                    line: 3,
                    field: "a=ptime",
                    reason: "not a number of ms",
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(
                SessionDescription::parse(text.as_bytes()),
                Err(expected),
                "{text:?}"
            );
        }
        assert_eq!(
            SessionDescription::parse(b"v=0\r\ns=\xff\r\n"),
            Err(ParseError::NotUtf8 { line: 2 })
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(sdp) = SessionDescription::parse(&raw) {
                let _ = local().answer(&sdp);
                let _ = local().accept_answer(&sdp);
            }
        }

        #[test]
        fn sdp_like_lines_never_panic(lines in proptest::collection::vec(
            "(v=0|[cmas]=[ -~]{0,30}|a=(rtpmap|fmtp|ptime):[ -~]{0,20}|m=audio [0-9]{1,6} RTP/AVP( [0-9]{1,3}){0,4})", 0..12)) {
            let body = lines.join("\r\n");
            if let Ok(sdp) = SessionDescription::parse(body.as_bytes()) {
                let _ = local().answer(&sdp);
            }
        }
    }
}
