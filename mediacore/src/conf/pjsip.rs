//! Pure: the `pjsip.conf` subset a registration-based SIP provider trunk uses, read with
//! the generic [`super::asterisk`] reader and checked the way Asterisk's
//! `res_pjsip` sorcery objects are (`type=transport|registration|auth|aor|endpoint|
//! identify`, plus `global`/`system`, whose keys are accepted and ignored except
//! `global`'s `user_agent`).
//!
//! Checks: every key is either used, or on the per-type "accepted and ignored" list (keys
//! Asterisk integrators commonly write that change nothing for us), or an error naming
//! `file:line`. So are an unknown `type=`, a section without one, two objects of one type
//! with one name, and references to missing objects (endpoint → auth/aor/transport,
//! identify → endpoint, registration → auth/transport/endpoint).
//!
//! [`PjsipConfig::trunks`] is the resolved view: one [`Trunk`] per endpoint.
//!
//! **Registration ↔ endpoint rule** (each registration belongs to at most one endpoint,
//! first rule that applies wins):
//! 1. `endpoint=<name>` in the registration (Asterisk's own link, used with `line=yes`);
//! 2. else the endpoint with the same section name as the registration;
//! 3. else the first endpoint, in file order, whose `outbound_auth` equals the
//!    registration's `outbound_auth`.
//!
//! Two registrations resolving to one endpoint is a load error (ambiguous, and silently
//! dropping one would leave a provider unregistered).
//!
//! **Codecs:** `disallow`/`allow` are applied in order as Asterisk does (`all` clears or
//! adds every supported codec). We carry `ulaw` and `alaw`; other codec names Asterisk
//! knows (`g722`, `g729`, `gsm`, `opus`, …) are *ignored* and listed in
//! [`Endpoint::ignored_codecs`] so the driver can log a note; a name Asterisk does not
//! know either is an error (a typo), and so is an endpoint left with no codec. Without any
//! `allow`/`disallow` line the list is `[ulaw, alaw]`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;

use super::asterisk::{self, ConfError, ConfErrorKind, ConfFile, Entry, Location, Section};

/// `transport` keys we accept and ignore.
pub const TRANSPORT_IGNORED: &[&str] = &[
    "tos",
    "cos",
    "allow_reload",
    "symmetric_transport",
    "async_operations",
];
/// `registration` keys we accept and ignore.
pub const REGISTRATION_IGNORED: &[&str] = &[
    "auth_rejection_permanent",
    "fatal_retry_interval",
    "support_path",
    "support_outbound",
    "contact_header_params",
    "max_random_initial_delay",
];
/// `auth` keys we accept and ignore.
pub const AUTH_IGNORED: &[&str] = &["nonce_lifetime"];
/// `aor` keys we accept and ignore.
pub const AOR_IGNORED: &[&str] = &[
    "max_contacts",
    "remove_existing",
    "remove_unavailable",
    "default_expiration",
    "minimum_expiration",
    "maximum_expiration",
    "qualify_timeout",
    "qualify_2xx_only",
    "authenticate_qualify",
    "support_path",
    "outbound_proxy",
    "mailboxes",
    "voicemail_extension",
];
/// `endpoint` keys we accept and ignore.
pub const ENDPOINT_IGNORED: &[&str] = &[
    "language",
    "callerid",
    "callerid_privacy",
    "callerid_tag",
    "send_pai",
    "send_rpid",
    "send_diversion",
    "send_history_info",
    "trust_id_inbound",
    "trust_id_outbound",
    "trust_connected_line",
    "send_connected_line",
    "connected_line_method",
    "rpid_immediate",
    "ice_support",
    "rtp_timeout",
    "rtp_timeout_hold",
    "rtp_keepalive",
    "rtp_ipv6",
    "allow_subscribe",
    "allow_overlap",
    "allow_transfer",
    "sdp_session",
    "sdp_owner",
    "t38_udptl",
    "fax_detect",
    "tos_audio",
    "cos_audio",
    "device_state_busy_at",
    "moh_suggest",
    "media_address",
    "bind_rtp_to_media_address",
    "media_use_received_transport",
    "contact_user",
    "identify_by",
    "outbound_proxy",
    "100rel",
    "inband_progress",
    "call_group",
    "pickup_group",
    "named_call_group",
    "named_pickup_group",
    "use_ptime",
    "mailboxes",
    "set_var",
    "user_eq_phone",
    "tone_zone",
    "message_context",
    "accountcode",
    "direct_media_method",
    "disable_direct_media_on_nat",
    "preferred_codec_only",
    "suppress_q850_reason_headers",
    "notify_early_inuse_ringing",
    "refer_blind_progress",
];
/// `identify` keys we accept and ignore.
pub const IDENTIFY_IGNORED: &[&str] = &["srv_lookups"];

/// Codec names Asterisk knows that we do not carry: ignored with a note.
const OTHER_CODECS: &[&str] = &[
    "g722", "g729", "gsm", "opus", "ilbc", "speex", "speex16", "speex32", "g726", "g726aal2",
    "adpcm", "lpc10", "g723", "g719", "siren7", "siren14", "testlaw", "slin", "slin8", "slin12",
    "slin16", "slin24", "slin32", "slin44", "slin48", "slin96", "slin192", "h261", "h263", "h263p",
    "h264", "h265", "vp8", "vp9", "mpeg4", "jpeg", "png", "t140", "t140red", "red", "silk",
    "silk8", "silk12", "silk16", "silk24", "codec2",
];

/// SIP transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `protocol=udp` (the default).
    Udp,
    /// `protocol=tcp`.
    Tcp,
}

/// A `type=transport` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    /// Section name.
    pub name: String,
    /// `protocol`, default udp.
    pub protocol: Protocol,
    /// `bind`, default `0.0.0.0:5060`; a bare address gets port 5060.
    pub bind: SocketAddr,
    /// `external_media_address` (host or IP, for SDP behind NAT).
    pub external_media_address: Option<String>,
    /// `external_signaling_address` (host or IP, for Via/Contact behind NAT).
    pub external_signaling_address: Option<String>,
    /// `external_signaling_port`.
    pub external_signaling_port: Option<u16>,
    /// `local_net` (repeatable): networks reached without the external addresses.
    pub local_net: Vec<IpNet>,
    /// Section header.
    pub location: Location,
}

