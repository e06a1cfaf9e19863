//! Pure: AMI users from `manager.conf` (replicated, in `/etc/allerta/shared/`): the
//! `[general]` section (`enabled`, `port`, `bindaddr`, `tlsenable`, …) and one section per
//! user with `secret`, `deny`/`permit` ACLs, `read`/`write` class lists.
//!
//! ACLs follow Asterisk's `ast_apply_ha`: the rules are applied in order and the last
//! one that matches decides; an address no rule matches is allowed. Networks are written
//! as CIDR (`10.0.0.0/8`) or with a dotted mask (`10.0.0.0/255.0.0.0`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use ipnet::{IpNet, Ipv4Net};

use crate::conf::asterisk::{self, ConfFile, Entry};
use crate::conf::{ConfError, ConfErrorKind};

/// AMI permission classes (Asterisk's `read`/`write` words), as a bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Classes(u32);

/// The class words Asterisk knows, in its order.
pub const CLASS_NAMES: [&str; 19] = [
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
];

impl Classes {
    /// Every class.
    pub const ALL: Self = Self((1 << CLASS_NAMES.len()) - 1);

    /// One class by name.
    pub fn named(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("all") {
            return Some(Self::ALL);
        }
        CLASS_NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| Self(1 << i))
    }

    /// A comma list (`system,call,originate`, `all`, empty = none).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut set = Self::default();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            set.0 |= Self::named(word)
                .ok_or_else(|| format!("unknown class {word:?}"))?
                .0;
        }
        Ok(set)
    }

    /// Whether every class of `other` is in `self`.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The classes in both.
    pub fn intersection(a: Self, b: Self) -> Self {
        Self(a.0 & b.0)
    }

    /// Whether any class is shared.
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// The class words, comma-separated, with `all` appended as Asterisk does in
    /// `Privilege:` lines.
    pub fn privilege(self) -> String {
        let mut words: Vec<&str> = CLASS_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
            .collect();
        words.push("all");
        words.join(",")
    }
}

/// One ACL rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `permit` (true) or `deny`.
    pub permit: bool,
    /// The network.
    pub net: IpNet,
}

/// One `[user]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The section name: the `Username:` to log in with.
    pub name: String,
    /// `secret`.
    pub secret: String,
    /// `deny`/`permit`, in file order.
    pub acl: Vec<Rule>,
    /// `read`: the event classes the user may receive.
    pub read: Classes,
    /// `write`: the action classes the user may use.
    pub write: Classes,
    /// `eventfilter`s, in file order: each a regex on the event text (`!` first to
    /// exclude), checked when the file is read and in force from login, as if the client
    /// had sent them with `Filter`.
    pub event_filters: Vec<String>,
}

impl User {
    /// Whether `addr` may log in as this user.
    pub fn allows(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        self.acl
            .iter()
            .rev()
            .find(|r| r.net.contains(&addr))
            .is_none_or(|r| r.permit)
    }
}

/// A checked `manager.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Users {
    /// `[general] enabled` (default no, as in Asterisk).
    pub enabled: bool,
    /// `[general] port` (default 5038).
    pub port: u16,
    /// `[general] bindaddr` (default 0.0.0.0).
    pub bindaddr: IpAddr,
    /// The users.
    pub users: Vec<User>,
    /// The TLS listener (`tlsenable = yes`), Asterisk's default port 5039.
    pub tls: Option<Tls>,
    /// `[general] authtimeout`: seconds a client has to log in before it is closed
    /// (Asterisk's default, 30).
    pub auth_timeout: std::time::Duration,
    /// `[general] authlimit`: connections not logged in yet, at most; more are closed at
    /// accept (Asterisk's default, 50).
    pub auth_limit: usize,
}

/// Asterisk's `authtimeout` default.
pub const AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Asterisk's `authlimit` default.
pub const AUTH_LIMIT: usize = 50;

/// `[general] tlsenable`, `tlsbindaddr`, `tlscertfile`, `tlsprivatekey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// Where to listen (`tlsbindaddr`, default `0.0.0.0:5039`).
    pub bind: std::net::SocketAddr,
    /// PEM certificate chain.
    pub cert: std::path::PathBuf,
    /// PEM private key (node-local: under `/etc/allerta/node/tls/`).
    pub key: std::path::PathBuf,
}

