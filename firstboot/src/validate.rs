//! Pure: the OVF environment's properties checked into [`NodeSettings`]. Each property is
//! parsed by the kind [`super::spec`] gives it, then the addresses are checked against
//! each other (one data subnet holds the node, its peer, the VIP and the gateway; the
//! voice subnet is another; no two of them are the same address). Every problem is
//! reported, not only the first, as `key: reason`; an environment with any problem is
//! not used at all.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::env::Environment;
use super::spec::{self, Kind, Property};

/// The deployment option chosen in the wizard (the OVF `DeploymentOptionSection`), which sets
/// `node.role`: where the node starts (its priority, its defaults). Not the running role:
/// VRRP decides which node is master from then on, and the supervisor tells the components
/// (`component::contract::Role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    Master,
    Backup,
}

impl Deployment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Backup => "backup",
        }
    }
}

/// One problem with the environment: the property and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: &'static str,
    pub reason: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

/// A SIP trunk's registration settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// `host` or `host:port`, host an IPv4 address or a DNS name.
    pub registrar: String,
    pub user: String,
    pub password: String,
    /// Digits, optionally with a leading `+`.
    pub number: String,
}

/// How the sync agent authenticates its peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAuth {
    /// A shared secret both nodes were given.
    Pairing { secret: String },
    /// PEM blocks, rewrapped to 64-column lines.
    Tls {
        cert: String,
        key: String,
        peer_ca: String,
    },
}

/// A node's settings, every one checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    pub role: Deployment,
    pub hostname: String,
    /// The node's data address with the data network's prefix.
    pub data: Ipv4Net,
    pub gateway: Ipv4Addr,
    pub dns: Vec<Ipv4Addr>,
    /// The node's voice address with the voice network's prefix.
    pub voice: Ipv4Net,
    pub vip: Ipv4Addr,
    pub peer: Ipv4Addr,
    pub vrid: u8,
    pub priority: u8,
    pub trunk_in: Trunk,
    pub trunk_out: Trunk,
    pub sync: SyncAuth,
}

/// Checks an environment; `Err` lists every problem found.
pub fn validate(env: &Environment) -> Result<NodeSettings, Vec<Invalid>> {
    let mut fields = Fields::new(env);
    let settings = fields.settings();
    match (settings, fields.errors.is_empty()) {
        (Some(settings), true) => Ok(settings),
        _ => Err(fields.errors),
    }
}

/// Keys the environment carries that the spec does not list (vCenter passes on
/// properties an administrator added by hand); they are ignored.
pub fn unknown_keys(env: &Environment) -> Vec<&str> {
    env.properties
        .keys()
        .map(String::as_str)
        .filter(|k| spec::property(k).is_none())
        .collect()
}

/// The environment's values, read through the spec. Every read records its key, so a
/// test can show that every listed property is used.
struct Fields<'a> {
    env: &'a Environment,
    role: &'static str,
    errors: Vec<Invalid>,
    taken: BTreeSet<&'static str>,
}

impl<'a> Fields<'a> {
    fn new(env: &'a Environment) -> Self {
        Self {
            env,
            role: spec::DEPLOYMENT_OPTIONS[0].id,
            errors: Vec::new(),
            taken: BTreeSet::new(),
        }
    }