/// A `type=registration` section (outbound REGISTER to a provider).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Section name.
    pub name: String,
    /// `server_uri`: the registrar (Request-URI).
    pub server_uri: String,
    /// `client_uri`: the address of record (To/From).
    pub client_uri: String,
    /// `contact_user`: user part of our Contact.
    pub contact_user: Option<String>,
    /// `outbound_auth`: the auth section answering challenges.
    pub outbound_auth: Option<String>,
    /// `transport`.
    pub transport: Option<String>,
    /// `retry_interval`, default 60 s.
    pub retry_interval: Duration,
    /// `forbidden_retry_interval`, default 0 (a 403 is not retried).
    pub forbidden_retry_interval: Duration,
    /// `expiration`, default 3600 s.
    pub expiration: Duration,
    /// `max_retries`, default 10.
    pub max_retries: u32,
    /// `outbound_proxy` (SIP URI).
    pub outbound_proxy: Option<String>,
    /// `line`: add a `line` parameter to the Contact to identify inbound calls.
    pub line: bool,
    /// `endpoint`: the endpoint this registration belongs to.
    pub endpoint: Option<String>,
    /// Section header.
    pub location: Location,
}

/// `auth_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// `userpass` (the default).
    Userpass,
    /// `digest` (Asterisk 20+ spelling of the same).
    Digest,
}

/// A `type=auth` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// Section name.
    pub name: String,
    /// `auth_type`.
    pub auth_type: AuthType,
    /// `username` (required).
    pub username: String,
    /// `password` (required).
    pub password: String,
    /// `realm`: only answer challenges for this realm; `None` answers any.
    pub realm: Option<String>,
    /// Section header.
    pub location: Location,
}

/// A `type=aor` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aor {
    /// Section name.
    pub name: String,
    /// `contact` (repeatable, comma lists allowed): static SIP URIs.
    pub contacts: Vec<String>,
    /// `qualify_frequency`; `None` for 0 (off, the default).
    pub qualify_frequency: Option<Duration>,
    /// Section header.
    pub location: Location,
}

/// An audio codec we carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, `ulaw` (PCMU).
    Ulaw,
    /// G.711 A-law, `alaw` (PCMA).
    Alaw,
}

impl Codec {
    /// Every codec we support, in `allow=all` order.
    pub const ALL: [Self; 2] = [Self::Ulaw, Self::Alaw];
}

/// `timers` (RFC 4028 session timers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timers {
    /// `no`
    No,
    /// `yes` (the default): supported, used if the peer asks.
    Yes,
    /// `required`
    Required,
    /// `always` / `forced`
    Always,
}

/// A `type=endpoint` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Section name.
    pub name: String,
    /// `context` for inbound calls, default `default`.
    pub context: String,
    /// Codecs after `disallow`/`allow`, in preference order.
    pub codecs: Vec<Codec>,
    /// Codec names allowed but not supported by us (see the module docs).
    pub ignored_codecs: Vec<String>,
    /// `auth`: credentials the peer must present (inbound).
    pub auth: Option<String>,
    /// `outbound_auth`: credentials we present (outbound INVITE challenges).
    pub outbound_auth: Option<String>,
    /// `aors` (comma list).
    pub aors: Vec<String>,
    /// `transport`.
    pub transport: Option<String>,
    /// `from_user`.
    pub from_user: Option<String>,
    /// `from_domain`.
    pub from_domain: Option<String>,
    /// `rtp_symmetric`, default no.
    pub rtp_symmetric: bool,
    /// `direct_media`, default yes (we never re-INVITE media away; kept for display).
    pub direct_media: bool,
    /// `force_rport`, default yes.
    pub force_rport: bool,
    /// `rewrite_contact`, default no.
    pub rewrite_contact: bool,
    /// `timers`, default yes.
    pub timers: Timers,
    /// `timers_min_se` in seconds, default 90.
    pub timers_min_se: u32,
    /// `timers_sess_expires` in seconds, default 1800.
    pub timers_sess_expires: u32,
    /// Section header.
    pub location: Location,
}

/// A `type=identify` section: inbound requests from these sources are this endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identify {
    /// Section name.
    pub name: String,
    /// `endpoint` (required).
    pub endpoint: String,
    /// `match` entries that are IPs or CIDRs (a bare IP is a host route).
    pub matches: Vec<IpNet>,
    /// `match` entries that are host names (resolved by the driver).
    pub hostnames: Vec<String>,
    /// Section header.
    pub location: Location,
}

/// Credentials from an `auth` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The auth section's name.
    pub name: String,
    /// `username`.
    pub username: String,
    /// `password`.
    pub password: String,
    /// `realm`, if restricted.
    pub realm: Option<String>,
}

/// The transport a trunk uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkTransport {
    /// The transport section's name.
    pub name: String,
    /// udp or tcp.
    pub protocol: Protocol,
    /// Local bind address.
    pub bind: SocketAddr,
}

/// A registration, resolved for its trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkRegistration {
    /// The registration section's name.
    pub name: String,
    /// `server_uri`.
    pub server_uri: String,
    /// `client_uri`.
    pub client_uri: String,
    /// `contact_user`.
    pub contact_user: Option<String>,
    /// Resolved `outbound_auth`.
    pub auth: Option<Credentials>,
    /// `retry_interval`.
    pub retry_interval: Duration,
    /// `forbidden_retry_interval`.
    pub forbidden_retry_interval: Duration,
    /// `expiration`.
    pub expiration: Duration,
    /// `max_retries`.
    pub max_retries: u32,
    /// `outbound_proxy`.
    pub outbound_proxy: Option<String>,
    /// `line`.
    pub line: bool,
}

/// One endpoint with everything it refers to resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// The endpoint's name (what `Dial(PJSIP/number@name)` uses).
    pub name: String,
    /// Dialplan context for inbound calls.
    pub context: String,
    /// Codecs in preference order.
    pub codecs: Vec<Codec>,
    /// Allowed codec names we ignore (log them).
    pub ignored_codecs: Vec<String>,
    /// Credentials for challenges to our requests (`outbound_auth`).
    pub outbound_auth: Option<Credentials>,
    /// Credentials the peer must present (`auth`).
    pub inbound_auth: Option<Credentials>,
    /// Contact URIs of all its aors, in `aors` order.
    pub contacts: Vec<String>,
    /// The shortest non-zero `qualify_frequency` of its aors.
    pub qualify_frequency: Option<Duration>,
    /// The endpoint's transport, else its registration's, else the only transport
    /// defined; `None` if that leaves a choice (the driver uses its default).
    pub transport: Option<TrunkTransport>,
    /// `from_user`.
    pub from_user: Option<String>,
    /// `from_domain`.
    pub from_domain: Option<String>,
    /// IP/CIDR matches of every identify naming this endpoint.
    pub identify: Vec<IpNet>,
    /// Host-name matches of every identify naming this endpoint.
    pub identify_hosts: Vec<String>,
    /// The registration belonging to this endpoint (module docs give the rule).
    pub registration: Option<TrunkRegistration>,
    /// `rtp_symmetric`.
    pub rtp_symmetric: bool,
    /// `force_rport`.
    pub force_rport: bool,
    /// `rewrite_contact`.
    pub rewrite_contact: bool,
    /// `timers`.
    pub timers: Timers,
}