/// Keys of `[general]` we accept without acting on them (listed so a typo is still caught).
pub const GENERAL_IGNORED: [&str; 7] = [
    "webenabled",
    "httptimeout",
    "displayconnects",
    "timestampevents",
    "allowmultiplelogin",
    "channelvars",
    "debug",
];
/// TLS keys of `[general]` we accept without acting on them (client certificates are
/// not asked for: AMI users log in with their secret over the TLS channel).
pub const TLS_IGNORED: [&str; 4] = ["tlscipher", "tlscafile", "tlscapath", "tlsdontverifyserver"];
/// Keys of a user section we accept without acting on them.
pub const USER_IGNORED: [&str; 5] = [
    "displayconnects",
    "writetimeout",
    "allowmultiplelogin",
    "channelvars",
    "setvar",
];

impl Users {
    /// No `manager.conf`: AMI off, nobody may log in.
    pub fn off() -> Self {
        Self {
            enabled: false,
            port: 5038,
            bindaddr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            users: Vec::new(),
            tls: None,
            auth_timeout: AUTH_TIMEOUT,
            auth_limit: AUTH_LIMIT,
        }
    }

    /// Whether any user may log in from `addr` (a connection from elsewhere is closed at
    /// accept: no greeting, no work for it).
    pub fn admits(&self, addr: IpAddr) -> bool {
        self.users.iter().any(|u| u.allows(addr))
    }

    /// Parses `manager.conf` text (`file_label` names it in errors).
    pub fn parse_str(text: &str, file_label: &str) -> Result<Self, ConfError> {
        Self::from_conf(&asterisk::parse_str(text, file_label)?)
    }

    /// Reads `manager.conf`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfError> {
        Self::from_conf(&asterisk::load(path)?)
    }

    fn from_conf(file: &ConfFile) -> Result<Self, ConfError> {
        let mut users = Self::off();
        for section in file.objects() {
            let kind = if section.name == "general" {
                "general"
            } else {
                "user"
            };
            let invalid = |e: &Entry, reason: &'static str| {
                ConfError::new(
                    e.location.clone(),
                    ConfErrorKind::InvalidValue {
                        key: e.key.clone(),
                        value: e.value.clone(),
                        kind: kind.into(),
                        section: section.name.clone(),
                        reason,
                    },
                )
            };
            let unknown = |e: &Entry| {
                ConfError::new(
                    e.location.clone(),
                    ConfErrorKind::UnknownOption {
                        key: e.key.clone(),
                        kind: kind.into(),
                        section: section.name.clone(),
                    },
                )
            };
            if kind == "general" {
                let mut tls_enable: Option<&Entry> = None;
                let mut tls_bind = std::net::SocketAddr::new(users.bindaddr, 5039);
                let (mut cert, mut key) = (None, None);
                for e in &section.entries {
                    match e.key.to_ascii_lowercase().as_str() {
                        "enabled" => {
                            users.enabled =
                                yes(&e.value).ok_or_else(|| invalid(e, "expected yes or no"))?
                        }
                        "port" => {
                            users.port = e
                                .value
                                .parse()
                                .map_err(|_| invalid(e, "expected a port number"))?
                        }
                        "bindaddr" => {
                            users.bindaddr = e
                                .value
                                .parse()
                                .map_err(|_| invalid(e, "expected an IP address"))?
                        }
                        "tlsenable" => {
                            let on =
                                yes(&e.value).ok_or_else(|| invalid(e, "expected yes or no"))?;
                            tls_enable = on.then_some(e);
                        }
                        "tlsbindaddr" => {
                            tls_bind = e
                                .value
                                .parse()
                                .or_else(|_| e.value.parse::<IpAddr>().map(|ip| (ip, 5039).into()))
                                .map_err(|_| {
                                    invalid(e, "expected an address, with or without :port")
                                })?
                        }
                        "authtimeout" => {
                            users.auth_timeout = e
                                .value
                                .parse::<u64>()
                                .ok()
                                .filter(|secs| (1..=3600).contains(secs))
                                .map(std::time::Duration::from_secs)
                                .ok_or_else(|| invalid(e, "expected seconds, 1 to 3600"))?
                        }
                        "authlimit" => {
                            users.auth_limit = e
                                .value
                                .parse::<usize>()
                                .ok()
                                .filter(|n| (1..=10_000).contains(n))
                                .ok_or_else(|| invalid(e, "expected a number, 1 to 10000"))?
                        }
                        "tlscertfile" => cert = Some(e.value.clone()),
                        // Asking clients for certificates is not done here: refusing the key
                        // beats accepting it and letting in a client the operator meant to keep
                        // out.
                        "tlsverifyclient" => {
                            if yes(&e.value) != Some(false) {
                                return Err(invalid(
                                    e,
                                    "client certificates are not supported (AMI users log in with their secret over TLS): set tlsverifyclient = no or remove it",
                                ));
                            }
                        }
                        "tlsprivatekey" => key = Some(e.value.clone()),
                        k if GENERAL_IGNORED.contains(&k) || TLS_IGNORED.contains(&k) => {}
                        _ => return Err(unknown(e)),
                    }
                }
                if let Some(e) = tls_enable {
                    let (Some(cert), Some(key)) = (cert, key) else {
                        return Err(invalid(
                            e,
                            "tlsenable = yes needs tlscertfile and tlsprivatekey",
                        ));
                    };
                    users.tls = Some(Tls {
                        bind: tls_bind,
                        cert: cert.into(),
                        key: key.into(),
                    });
                }
                continue;
            }
            let mut user = User {
                name: section.name.clone(),
                secret: String::new(),
                acl: Vec::new(),
                read: Classes::default(),
                write: Classes::default(),
                event_filters: Vec::new(),
            };
            let mut has_secret = false;
            for e in &section.entries {
                match e.key.to_ascii_lowercase().as_str() {
                    "secret" => {
                        user.secret = e.value.clone();
                        has_secret = true;
                    }
                    "permit" | "deny" => {
                        let net = parse_net(&e.value).ok_or_else(|| {
                            invalid(e, "expected a network: 10.0.0.0/8 or 10.0.0.0/255.0.0.0")
                        })?;
                        user.acl.push(Rule {
                            permit: e.key.eq_ignore_ascii_case("permit"),
                            net,
                        });
                    }
                    "read" => {
                        user.read = Classes::parse(&e.value)
                            .map_err(|_| invalid(e, "unknown class in the list"))?
                    }
                    "write" => {
                        user.write = Classes::parse(&e.value)
                            .map_err(|_| invalid(e, "unknown class in the list"))?
                    }
                    "eventfilter" => {
                        if user.event_filters.len() >= super::filter::MAX_FILTERS {
                            return Err(invalid(e, "too many event filters for one user"));
                        }
                        let pattern = e.value.strip_prefix('!').unwrap_or(&e.value);
                        super::filter::compile(pattern)
                            .map_err(|_| invalid(e, "not a usable regular expression"))?;
                        user.event_filters.push(e.value.clone());
                    }
                    k if USER_IGNORED.contains(&k) => {}
                    _ => return Err(unknown(e)),
                }
            }
            if !has_secret {
                return Err(ConfError::new(
                    section.location.clone(),
                    ConfErrorKind::MissingOption {
                        key: "secret",
                        kind: "user".into(),
                        section: section.name.clone(),
                    },
                ));
            }
            users.users.push(user);
        }
        Ok(users)
    }

    /// The user called `name`.
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }
}