    fn settings(&mut self) -> Option<NodeSettings> {
        // The role first: the other defaults depend on it. It has no default of its own,
        // so a hand-written environment that forgets it cannot make a second master.
        let role = match self.env.properties.get("node.role").map(String::as_str) {
            None => {
                self.taken.insert("node.role");
                self.error("node.role", "missing (master or backup)".into());
                None
            }
            Some(_) => self.text("node.role").map(|r| match r.as_str() {
                "master" => Deployment::Master,
                _ => Deployment::Backup,
            }),
        };
        if let Some(role) = role {
            self.role = role.as_str();
        }
        let hostname = self.text("node.hostname");
        let data_ip = self.ip("data.ip");
        let data_prefix = self.number("data.prefix");
        let gateway = self.ip("data.gateway");
        let dns = self.ip_list("data.dns");
        let voice_ip = self.ip("voice.ip");
        let voice_prefix = self.number("voice.prefix");
        let vip = self.ip("ha.vip");
        let peer = self.ip("ha.peer_ip");
        let vrid = self.number("ha.vrid");
        let priority = self.number("ha.priority");
        let trunk_in = self.trunk("trunk_in");
        let trunk_out = self.trunk("trunk_out");
        let sync = self.sync();

        let data = net(data_ip?, data_prefix?);
        let voice = net(voice_ip?, voice_prefix?);
        let (gateway, vip, peer) = (gateway?, vip?, peer?);
        self.addresses(data, voice, gateway, vip, peer);
        Some(NodeSettings {
            role: role?,
            hostname: hostname?,
            data,
            gateway,
            dns: dns?,
            voice,
            vip,
            peer,
            vrid: vrid?,
            priority: priority?,
            trunk_in: trunk_in?,
            trunk_out: trunk_out?,
            sync: sync?,
        })
    }

    /// The cross-checks between addresses.
    fn addresses(
        &mut self,
        data: Ipv4Net,
        voice: Ipv4Net,
        gateway: Ipv4Addr,
        vip: Ipv4Addr,
        peer: Ipv4Addr,
    ) {
        let subnet = data.trunc();
        for (key, net) in [("data.ip", data), ("voice.ip", voice)] {
            let addr = net.addr();
            if addr == net.network() || addr == net.broadcast() {
                self.error(
                    key,
                    format!(
                        "{addr} is the network or broadcast address of {}",
                        net.trunc()
                    ),
                );
            }
        }
        let named = [
            ("data.gateway", gateway),
            ("ha.vip", vip),
            ("ha.peer_ip", peer),
        ];
        for (key, addr) in named {
            if !subnet.contains(&addr) {
                self.error(key, format!("{addr} is not in the data network {subnet}"));
            } else if addr == subnet.network() || addr == subnet.broadcast() {
                self.error(
                    key,
                    format!("{addr} is the network or broadcast address of {subnet}"),
                );
            }
        }
        let all = [("data.ip", data.addr())].into_iter().chain(named);
        let all: Vec<_> = all.collect();
        for (i, (key, addr)) in all.iter().enumerate() {
            if let Some((other, _)) = all[..i].iter().find(|(_, a)| a == addr) {
                self.error(key, format!("{addr} is also {other}; they must differ"));
            }
        }
        let voice_net = voice.trunc();
        if voice_net.contains(&subnet.network()) || subnet.contains(&voice_net.network()) {
            self.error(
                "voice.ip",
                format!("the voice network {voice_net} overlaps the data network {subnet}"),
            );
        }
    }