/// A checked `pjsip.conf`: the typed sections and the resolved trunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PjsipConfig {
    /// `type=transport` sections.
    pub transports: Vec<Transport>,
    /// `type=registration` sections.
    pub registrations: Vec<Registration>,
    /// `type=auth` sections.
    pub auths: Vec<Auth>,
    /// `type=aor` sections.
    pub aors: Vec<Aor>,
    /// `type=endpoint` sections.
    pub endpoints: Vec<Endpoint>,
    /// `type=identify` sections.
    pub identifies: Vec<Identify>,
    /// `user_agent` from a `type=global` section.
    pub user_agent: Option<String>,
    trunks: Vec<Trunk>,
}

impl PjsipConfig {
    /// Parses and checks `text` (includes refused); the fuzz entry point.
    pub fn parse_str(text: &str, file_label: &str) -> Result<Self, ConfError> {
        Self::from_conf(&asterisk::parse_str(text, file_label)?)
    }

    /// Reads, parses and checks the file at `path` and its includes.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&asterisk::load(path)?)
    }

    /// Checks an already parsed file.
    pub fn from_conf(file: &ConfFile) -> Result<Self, ConfError> {
        let mut builder = Builder::default();
        for section in file.objects() {
            builder.section(section)?;
        }
        builder.finish()
    }

    /// One resolved trunk per endpoint, in file order.
    pub fn trunks(&self) -> &[Trunk] {
        &self.trunks
    }

    /// The trunk for endpoint `name`.
    pub fn trunk(&self, name: &str) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.name == name)
    }
}

/// A reference checked once every section is known.
struct Reference {
    location: Location,
    from_kind: &'static str,
    from: String,
    to_kind: &'static str,
    to: String,
}

#[derive(Default)]
struct Builder {
    transports: Vec<Transport>,
    registrations: Vec<Registration>,
    auths: Vec<Auth>,
    aors: Vec<Aor>,
    endpoints: Vec<Endpoint>,
    identifies: Vec<Identify>,
    user_agent: Option<String>,
    /// (kind, name) → header location, for duplicate detection.
    seen: HashMap<(&'static str, String), Location>,
    references: Vec<Reference>,
}

/// The section being read, for error messages.
struct Object<'a> {
    section: &'a Section,
    kind: &'static str,
}

impl Object<'_> {
    fn unknown(&self, entry: &Entry) -> ConfError {
        ConfError::new(
            entry.location.clone(),
            ConfErrorKind::UnknownOption {
                key: entry.key.clone(),
                kind: self.kind.to_owned(),
                section: self.section.name.clone(),
            },
        )
    }

    fn invalid(&self, entry: &Entry, reason: &'static str) -> ConfError {
        ConfError::new(
            entry.location.clone(),
            ConfErrorKind::InvalidValue {
                key: entry.key.clone(),
                value: entry.value.clone(),
                kind: self.kind.to_owned(),
                section: self.section.name.clone(),
                reason,
            },
        )
    }

    fn missing(&self, key: &'static str) -> ConfError {
        ConfError::new(
            self.section.location.clone(),
            ConfErrorKind::MissingOption {
                key,
                kind: self.kind.to_owned(),
                section: self.section.name.clone(),
            },
        )
    }

    fn bool(&self, entry: &Entry) -> Result<bool, ConfError> {
        // ast_true() / ast_false()
        match entry.value.to_ascii_lowercase().as_str() {
            "yes" | "true" | "y" | "t" | "1" | "on" => Ok(true),
            "no" | "false" | "n" | "f" | "0" | "off" => Ok(false),
            _ => Err(self.invalid(entry, "expected yes or no")),
        }
    }

    fn u32(&self, entry: &Entry) -> Result<u32, ConfError> {
        entry
            .value
            .parse()
            .map_err(|_| self.invalid(entry, "expected a whole number"))
    }

    fn seconds(&self, entry: &Entry) -> Result<Duration, ConfError> {
        self.u32(entry).map(|s| Duration::from_secs(u64::from(s)))
    }

    fn text(&self, entry: &Entry) -> Result<Option<String>, ConfError> {
        Ok(Some(entry.value.clone()).filter(|v| !v.is_empty()))
    }

    fn sip_uri(&self, entry: &Entry) -> Result<String, ConfError> {
        check_sip_uri(&entry.value)
            .map(|()| entry.value.clone())
            .map_err(|reason| self.invalid(entry, reason))
    }

    /// A single name (Asterisk allows lists for auths; we support one).
    fn single(&self, entry: &Entry) -> Result<Option<String>, ConfError> {
        let names = list(&entry.value);
        match names.len() {
            0 => Ok(None),
            1 => Ok(names.into_iter().next()),
            _ => Err(self.invalid(entry, "only one name is supported")),
        }
    }

    fn ignored(entry: &Entry, list: &[&str]) -> bool {
        entry.key == "type" || list.contains(&entry.key.as_str())
    }
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

fn check_sip_uri(value: &str) -> Result<(), &'static str> {
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("sips:") {
        return Err("sips: needs TLS, which is not supported (udp and tcp only)");
    }
    let Some(rest) = lower.strip_prefix("sip:") else {
        return Err("expected a sip: URI");
    };
    let host = rest.rsplit('@').next().unwrap_or(rest);
    if host.is_empty() || host.starts_with(';') || host.starts_with(':') {
        return Err("the URI has no host");
    }
    Ok(())
}

fn parse_bind(value: &str) -> Option<SocketAddr> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 5060))
}