fn yes(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Some(true),
        "no" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, or a bare address (a host).
fn parse_net(v: &str) -> Option<IpNet> {
    let v = v.trim();
    match v.split_once('/') {
        None => v.parse::<IpAddr>().ok().map(IpNet::from),
        Some((addr, mask)) => {
            if let Ok(len) = mask.parse::<u8>() {
                return format!("{addr}/{len}").parse().ok();
            }
            let addr: Ipv4Addr = addr.parse().ok()?;
            let mask: Ipv4Addr = mask.parse().ok()?;
            let bits = u32::from(mask);
            // A dotted mask must be contiguous ones (255.0.255.0 is not a network).
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return None;
            }
            Ipv4Net::new(addr, u8::try_from(bits.leading_ones()).ok()?)
                .ok()
                .map(|n| IpNet::V4(n.trunc()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "[general]\nenabled = yes\nport = 5038\nbindaddr = 0.0.0.0\n\n\
        [alertapp]\nsecret = s3cret\ndeny = 0.0.0.0/0.0.0.0\npermit = 10.77.0.0/255.255.255.0\n\
        read = system,call,dtmf\nwrite = originate,call,system\n\n\
        [monitor]\nsecret = m\nread = all\nwrite =\n";

    #[test]
    fn an_asterisk_manager_conf_gives_users_with_acls_and_classes() {
        let users = Users::parse_str(CONF, "manager.conf").unwrap();
        assert!(users.enabled);
        let app = users.user("alertapp").unwrap();
        assert!(app.allows("10.77.0.100".parse().unwrap()));
        assert!(!app.allows("192.0.2.1".parse().unwrap()));
        assert!(app.write.contains(Classes::named("originate").unwrap()));
        assert!(!app.write.contains(Classes::named("config").unwrap()));
        let mon = users.user("monitor").unwrap();
        assert_eq!(mon.read, Classes::ALL);
        assert!(mon.allows("192.0.2.1".parse().unwrap()), "no rule: allowed");
        assert_eq!(
            Classes::parse("system,call").unwrap().privilege(),
            "system,call,all"
        );
    }

    #[test]
    fn the_login_limits_default_to_asterisks_and_are_checked() {
        let users = Users::parse_str(CONF, "manager.conf").unwrap();
        assert_eq!(
            (users.auth_timeout, users.auth_limit),
            (AUTH_TIMEOUT, AUTH_LIMIT)
        );
        let set = Users::parse_str("[general]\nauthtimeout = 5\nauthlimit = 3\n", "m").unwrap();
        assert_eq!(
            (set.auth_timeout, set.auth_limit),
            (std::time::Duration::from_secs(5), 3)
        );
        for bad in ["authtimeout = 0", "authtimeout = soon", "authlimit = 0"] {
            let e = Users::parse_str(&format!("[general]\n{bad}\n"), "m")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("m:2:"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_address_no_user_admits_is_known_before_login() {
        let users = Users::parse_str(CONF, "manager.conf").unwrap();
        assert!(
            users.admits("192.0.2.1".parse().unwrap()),
            "monitor has no rule"
        );
        let only_app = Users::parse_str(
            "[alertapp]\nsecret = s\ndeny = 0.0.0.0/0.0.0.0\npermit = 10.77.0.0/255.255.255.0\n",
            "m",
        )
        .unwrap();
        assert!(only_app.admits("10.77.0.100".parse().unwrap()));
        assert!(!only_app.admits("192.0.2.1".parse().unwrap()));
        assert!(!Users::off().admits("10.77.0.100".parse().unwrap()));
    }

    #[test]
    fn tls_is_on_with_a_certificate_and_a_key_only() {
        let users = Users::parse_str(
            "[general]\nenabled = yes\ntlsenable = yes\ntlsbindaddr = 10.77.0.11\n\
             tlscertfile = /etc/allerta/node/tls/ami.crt\ntlsprivatekey = /etc/allerta/node/tls/ami.key\n\
             tlscipher = ALL\n",
            "manager.conf",
        )
        .unwrap();
        let tls = users.tls.expect("tls");
        assert_eq!(tls.bind, "10.77.0.11:5039".parse().unwrap());
        assert_eq!(
            tls.key,
            std::path::Path::new("/etc/allerta/node/tls/ami.key")
        );
        let off = Users::parse_str("[general]\ntlsenable = no\n", "m").unwrap();
        assert_eq!(off.tls, None);
        let e = Users::parse_str("[general]\nenabled = yes\ntlsenable = yes\n", "m")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m:3:") && e.contains("tlscertfile"), "{e}");
        let e = Users::parse_str("[general]\ntlsverifyclient = yes\n", "m")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m:2:") && e.contains("not supported"), "{e}");
        assert!(Users::parse_str("[general]\ntlsverifyclient = no\n", "m").is_ok());
    }

    #[test]
    fn event_filters_are_checked_when_read() {
        let users = Users::parse_str(
            "[u]\nsecret = a\neventfilter = Event: Newchannel\neventfilter = !Channel: Local/\n",
            "m",
        )
        .unwrap();
        assert_eq!(
            users.user("u").unwrap().event_filters,
            ["Event: Newchannel", "!Channel: Local/"]
        );
        let e = Users::parse_str("[u]\nsecret = a\neventfilter = (unclosed\n", "m")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m:3:") && e.contains("regular expression"),
            "{e}"
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        let e = Users::parse_str("[u]\nsecret = a\nread = system,bogus\n", "manager.conf")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("manager.conf:3:"), "{e}");
        let e = Users::parse_str("[u]\nsecrte = a\n", "manager.conf")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("manager.conf:2:") && e.contains("secrte"),
            "{e}"
        );
        let e = Users::parse_str("[u]\nread = all\n", "manager.conf")
            .unwrap_err()
            .to_string();
        assert!(e.contains("secret"), "{e}");
        assert!(Users::parse_str("[u]\nsecret=a\npermit = 10.0.0.0/255.0.255.0\n", "m").is_err());
    }
}