    fn trunk(&mut self, prefix: &'static str) -> Option<Trunk> {
        let key = |field: &str| -> &'static str {
            spec::properties()
                .map(|p| p.key)
                .find(|k| k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) == Some(field))
                .expect("trunk fields are in the spec")
        };
        let registrar = self.text(key("registrar"));
        let user = self.text(key("user"));
        let password = self.text(key("password"));
        let number = self.text(key("number"));
        if let Some(r) = &registrar {
            if let Err(reason) = check_registrar(r) {
                self.error(key("registrar"), reason);
            }
        }
        if let Some(u) = &user {
            if u.contains(|c: char| c.is_whitespace() || matches!(c, '@' | ':' | ';' | '<' | '>')) {
                self.error(
                    key("user"),
                    "must not contain spaces or any of @ : ; < >".into(),
                );
            }
        }
        if let Some(n) = &number {
            let digits = n.strip_prefix('+').unwrap_or(n);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                self.error(
                    key("number"),
                    format!("{n:?} is not digits with an optional leading +"),
                );
            }
        }
        Some(Trunk {
            registrar: registrar?,
            user: user?,
            password: password?,
            number: number?,
        })
    }

    fn sync(&mut self) -> Option<SyncAuth> {
        let secret = self.optional_text("sync.pairing_secret");
        let cert = self.optional_text("sync.tls_cert");
        let key = self.optional_text("sync.tls_key");
        let peer_ca = self.optional_text("sync.peer_ca");
        match (secret?, cert?, key?, peer_ca?) {
            (Some(secret), None, None, None) => Some(SyncAuth::Pairing { secret }),
            (None, Some(cert), Some(key), Some(peer_ca)) => {
                Some(SyncAuth::Tls { cert, key, peer_ca })
            }
            (Some(_), ..) => {
                self.error(
                    "sync.pairing_secret",
                    "give a pairing secret or TLS material, not both".into(),
                );
                None
            }
            (None, None, None, None) => {
                self.error(
                    "sync.pairing_secret",
                    "missing: give a pairing secret, or sync.tls_cert, sync.tls_key and sync.peer_ca".into(),
                );
                None
            }
            (None, cert, key, _) => {
                let missing = match (cert, key) {
                    (None, _) => "sync.tls_cert",
                    (_, None) => "sync.tls_key",
                    _ => "sync.peer_ca",
                };
                self.error(
                    missing,
                    "missing: TLS needs sync.tls_cert, sync.tls_key and sync.peer_ca".into(),
                );
                None
            }
        }
    }

    fn error(&mut self, key: &'static str, reason: String) {
        self.errors.push(Invalid { key, reason });
    }

    /// The raw value: the environment's, or the spec's default for the role when the
    /// environment leaves the key out. `None` with an error recorded when a required
    /// value is empty; `Some("")` for an empty optional one.
    ///
    /// # Panics
    /// When `key` is not in the spec: the validator and the descriptor would disagree.
    fn raw(&mut self, key: &'static str) -> Option<(&'static Property, String)> {
        let property = spec::property(key)
            .unwrap_or_else(|| panic!("{key} is read at first boot but missing from spec.rs"));
        self.taken.insert(property.key);
        let value = match self.env.properties.get(key) {
            Some(v) => v.trim().to_owned(),
            None => property.default_for(self.role).to_owned(),
        };
        if value.is_empty() && property.required {
            self.error(property.key, "missing (required)".into());
            return None;
        }
        Some((property, value))
    }

    /// A text-like value (choice, host name, text, password, PEM), checked by kind;
    /// `Some(None)` for an empty optional one.
    fn optional_text(&mut self, key: &'static str) -> Option<Option<String>> {
        let (property, value) = self.raw(key)?;
        if value.is_empty() {
            return Some(None);
        }
        match check_text(property.kind, &value) {
            Ok(v) => Some(Some(v)),
            Err(reason) => {
                self.error(property.key, reason);
                None
            }
        }
    }

    fn text(&mut self, key: &'static str) -> Option<String> {
        self.optional_text(key).flatten()
    }

    fn ip(&mut self, key: &'static str) -> Option<Ipv4Addr> {
        let (property, value) = self.raw(key)?;
        assert_eq!(
            property.kind,
            Kind::Ipv4,
            "{key}: not an address in spec.rs"
        );
        check_ip(&value)
            .map_err(|reason| self.error(property.key, reason))
            .ok()
    }

    fn ip_list(&mut self, key: &'static str) -> Option<Vec<Ipv4Addr>> {
        let (property, value) = self.raw(key)?;
        assert_eq!(
            property.kind,
            Kind::Ipv4List,
            "{key}: not a list in spec.rs"
        );
        value
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(check_ip)
            .collect::<Result<_, _>>()
            .map_err(|reason| self.error(property.key, reason))
            .ok()
    }

    fn number(&mut self, key: &'static str) -> Option<u8> {
        let (property, value) = self.raw(key)?;
        let Kind::Uint8 { min, max } = property.kind else {
            panic!("{key}: not a number in spec.rs");
        };
        match value.parse::<u8>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                self.error(
                    property.key,
                    format!("{value:?} is not a number in {min}..={max}"),
                );
                None
            }
        }
    }
}