fn is_hostname(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 253
        && value.chars().any(|c| c.is_ascii_alphabetic())
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

impl Builder {
    fn section(&mut self, section: &Section) -> Result<(), ConfError> {
        let Some(type_entry) = section.get("type") else {
            return Err(ConfError::new(
                section.location.clone(),
                ConfErrorKind::MissingType {
                    section: section.name.clone(),
                },
            ));
        };
        let kind: &'static str = match type_entry.value.as_str() {
            "transport" => "transport",
            "registration" => "registration",
            "auth" => "auth",
            "aor" => "aor",
            "endpoint" => "endpoint",
            "identify" => "identify",
            "global" => "global",
            "system" => "system",
            other => {
                return Err(ConfError::new(
                    type_entry.location.clone(),
                    ConfErrorKind::UnknownType {
                        type_name: other.to_owned(),
                        section: section.name.clone(),
                    },
                ))
            }
        };
        if let Some(first) = self
            .seen
            .insert((kind, section.name.clone()), section.location.clone())
        {
            return Err(ConfError::new(
                section.location.clone(),
                ConfErrorKind::Duplicate {
                    kind: kind.to_owned(),
                    name: section.name.clone(),
                    first,
                },
            ));
        }
        let object = Object { section, kind };
        match kind {
            "transport" => self.transport(&object),
            "registration" => self.registration(&object),
            "auth" => self.auth(&object),
            "aor" => self.aor(&object),
            "endpoint" => self.endpoint(&object),
            "identify" => self.identify(&object),
            "global" => {
                if let Some(entry) = section.get("user_agent") {
                    self.user_agent = object.text(entry)?;
                }
                Ok(())
            }
            _ => Ok(()), // system: thread pools and timers, nothing for us
        }
    }

    fn refer(&mut self, object: &Object<'_>, entry: &Entry, to_kind: &'static str, to: &str) {
        self.references.push(Reference {
            location: entry.location.clone(),
            from_kind: object.kind,
            from: object.section.name.clone(),
            to_kind,
            to: to.to_owned(),
        });
    }

    fn transport(&mut self, o: &Object<'_>) -> Result<(), ConfError> {
        let mut t = Transport {
            name: o.section.name.clone(),
            protocol: Protocol::Udp,
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5060),
            external_media_address: None,
            external_signaling_address: None,
            external_signaling_port: None,
            local_net: Vec::new(),
            location: o.section.location.clone(),
        };
        for e in &o.section.entries {
            match e.key.as_str() {
                "protocol" => {
                    t.protocol = match e.value.to_ascii_lowercase().as_str() {
                        "udp" => Protocol::Udp,
                        "tcp" => Protocol::Tcp,
                        _ => return Err(o.invalid(e, "only udp and tcp are supported")),
                    }
                }
                "bind" => {
                    t.bind = parse_bind(&e.value)
                        .ok_or_else(|| o.invalid(e, "expected ip or ip:port"))?;
                }
                "external_media_address" => t.external_media_address = o.text(e)?,
                "external_signaling_address" => t.external_signaling_address = o.text(e)?,
                "external_signaling_port" => {
                    t.external_signaling_port = Some(
                        e.value
                            .parse()
                            .map_err(|_| o.invalid(e, "expected a port number"))?,
                    );
                }
                "local_net" => {
                    for item in list(&e.value) {
                        let net = item
                            .parse::<IpNet>()
                            .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                            .map_err(|_| o.invalid(e, "expected an IP network (CIDR)"))?;
                        t.local_net.push(net.trunc());
                    }
                }
                _ if Object::ignored(e, TRANSPORT_IGNORED) => {}
                _ => return Err(o.unknown(e)),
            }
        }
        self.transports.push(t);
        Ok(())
    }

    fn registration(&mut self, o: &Object<'_>) -> Result<(), ConfError> {
        let mut r = Registration {
            name: o.section.name.clone(),
            server_uri: String::new(),
            client_uri: String::new(),
            contact_user: None,
            outbound_auth: None,
            transport: None,
            retry_interval: Duration::from_secs(60),
            forbidden_retry_interval: Duration::ZERO,
            expiration: Duration::from_secs(3600),
            max_retries: 10,
            outbound_proxy: None,
            line: false,
            endpoint: None,
            location: o.section.location.clone(),
        };
        for e in &o.section.entries {
            match e.key.as_str() {
                "server_uri" => r.server_uri = o.sip_uri(e)?,
                "client_uri" => r.client_uri = o.sip_uri(e)?,
                "contact_user" => r.contact_user = o.text(e)?,
                "outbound_auth" => {
                    r.outbound_auth = o.single(e)?;
                    if let Some(name) = &r.outbound_auth {
                        self.refer(o, e, "auth", name);
                    }
                }
                "transport" => {
                    r.transport = o.text(e)?;
                    if let Some(name) = &r.transport {
                        self.refer(o, e, "transport", name);
                    }
                }
                "retry_interval" => r.retry_interval = o.seconds(e)?,
                "forbidden_retry_interval" => r.forbidden_retry_interval = o.seconds(e)?,
                "expiration" => {
                    r.expiration = o.seconds(e)?;
                    if r.expiration.is_zero() {
                        return Err(o.invalid(e, "must be at least 1 second"));
                    }
                }
                "max_retries" => r.max_retries = o.u32(e)?,
                "outbound_proxy" => {
                    r.outbound_proxy = if e.value.is_empty() {
                        None
                    } else {
                        Some(o.sip_uri(e)?)
                    };
                }
                "line" => r.line = o.bool(e)?,
                "endpoint" => {
                    r.endpoint = o.text(e)?;
                    if let Some(name) = &r.endpoint {
                        self.refer(o, e, "endpoint", name);
                    }
                }
                _ if Object::ignored(e, REGISTRATION_IGNORED) => {}
                _ => return Err(o.unknown(e)),
            }
        }
        if r.server_uri.is_empty() {
            return Err(o.missing("server_uri"));
        }
        if r.client_uri.is_empty() {
            return Err(o.missing("client_uri"));
        }
        self.registrations.push(r);
        Ok(())
    }

    fn auth(&mut self, o: &Object<'_>) -> Result<(), ConfError> {
        let mut a = Auth {
            name: o.section.name.clone(),
            auth_type: AuthType::Userpass,
            username: String::new(),
            password: String::new(),
            realm: None,
            location: o.section.location.clone(),
        };
        let mut has_password = false;
        for e in &o.section.entries {
            match e.key.as_str() {
                "auth_type" => {
                    a.auth_type = match e.value.to_ascii_lowercase().as_str() {
                        "userpass" => AuthType::Userpass,
                        "digest" => AuthType::Digest,
                        _ => return Err(o.invalid(e, "only userpass and digest are supported")),
                    }
                }
                "username" => a.username = e.value.clone(),
                "password" => {
                    a.password = e.value.clone();
                    has_password = true;
                }
                "realm" => a.realm = o.text(e)?,
                _ if Object::ignored(e, AUTH_IGNORED) => {}
                _ => return Err(o.unknown(e)),
            }
        }
        if a.username.is_empty() {
            return Err(o.missing("username"));
        }
        if !has_password {
            return Err(o.missing("password"));
        }
        self.auths.push(a);
        Ok(())
    }

    fn aor(&mut self, o: &Object<'_>) -> Result<(), ConfError> {
        let mut a = Aor {
            name: o.section.name.clone(),
            contacts: Vec::new(),
            qualify_frequency: None,
            location: o.section.location.clone(),
        };
        for e in &o.section.entries {
            match e.key.as_str() {
                "contact" => {
                    for uri in list(&e.value) {
                        check_sip_uri(&uri).map_err(|reason| o.invalid(e, reason))?;
                        a.contacts.push(uri);
                    }
                }
                "qualify_frequency" => {
                    a.qualify_frequency = Some(o.seconds(e)?).filter(|d| !d.is_zero());
                }
                _ if Object::ignored(e, AOR_IGNORED) => {}
                _ => return Err(o.unknown(e)),
            }
        }
        self.aors.push(a);
        Ok(())
    }

    fn endpoint(&mut self, o: &Object<'_>) -> Result<(), ConfError> {
        let mut p = Endpoint {
            name: o.section.name.clone(),
            context: "default".to_owned(),
            codecs: Codec::ALL.to_vec(),
            ignored_codecs: Vec::new(),
            auth: None,
            outbound_auth: None,
            aors: Vec::new(),
            transport: None,
            from_user: None,
            from_domain: None,
            rtp_symmetric: false,
            direct_media: true,
            force_rport: true,
            rewrite_contact: false,
            timers: Timers::Yes,
            timers_min_se: 90,
            timers_sess_expires: 1800,
            location: o.section.location.clone(),
        };
        let mut codecs_touched = false;
        let mut last_codec_entry = None;
        for e in &o.section.entries {
            match e.key.as_str() {
                "context" => {
                    if e.value.is_empty() {
                        return Err(o.invalid(e, "empty context"));
                    }
                    p.context = e.value.clone();
                }
                "allow" | "disallow" => {
                    if !codecs_touched {
                        p.codecs.clear();
                        codecs_touched = true;
                    }
                    last_codec_entry = Some(e);
                    apply_codecs(o, e, &mut p)?;
                }
                "auth" => {
                    p.auth = o.single(e)?;
                    if let Some(name) = &p.auth {
                        self.refer(o, e, "auth", name);
                    }
                }
                "outbound_auth" => {
                    p.outbound_auth = o.single(e)?;
                    if let Some(name) = &p.outbound_auth {
                        self.refer(o, e, "auth", name);
                    }
                }
                "aors" => {
                    p.aors = list(&e.value);
                    for name in &p.aors {
                        self.refer(o, e, "aor", name);
                    }
                }
                "transport" => {
                    p.transport = o.text(e)?;
                    if let Some(name) = &p.transport {
                        self.refer(o, e, "transport", name);
                    }
                }
                "from_user" => p.from_user = o.text(e)?,
                "from_domain" => p.from_domain = o.text(e)?,
                "dtmf_mode" => {
                    if !e.value.eq_ignore_ascii_case("rfc4733") {
                        return Err(o.invalid(e, "only rfc4733 is supported"));
                    }
                }
                "media_encryption" => {
                    if !e.value.eq_ignore_ascii_case("no") {
                        return Err(o.invalid(e, "media encryption is not supported"));
                    }
                }
                "rtp_symmetric" => p.rtp_symmetric = o.bool(e)?,
                "direct_media" => p.direct_media = o.bool(e)?,
                "force_rport" => p.force_rport = o.bool(e)?,
                "rewrite_contact" => p.rewrite_contact = o.bool(e)?,
                "timers" => {
                    p.timers = match e.value.to_ascii_lowercase().as_str() {
                        "no" | "false" => Timers::No,
                        "yes" | "true" => Timers::Yes,
                        "required" => Timers::Required,
                        "always" | "forced" => Timers::Always,
                        _ => return Err(o.invalid(e, "expected no, yes, required or always")),
                    }
                }
                "timers_min_se" => p.timers_min_se = o.u32(e)?,
                "timers_sess_expires" => p.timers_sess_expires = o.u32(e)?,
                _ if Object::ignored(e, ENDPOINT_IGNORED) => {}
                _ => return Err(o.unknown(e)),
            }
        }
        if p.codecs.is_empty() {
            return Err(match last_codec_entry {
                Some(e) => o.invalid(e, "no supported codec (ulaw, alaw) is allowed"),
                None => o.missing("allow"),
            });
        }
        self.endpoints.push(p);
        Ok(())
    }

    fn identify(&mut self, o: &Object<'_>) -> Result<(), ConfError> {
        let mut i = Identify {
            name: o.section.name.clone(),
            endpoint: String::new(),
            matches: Vec::new(),
            hostnames: Vec::new(),
            location: o.section.location.clone(),
        };
        let mut endpoint_entry = None;
        for e in &o.section.entries {
            match e.key.as_str() {
                "endpoint" => {
                    i.endpoint = e.value.clone();
                    endpoint_entry = Some(e);
                }
                "match" => {
                    for item in list(&e.value) {
                        if let Ok(net) = item.parse::<IpNet>() {
                            i.matches.push(net.trunc());
                        } else if let Ok(ip) = item.parse::<IpAddr>() {
                            i.matches.push(IpNet::from(ip));
                        } else if is_hostname(&item) {
                            i.hostnames.push(item);
                        } else {
                            return Err(o.invalid(e, "expected an IP address, CIDR or host name"));
                        }
                    }
                }
                _ if Object::ignored(e, IDENTIFY_IGNORED) => {}
                _ => return Err(o.unknown(e)),
            }
        }
        match endpoint_entry {
            Some(e) if !i.endpoint.is_empty() => {
                let name = i.endpoint.clone();
                self.refer(o, e, "endpoint", &name);
            }
            _ => return Err(o.missing("endpoint")),
        }
        if i.matches.is_empty() && i.hostnames.is_empty() {
            return Err(o.missing("match"));
        }
        self.identifies.push(i);
        Ok(())
    }

    fn finish(self) -> Result<PjsipConfig, ConfError> {
        for r in &self.references {
            if !self.seen.contains_key(&(r.to_kind, r.to.clone())) {
                return Err(ConfError::new(
                    r.location.clone(),
                    ConfErrorKind::UnknownReference {
                        from_kind: r.from_kind,
                        from: r.from.clone(),
                        to_kind: r.to_kind,
                        to: r.to.clone(),
                    },
                ));
            }
        }
        let mut config = PjsipConfig {
            transports: self.transports,
            registrations: self.registrations,
            auths: self.auths,
            aors: self.aors,
            endpoints: self.endpoints,
            identifies: self.identifies,
            user_agent: self.user_agent,
            trunks: Vec::new(),
        };
        config.trunks = resolve(&config)?;
        Ok(config)
    }
}