fn net(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
    Ipv4Net::new(addr, prefix).expect("the spec keeps prefixes in 8..=30")
}

fn check_ip(value: &str) -> Result<Ipv4Addr, String> {
    let addr: Ipv4Addr = value
        .parse()
        .map_err(|_| format!("{value:?} is not an IPv4 address"))?;
    if addr.is_unspecified() || addr.is_loopback() || addr.is_multicast() || addr.is_broadcast() {
        return Err(format!("{addr} cannot be a host's address"));
    }
    Ok(addr)
}

fn check_text(kind: Kind, value: &str) -> Result<String, String> {
    if value.chars().any(char::is_control) && !matches!(kind, Kind::Pem { .. }) {
        return Err("must not contain control characters".into());
    }
    let len = value.chars().count();
    match kind {
        Kind::Choice(choices) if !choices.contains(&value) => {
            Err(format!("{value:?} is not one of {}", choices.join(", ")))
        }
        Kind::Hostname => check_hostname(value).map(|()| value.to_owned()),
        Kind::Text { min_len, max_len }
            if !(usize::from(min_len)..=usize::from(max_len)).contains(&len) =>
        {
            Err(format!("must be {min_len} to {max_len} characters long"))
        }
        Kind::Password { min_len } if len < usize::from(min_len) => {
            Err(format!("must be at least {min_len} characters long"))
        }
        Kind::Pem { label } => rewrap_pem(value, label),
        Kind::Ipv4 | Kind::Ipv4List | Kind::Uint8 { .. } => {
            unreachable!("addresses and numbers have their own readers")
        }
        _ => Ok(value.to_owned()),
    }
}

/// RFC 1123 §2.1 label.
fn check_hostname(name: &str) -> Result<(), String> {
    let ok = (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a host name (1 to 63 letters, digits or inner hyphens)"
        ))
    }
}

/// `host` or `host:port`; host an IPv4 address or DNS name.
fn check_registrar(value: &str) -> Result<(), String> {
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value, None),
    };
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(format!("{value:?}: the port must be 1..=65535"));
        }
    }
    let is_ip = host.parse::<Ipv4Addr>().is_ok();
    let is_name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| check_hostname(label).is_ok());
    if is_ip || is_name {
        Ok(())
    } else {
        Err(format!("{value:?} is not host or host:port"))
    }
}

/// A PEM block whose line breaks may have become spaces in a one-line wizard field:
/// checked (one block of the expected label, base64 body) and rewritten with the body in
/// 64-column lines (RFC 7468 §2).
fn rewrap_pem(value: &str, label: &str) -> Result<String, String> {
    let bad = || format!("not a PEM block -----BEGIN …{label}-----");
    let rest = value.trim().strip_prefix("-----BEGIN ").ok_or_else(bad)?;
    let (found_label, rest) = rest.split_once("-----").ok_or_else(bad)?;
    if !found_label.ends_with(label) {
        return Err(bad());
    }
    let end = format!("-----END {found_label}-----");
    let body = rest.trim().strip_suffix(end.as_str()).ok_or_else(bad)?;
    let body: String = body.split_whitespace().collect();
    let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if body.is_empty() || !body.bytes().all(base64) || !body.len().is_multiple_of(4) {
        return Err(format!("the body of the {found_label} block is not base64"));
    }
    let mut out = format!("-----BEGIN {found_label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("checked ASCII"));
        out.push('\n');
    }
    out.push_str(&end);
    out.push('\n');
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete, valid environment for `role`.
    pub(crate) fn environment(role: &str) -> Environment {
        let (ip, peer) = match role {
            "backup" => ("10.77.0.12", "10.77.0.11"),
            _ => ("10.77.0.11", "10.77.0.12"),
        };
        let pairs = [
            ("node.role", role),
            (
                "node.hostname",
                if role == "backup" {
                    "allerta-b"
                } else {
                    "allerta-a"
                },
            ),
            ("data.ip", ip),
            ("data.prefix", "24"),
            ("data.gateway", "10.77.0.1"),
            ("data.dns", "10.77.0.2, 10.77.0.3"),
            (
                "voice.ip",
                if role == "backup" {
                    "10.78.0.12"
                } else {
                    "10.78.0.11"
                },
            ),
            ("voice.prefix", "24"),
            ("ha.vip", "10.77.0.10"),
            ("ha.peer_ip", peer),
            ("ha.vrid", "51"),
            ("ha.priority", if role == "backup" { "240" } else { "250" }),
            ("trunk_in.registrar", "sip.provider.example:5060"),
            ("trunk_in.user", "0744111"),
            ("trunk_in.password", "in;secret"),
            ("trunk_in.number", "+390744111"),
            ("trunk_out.registrar", "10.78.0.1"),
            ("trunk_out.user", "0744999"),
            ("trunk_out.password", "p&w\"<x>"),
            ("trunk_out.number", "0744999"),
            ("sync.pairing_secret", "correct horse battery staple"),
            ("sync.tls_cert", ""),
            ("sync.tls_key", ""),
            ("sync.peer_ca", ""),
        ];
        Environment {
            properties: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn with(role: &str, changes: &[(&str, &str)]) -> Environment {
        let mut env = environment(role);
        for (k, v) in changes {
            env.properties.insert((*k).into(), (*v).into());
        }
        env
    }

    fn errors(env: &Environment) -> Vec<String> {
        validate(env)
            .expect_err("should be invalid")
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_complete_master_environment_is_valid() {
        let s = validate(&environment("master")).unwrap();
        assert_eq!(s.role, Deployment::Master);
        assert_eq!(s.data, "10.77.0.11/24".parse().unwrap());
        assert_eq!(s.dns.len(), 2);
        assert_eq!((s.vrid, s.priority), (51, 250));
        assert_eq!(s.trunk_out.password, "p&w\"<x>");
        assert!(matches!(s.sync, SyncAuth::Pairing { .. }));
    }

    #[test]
    fn missing_keys_take_the_role_s_defaults() {
        let mut env = environment("backup");
        for key in [
            "ha.priority",
            "node.hostname",
            "data.prefix",
            "ha.vrid",
            "data.dns",
        ] {
            env.properties.remove(key);
        }
        let s = validate(&env).unwrap();
        assert_eq!((s.priority, s.hostname.as_str()), (240, "allerta-b"));
        assert_eq!((s.data.prefix_len(), s.vrid), (24, 51));
        assert!(s.dns.is_empty());
    }

    #[test]
    fn every_spec_property_is_read() {
        let env = environment("master");
        let mut fields = Fields::new(&env);
        fields.settings().unwrap();
        let listed: BTreeSet<_> = spec::properties().map(|p| p.key).collect();
        assert_eq!(fields.taken, listed, "spec.rs and validate.rs disagree");
        assert!(unknown_keys(&env).is_empty());
    }

    #[test]
    fn addresses_must_share_the_data_subnet_and_differ() {
        assert_eq!(
            errors(&with("master", &[("ha.vip", "10.77.1.10")])),
            ["ha.vip: 10.77.1.10 is not in the data network 10.77.0.0/24"]
        );
        assert_eq!(
            errors(&with("master", &[("ha.peer_ip", "10.77.0.11")])),
            ["ha.peer_ip: 10.77.0.11 is also data.ip; they must differ"]
        );
        assert_eq!(
            errors(&with("master", &[("ha.vip", "10.77.0.11")])),
            ["ha.vip: 10.77.0.11 is also data.ip; they must differ"]
        );
        assert_eq!(
            errors(&with("master", &[("data.ip", "10.77.0.255")])),
            ["data.ip: 10.77.0.255 is the network or broadcast address of 10.77.0.0/24"]
        );
        assert_eq!(
            errors(&with("master", &[("voice.ip", "10.77.0.50")])),
            ["voice.ip: the voice network 10.77.0.0/24 overlaps the data network 10.77.0.0/24"]
        );
    }

    #[test]
    fn each_kind_refuses_what_it_cannot_hold() {
        let cases = [
            ("data.prefix", "31", "data.prefix: \"31\" is not a number in 8..=30"),
            ("data.prefix", "7", "data.prefix: \"7\" is not a number in 8..=30"),
            ("ha.vrid", "0", "ha.vrid: \"0\" is not a number in 1..=255"),
            ("data.ip", "10.77.0.300", "data.ip: \"10.77.0.300\" is not an IPv4 address"),
            ("data.gateway", "", "data.gateway: missing (required)"),
            ("data.dns", "10.77.0.2,x", "data.dns: \"x\" is not an IPv4 address"),
            ("node.role", "primary", "node.role: \"primary\" is not one of master, backup"),
            ("node.hostname", "-a", "node.hostname: \"-a\" is not a host name (1 to 63 letters, digits or inner hyphens)"),
            ("trunk_in.number", "0744 111", "trunk_in.number: \"0744 111\" is not digits with an optional leading +"),
            ("trunk_out.registrar", "sip:x", "trunk_out.registrar: \"sip:x\": the port must be 1..=65535"),
            ("trunk_out.user", "a@b", "trunk_out.user: must not contain spaces or any of @ : ; < >"),
            ("sync.pairing_secret", "short", "sync.pairing_secret: must be at least 16 characters long"),
        ];
        for (key, value, expected) in cases {
            assert_eq!(
                errors(&with("master", &[(key, value)])),
                [expected],
                "{key}={value}"
            );
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let env = with(
            "backup",
            &[
                ("data.prefix", "40"),
                ("ha.vrid", "0"),
                ("trunk_in.user", ""),
            ],
        );
        assert_eq!(errors(&env).len(), 3);
        let mut env = environment("master");
        env.properties.remove("node.role");
        assert_eq!(errors(&env), ["node.role: missing (master or backup)"]);
    }

    #[test]
    fn sync_takes_a_secret_or_complete_tls_material() {
        let cert = "-----BEGIN CERTIFICATE----- QUJD REVG -----END CERTIFICATE-----";
        let key = "-----BEGIN EC PRIVATE KEY-----\nQUJD\n-----END EC PRIVATE KEY-----";
        let tls = with(
            "master",
            &[
                ("sync.pairing_secret", ""),
                ("sync.tls_cert", cert),
                ("sync.tls_key", key),
                ("sync.peer_ca", cert),
            ],
        );
        let SyncAuth::Tls { cert, key, .. } = validate(&tls).unwrap().sync else {
            panic!("expected TLS");
        };
        assert_eq!(
            cert,
            "-----BEGIN CERTIFICATE-----\nQUJDREVG\n-----END CERTIFICATE-----\n"
        );
        assert!(key.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let both = with("master", &[("sync.tls_cert", "x")]);
        assert!(
            errors(&both)[0].contains("not a PEM block"),
            "{:?}",
            errors(&both)
        );
        let partial = with(
            "master",
            &[
                ("sync.pairing_secret", ""),
                (
                    "sync.tls_cert",
                    "-----BEGIN CERTIFICATE----- QUJD -----END CERTIFICATE-----",
                ),
            ],
        );
        assert_eq!(
            errors(&partial),
            ["sync.tls_key: missing: TLS needs sync.tls_cert, sync.tls_key and sync.peer_ca"]
        );
        let none = with("master", &[("sync.pairing_secret", "")]);
        assert!(errors(&none)[0].starts_with("sync.pairing_secret: missing"));
    }

    #[test]
    fn unknown_keys_are_listed_not_refused() {
        let env = with("master", &[("vami.ip0.Allerta", "1.2.3.4")]);
        assert!(validate(&env).is_ok());
        assert_eq!(unknown_keys(&env), ["vami.ip0.Allerta"]);
    }
}