fn apply_codecs(o: &Object<'_>, e: &Entry, p: &mut Endpoint) -> Result<(), ConfError> {
    let allow = e.key == "allow";
    for name in list(&e.value) {
        let lower = name.to_ascii_lowercase();
        let codecs: &[Codec] = match lower.as_str() {
            "all" => &Codec::ALL,
            "ulaw" => &[Codec::Ulaw],
            "alaw" => &[Codec::Alaw],
            other if OTHER_CODECS.contains(&other) => {
                if allow {
                    if !p.ignored_codecs.contains(&lower) {
                        p.ignored_codecs.push(lower);
                    }
                } else {
                    p.ignored_codecs.retain(|c| *c != lower);
                }
                continue;
            }
            _ => return Err(o.invalid(e, "unknown codec")),
        };
        if lower == "all" && !allow {
            p.ignored_codecs.clear();
        }
        for codec in codecs {
            if allow {
                if !p.codecs.contains(codec) {
                    p.codecs.push(*codec);
                }
            } else {
                p.codecs.retain(|c| c != codec);
            }
        }
    }
    Ok(())
}

fn resolve(config: &PjsipConfig) -> Result<Vec<Trunk>, ConfError> {
    let credentials = |name: Option<&String>| {
        let name = name?;
        config
            .auths
            .iter()
            .find(|a| &a.name == name)
            .map(|a| Credentials {
                name: a.name.clone(),
                username: a.username.clone(),
                password: a.password.clone(),
                realm: a.realm.clone(),
            })
    };
    let transport = |name: Option<&String>| {
        let found = match name {
            Some(name) => config.transports.iter().find(|t| &t.name == name),
            None if config.transports.len() == 1 => config.transports.first(),
            None => None,
        };
        found.map(|t| TrunkTransport {
            name: t.name.clone(),
            protocol: t.protocol,
            bind: t.bind,
        })
    };

    // Registration → endpoint index (module docs give the rule).
    let mut owner: Vec<Option<&Registration>> = vec![None; config.endpoints.len()];
    for r in &config.registrations {
        let index = if let Some(name) = &r.endpoint {
            config.endpoints.iter().position(|p| &p.name == name)
        } else if let Some(i) = config.endpoints.iter().position(|p| p.name == r.name) {
            Some(i)
        } else {
            r.outbound_auth.as_ref().and_then(|auth| {
                config
                    .endpoints
                    .iter()
                    .position(|p| p.outbound_auth.as_ref() == Some(auth))
            })
        };
        let Some(slot) = index.and_then(|i| owner.get_mut(i)) else {
            continue;
        };
        if let Some(first) = slot.replace(r) {
            let endpoint = index
                .and_then(|i| config.endpoints.get(i))
                .map_or("", |p| p.name.as_str());
            return Err(ConfError::new(
                r.location.clone(),
                ConfErrorKind::Invalid {
                    message: format!(
                        "registrations '{}' and '{}' both belong to endpoint '{endpoint}'; \
                         set 'endpoint=' on each registration to say which",
                        first.name, r.name
                    ),
                },
            ));
        }
    }

    let mut trunks = Vec::with_capacity(config.endpoints.len());
    for (p, registration) in config.endpoints.iter().zip(owner) {
        let aors: Vec<&Aor> = p
            .aors
            .iter()
            .filter_map(|name| config.aors.iter().find(|a| &a.name == name))
            .collect();
        let identifies = config.identifies.iter().filter(|i| i.endpoint == p.name);
        let (mut identify, mut identify_hosts) = (Vec::new(), Vec::new());
        for i in identifies {
            identify.extend(i.matches.iter().copied());
            identify_hosts.extend(i.hostnames.iter().cloned());
        }
        trunks.push(Trunk {
            name: p.name.clone(),
            context: p.context.clone(),
            codecs: p.codecs.clone(),
            ignored_codecs: p.ignored_codecs.clone(),
            outbound_auth: credentials(p.outbound_auth.as_ref()),
            inbound_auth: credentials(p.auth.as_ref()),
            contacts: aors
                .iter()
                .flat_map(|a| a.contacts.iter().cloned())
                .collect(),
            qualify_frequency: aors.iter().filter_map(|a| a.qualify_frequency).min(),
            transport: transport(
                p.transport
                    .as_ref()
                    .or_else(|| registration.and_then(|r| r.transport.as_ref())),
            ),
            from_user: p.from_user.clone(),
            from_domain: p.from_domain.clone(),
            identify,
            identify_hosts,
            registration: registration.map(|r| TrunkRegistration {
                name: r.name.clone(),
                server_uri: r.server_uri.clone(),
                client_uri: r.client_uri.clone(),
                contact_user: r.contact_user.clone(),
                auth: credentials(r.outbound_auth.as_ref()),
                retry_interval: r.retry_interval,
                forbidden_retry_interval: r.forbidden_retry_interval,
                expiration: r.expiration,
                max_retries: r.max_retries,
                outbound_proxy: r.outbound_proxy.clone(),
                line: r.line,
            }),
            rtp_symmetric: p.rtp_symmetric,
            force_rport: p.force_rport,
            rewrite_contact: p.rewrite_contact,
            timers: p.timers,
        });
    }
    Ok(trunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/allerta/node/pjsip.conf";

    /// An inbound trunk (the regional alert gateway, identified by address, no
    /// registration) and an outbound trunk to a provider that needs digest registration.
    const EXAMPLE: &str = r#"
[global]
type = global
user_agent = Allerta
endpoint_identifier_order = ip,username

[transport-udp]
type = transport
protocol = udp
bind = 0.0.0.0:5060
external_media_address = 198.51.100.10
external_signaling_address = 198.51.100.10
local_net = 10.0.0.0/8
tos = ef

; --- templates shared by both trunks ---
[trunk-defaults](!)
type = endpoint
transport = transport-udp
disallow = all
allow = alaw,ulaw,g729
dtmf_mode = rfc4733
rtp_symmetric = yes
force_rport = yes
rewrite_contact = yes
direct_media = no
language = it

; --- inbound: calls from the regional gateway ---
[gateway-in](trunk-defaults)
context = from-gateway
aors = gateway-in

[gateway-in]
type = aor
contact = sip:10.20.0.5:5060
qualify_frequency = 30

[gateway-in]
type = identify
endpoint = gateway-in
match = 10.20.0.5
match = 10.20.1.0/24, gw.protezione.example

; --- outbound: provider with digest registration ---
[trunk-out-auth]
type = auth
auth_type = userpass
username = 0612345678
password = s3cret\;x
realm = sip.provider.example

[trunk-out](trunk-defaults)
context = from-provider
outbound_auth = trunk-out-auth
aors = trunk-out
from_user = 0612345678
from_domain = sip.provider.example
timers = no

[trunk-out]
type = aor
contact = sip:sip.provider.example
qualify_frequency = 60

[trunk-out-reg]
type = registration
transport = transport-udp
outbound_auth = trunk-out-auth
server_uri = sip:sip.provider.example
client_uri = sip:0612345678@sip.provider.example
contact_user = 0612345678
retry_interval = 30
forbidden_retry_interval = 600
expiration = 1800
auth_rejection_permanent = no

[trunk-out-ident]
type = identify
endpoint = trunk-out
match = sip.provider.example
"#;

    fn error(text: &str) -> String {
        match PjsipConfig::parse_str(text, FILE) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn realistic_inbound_and_outbound_trunks_resolve() {
        let config = PjsipConfig::parse_str(EXAMPLE, FILE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.user_agent.as_deref(), Some("Allerta"));
        assert_eq!(config.trunks().len(), 2);

        let udp = TrunkTransport {
            name: "transport-udp".into(),
            protocol: Protocol::Udp,
            bind: "0.0.0.0:5060".parse().expect("literal"),
        };
        let inbound = config.trunk("gateway-in").expect("inbound trunk");
        assert_eq!(inbound.context, "from-gateway");
        assert_eq!(inbound.codecs, [Codec::Alaw, Codec::Ulaw]);
        assert_eq!(inbound.ignored_codecs, ["g729"]);
        assert_eq!(inbound.contacts, ["sip:10.20.0.5:5060"]);
        assert_eq!(inbound.qualify_frequency, Some(Duration::from_secs(30)));
        assert_eq!(
            inbound.identify,
            [
                "10.20.0.5/32".parse::<IpNet>().expect("literal"),
                "10.20.1.0/24".parse().expect("literal")
            ]
        );
        assert_eq!(inbound.identify_hosts, ["gw.protezione.example"]);
        assert_eq!(inbound.transport.as_ref(), Some(&udp));
        assert!(inbound.registration.is_none());
        assert!(inbound.outbound_auth.is_none());
        assert!(inbound.rtp_symmetric && inbound.rewrite_contact);

        let outbound = config.trunk("trunk-out").expect("outbound trunk");
        assert_eq!(outbound.context, "from-provider");
        assert_eq!(outbound.from_user.as_deref(), Some("0612345678"));
        assert_eq!(
            outbound.from_domain.as_deref(),
            Some("sip.provider.example")
        );
        assert_eq!(outbound.timers, Timers::No);
        let creds = outbound.outbound_auth.as_ref().expect("outbound auth");
        assert_eq!(creds.username, "0612345678");
        assert_eq!(creds.password, "s3cret;x");
        assert_eq!(creds.realm.as_deref(), Some("sip.provider.example"));
        let reg = outbound
            .registration
            .as_ref()
            .expect("registration by outbound_auth");
        assert_eq!(reg.name, "trunk-out-reg");
        assert_eq!(reg.server_uri, "sip:sip.provider.example");
        assert_eq!(reg.client_uri, "sip:0612345678@sip.provider.example");
        assert_eq!(reg.retry_interval, Duration::from_secs(30));
        assert_eq!(reg.forbidden_retry_interval, Duration::from_secs(600));
        assert_eq!(reg.expiration, Duration::from_secs(1800));
        assert_eq!(reg.max_retries, 10);
        assert_eq!(reg.auth.as_ref(), Some(creds));
        assert_eq!(outbound.identify_hosts, ["sip.provider.example"]);
        assert_eq!(outbound.transport.as_ref(), Some(&udp));
    }

    #[test]
    fn defaults_apply_when_keys_are_absent() {
        let config = PjsipConfig::parse_str(
            "[r]\ntype=registration\nserver_uri=sip:a.example\nclient_uri=sip:u@a.example\n\
             [r]\ntype=endpoint\n",
            FILE,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let r = &config.registrations[0];
        assert_eq!(r.retry_interval, Duration::from_secs(60));
        assert_eq!(r.expiration, Duration::from_secs(3600));
        assert_eq!(r.max_retries, 10);
        let trunk = &config.trunks()[0];
        assert_eq!(trunk.codecs, [Codec::Ulaw, Codec::Alaw]);
        assert_eq!(trunk.context, "default");
        assert_eq!(trunk.qualify_frequency, None);
        assert_eq!(
            trunk.registration.as_ref().map(|r| &r.name[..]),
            Some("r"),
            "same-name rule"
        );
    }

    #[test]
    fn explicit_registration_endpoint_wins_over_same_name() {
        let config = PjsipConfig::parse_str(
            "[a]\ntype=endpoint\n[b]\ntype=endpoint\n\
             [a]\ntype=registration\nserver_uri=sip:x\nclient_uri=sip:u@x\nendpoint=b\n",
            FILE,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(config.trunk("a").is_some_and(|t| t.registration.is_none()));
        assert!(config.trunk("b").is_some_and(|t| t.registration.is_some()));
    }

    #[test]
    fn two_registrations_for_one_endpoint_are_an_error() {
        let e = error(
            "[a]\ntype=endpoint\n\
             [r1]\ntype=registration\nserver_uri=sip:x\nclient_uri=sip:u@x\nendpoint=a\n\
             [r2]\ntype=registration\nserver_uri=sip:y\nclient_uri=sip:u@y\nendpoint=a\n",
        );
        assert!(e.contains("both belong to endpoint 'a'"), "{e}");
    }

    #[test]
    fn unknown_option_names_file_line_kind_and_section() {
        let e = error(
            "[trunk-out]\ntype=registration\nserver_uri=sip:x\nclient_uri=sip:u@x\n\
             ; typo below\n\n\n\n\n\n\nsever_uri=sip:y\n",
        );
        assert_eq!(
            e,
            "/etc/allerta/node/pjsip.conf:12: unknown option 'sever_uri' in registration 'trunk-out'"
        );
    }

    #[test]
    fn unknown_type_is_an_error() {
        let e = error("[x]\ntype=endpiont\n");
        assert_eq!(
            e,
            format!("{FILE}:2: unknown type 'endpiont' in section 'x'")
        );
    }

    #[test]
    fn section_without_type_is_an_error() {
        assert_eq!(
            error("\n[x]\ncontext=a\n"),
            format!("{FILE}:2: section 'x' has no 'type'")
        );
    }

    #[test]
    fn missing_references_are_errors_at_the_referring_line() {
        let cases = [
            ("[e]\ntype=endpoint\noutbound_auth=nope\n", "endpoint 'e' refers to unknown auth 'nope'"),
            ("[e]\ntype=endpoint\nauth=nope\n", "endpoint 'e' refers to unknown auth 'nope'"),
            ("[e]\ntype=endpoint\naors=e,nope\n[e]\ntype=aor\n", "endpoint 'e' refers to unknown aor 'nope'"),
            ("[e]\ntype=endpoint\ntransport=nope\n", "endpoint 'e' refers to unknown transport 'nope'"),
            ("[i]\ntype=identify\nendpoint=nope\nmatch=1.2.3.4\n", "identify 'i' refers to unknown endpoint 'nope'"),
            (
                "[r]\ntype=registration\nserver_uri=sip:x\nclient_uri=sip:u@x\noutbound_auth=nope\n",
                "registration 'r' refers to unknown auth 'nope'",
            ),
            (
                "[r]\ntype=registration\nserver_uri=sip:x\nclient_uri=sip:u@x\ntransport=nope\n",
                "registration 'r' refers to unknown transport 'nope'",
            ),
            (
                "[r]\ntype=registration\nserver_uri=sip:x\nclient_uri=sip:u@x\nendpoint=nope\n",
                "registration 'r' refers to unknown endpoint 'nope'",
            ),
        ];
        for (text, message) in cases {
            let e = error(text);
            assert!(e.starts_with(FILE) && e.ends_with(message), "{e}");
            assert!(!e.contains(":1:") && !e.contains(":2:"), "{e}: wrong line");
        }
    }

    #[test]
    fn missing_required_options_are_errors_at_the_header() {
        let cases = [
            (
                "[r]\ntype=registration\nclient_uri=sip:u@x\n",
                "registration 'r' is missing 'server_uri'",
            ),
            (
                "[r]\ntype=registration\nserver_uri=sip:x\n",
                "registration 'r' is missing 'client_uri'",
            ),
            (
                "[a]\ntype=auth\npassword=x\n",
                "auth 'a' is missing 'username'",
            ),
            (
                "[a]\ntype=auth\nusername=x\n",
                "auth 'a' is missing 'password'",
            ),
            (
                "[i]\ntype=identify\nmatch=1.2.3.4\n",
                "identify 'i' is missing 'endpoint'",
            ),
            (
                "[e]\ntype=endpoint\n[i]\ntype=identify\nendpoint=e\n",
                "identify 'i' is missing 'match'",
            ),
        ];
        for (text, message) in cases {
            assert!(error(text).ends_with(message), "{}", error(text));
        }
    }

    #[test]
    fn invalid_values_are_errors() {
        let cases = [
            "[t]\ntype=transport\nprotocol=tls\n",
            "[t]\ntype=transport\nbind=nowhere\n",
            "[t]\ntype=transport\nlocal_net=10.0.0.0/99\n",
            "[r]\ntype=registration\nserver_uri=http://x\nclient_uri=sip:u@x\n",
            "[r]\ntype=registration\nserver_uri=sips:x\nclient_uri=sip:u@x\n",
            "[r]\ntype=registration\nserver_uri=sip:x\nclient_uri=sip:u@x\nretry_interval=soon\n",
            "[r]\ntype=registration\nserver_uri=sip:x\nclient_uri=sip:u@x\nexpiration=0\n",
            "[a]\ntype=auth\nauth_type=md5\nusername=u\npassword=p\n",
            "[e]\ntype=endpoint\ndtmf_mode=inband\n",
            "[e]\ntype=endpoint\nallow=ulw\n",
            "[e]\ntype=endpoint\nrtp_symmetric=maybe\n",
            "[e]\ntype=endpoint\ntimers=sometimes\n",
            "[e]\ntype=endpoint\nmedia_encryption=sdes\n",
            "[e]\ntype=aor\ncontact=10.0.0.1\n",
            "[e]\ntype=endpoint\n[i]\ntype=identify\nendpoint=e\nmatch=1.2.3.4.5\n",
        ];
        for text in cases {
            let e = error(text);
            assert!(e.contains("invalid value"), "{text}: {e}");
        }
    }

    #[test]
    fn endpoint_with_only_unsupported_codecs_is_an_error() {
        let e = error("[e]\ntype=endpoint\ndisallow=all\nallow=g729,gsm\n");
        assert!(
            e.ends_with("no supported codec (ulaw, alaw) is allowed"),
            "{e}"
        );
        assert!(e.starts_with(&format!("{FILE}:4:")), "{e}");
    }

    #[test]
    fn codec_lines_apply_in_order() {
        let config = PjsipConfig::parse_str(
            "[e]\ntype=endpoint\nallow=all\ndisallow=ulaw\nallow=opus,ulaw\n",
            FILE,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.endpoints[0].codecs, [Codec::Alaw, Codec::Ulaw]);
        assert_eq!(config.endpoints[0].ignored_codecs, ["opus"]);
    }

    #[test]
    fn duplicate_objects_of_one_type_are_errors_but_one_name_across_types_is_fine() {
        let e = error("[e]\ntype=endpoint\n[e]\ntype=endpoint\n");
        assert_eq!(
            e,
            format!("{FILE}:3: duplicate endpoint 'e' (first defined at {FILE}:1)")
        );
        assert!(
            PjsipConfig::parse_str("[e]\ntype=endpoint\naors=e\n[e]\ntype=aor\n", FILE).is_ok()
        );
    }

    #[test]
    fn accepted_but_ignored_keys_load() {
        let mut text = String::from("[e]\ntype=endpoint\n");
        for key in ENDPOINT_IGNORED {
            text.push_str(&format!("{key}=x\n"));
        }
        text.push_str("[t]\ntype=transport\n");
        for key in TRANSPORT_IGNORED {
            text.push_str(&format!("{key}=x\n"));
        }
        text.push_str("[s]\ntype=system\ntimer_t1=500\n");
        assert!(PjsipConfig::parse_str(&text, FILE).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_pjsip_text_never_panics(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "[e]\n", "[a](!)\n", "[b](a)\n", "[e](+)\n", "type=", "endpoint", "aor", "auth",
                "identify", "registration", "transport", "\n", "aors=e", "outbound_auth=a",
                "match=", "1.2.3.4", "/24", "host.example", "server_uri=", "client_uri=", "sip:",
                "x@y", "allow=", "ulaw", "g729", "all", "disallow=", "endpoint=e", "bind=", ":5060",
                "username=u", "password=p", ";", "\\;", ";--", "--;", "=", ",", "[", "]", "(", ")",
                "contact=", "qualify_frequency=", "60", "-1", "é",
            ]), 0..60),
        ) {
            let _ = PjsipConfig::parse_str(&parts.concat(), "fuzz.conf");
        }
    }
}
