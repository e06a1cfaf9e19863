//! Pure: one AMI client's session: login (plain secret or MD5 challenge), permissions,
//! the event filter, and the actions that need nothing but the session itself. Actions
//! that need the rest of the media core (Originate, Hangup, Status…) are checked here
//! (logged in, allowed by the user's `write` classes) and handed to the driver as
//! [`Output::Perform`].
//!
//! Wording and field order follow the real Asterisk 22 (`../shared/references/ami/`).

use std::net::IpAddr;
use std::sync::Arc;

use md5::{Digest as _, Md5};

use super::catalog;
use super::events::Event;
use super::message::Message;
use super::users::{Classes, Users};

/// The AMI version we announce (Asterisk 22's), so clients take their modern code paths.
pub const AMI_VERSION: &str = "11.0.0";
/// How long a failed login waits before its answer (and the close), as Asterisk 22 does
/// (`references/ami/01_bad_login`: the error 1 s after the Login): a guesser gets one try
/// a second a connection, and `authlimit` bounds the connections.
pub const FAILED_LOGIN_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// What the driver does for the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this message to the client.
    Send(Message),
    /// Perform an action that needs the media core; reply with its ActionID.
    Perform(Message),
    /// Close the connection (after sending what came before).
    Close,
    /// Wait this long before sending what comes after (only this client waits).
    Pause(std::time::Duration),
}

pub use super::filter::{compile as compile_filter, MAX_FILTERS};

/// One client's session.
#[derive(Debug)]
pub struct Session {
    users: Arc<Users>,
    peer: IpAddr,
    user: Option<String>,
    write: Classes,
    read: Classes,
    /// Classes of events this client receives (`Events:`).
    events: Classes,
    challenge: Option<String>,
    closed: bool,
    /// `Filter` regexes: (include, regex). Asterisk's rule: with include filters an
    /// event must match one; it must match no exclude (`!`) filter.
    filters: Vec<(bool, regex::Regex)>,
}

impl Session {
    /// A session for a client connected from `peer`.
    pub fn new(users: Arc<Users>, peer: IpAddr) -> Self {
        Self {
            users,
            peer,
            user: None,
            write: Classes::default(),
            read: Classes::default(),
            events: Classes::default(),
            challenge: None,
            closed: false,
            filters: Vec::new(),
        }
    }

    /// The banner, sent first (clients may send Login before reading it).
    pub fn greeting() -> &'static [u8] {
        b"Asterisk Call Manager/11.0.0\r\n"
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// `manager.conf` was loaded again: later logins use `users`. A logged-in session
    /// whose user is gone, has another secret, or no longer admits this peer is closed, as
    /// Asterisk's `manager reload` ends them; one whose classes changed goes on with the
    /// new ones (its event classes narrowed to what it may now read). Returns whether it
    /// was closed.
    pub fn users_changed(&mut self, users: Arc<Users>, out: &mut Vec<Output>) -> bool {
        let old_secret = self
            .user
            .as_deref()
            .and_then(|name| self.users.user(name))
            .map(|u| u.secret.clone());
        self.users = users;
        let Some(name) = self.user.clone() else {
            return false;
        };
        let still = self
            .users
            .user(&name)
            .filter(|u| u.allows(self.peer) && Some(&u.secret) == old_secret.as_ref());
        match still {
            Some(user) => {
                self.read = user.read;
                self.write = user.write;
                self.events = Classes::intersection(self.events, user.read);
                false
            }
            None => {
                out.push(Output::Close);
                self.closed = true;
                true
            }
        }
    }

    /// Whether the session is over (Logoff, too many failed logins).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether an event of `class` goes to this client.
    pub fn wants(&self, event: &Event) -> bool {
        if self.user.is_none() || !self.events.intersects(event.class) {
            return false;
        }
        if self.filters.is_empty() {
            return true;
        }
        // Filters match the event as it goes on the wire.
        let mut wire = Vec::new();
        event.message.encode(&mut wire);
        let text = String::from_utf8_lossy(&wire);
        let mut includes = self.filters.iter().filter(|(inc, _)| *inc).peekable();
        let included = includes.peek().is_none() || includes.any(|(_, r)| r.is_match(&text));
        included
            && !self
                .filters
                .iter()
                .any(|(inc, r)| !inc && r.is_match(&text))
    }

    /// Handles one action. `now_secs` is the wall clock (for Ping's Timestamp); `challenge`
    /// is a fresh random number, used if this is a Challenge action.
    pub fn on_action(
        &mut self,
        msg: &Message,
        now_secs: f64,
        challenge: u32,
        out: &mut Vec<Output>,
    ) {
        if self.closed {
            return;
        }
        let reply = |response: &str| {
            let mut m = Message::with("Response", response);
            if let Some(id) = msg.get("ActionID") {
                m.push("ActionID", id);
            }
            m
        };
        let Some(action) = msg.get("Action").filter(|a| !a.is_empty()) else {
            out.push(Output::Send(
                reply("Error")
                    .push("Message", "Missing action in request")
                    .clone(),
            ));
            return;
        };
        let known = catalog::all().find(|(name, _, _)| name.eq_ignore_ascii_case(action));
        match known.map(|(name, _, _)| *name) {
            Some("Login") => return self.login(msg, reply("Success"), reply("Error"), out),
            Some("Challenge") => {
                let mut r = if msg
                    .get("AuthType")
                    .is_some_and(|t| t.eq_ignore_ascii_case("MD5"))
                {
                    let c = challenge.to_string();
                    self.challenge = Some(c.clone());
                    reply("Success").push("Challenge", c).clone()
                } else {
                    reply("Error")
                        .push("Message", "Must specify AuthType")
                        .clone()
                };
                out.push(Output::Send(std::mem::take(&mut r)));
                return;
            }
            Some("Logoff") => {
                out.push(Output::Send(
                    reply("Goodbye")
                        .push("Message", "Thanks for all the fish.")
                        .clone(),
                ));
                out.push(Output::Close);
                self.closed = true;
                return;
            }
            _ => {}
        }
        if self.user.is_none() {
            out.push(Output::Send(
                reply("Error").push("Message", "Permission denied").clone(),
            ));
            return;
        }
        let Some((name, needs, _)) = known else {
            let text = format!("Invalid/unknown command: {action}. Use Action: ListCommands to show available commands.");
            out.push(Output::Send(reply("Error").push("Message", text).clone()));
            return;
        };
        let needs = Classes::parse(needs).unwrap_or_default();
        if needs != Classes::default() && !self.write.intersects(needs) {
            out.push(Output::Send(
                reply("Error").push("Message", "Permission denied").clone(),
            ));
            return;
        }
        match *name {
            "Ping" => {
                let r = reply("Success")
                    .push("Ping", "Pong")
                    .push("Timestamp", format!("{now_secs:.6}"))
                    .clone();
                out.push(Output::Send(r));
            }
            "Events" => {
                let mask = msg.get("EventMask").unwrap_or("");
                self.events = match mask.to_ascii_lowercase().as_str() {
                    "on" | "yes" | "true" => self.read,
                    "off" | "no" | "false" | "" => Classes::default(),
                    list => Classes::parse(list)
                        .map_or(Classes::default(), |c| Classes::intersection(c, self.read)),
                };
                let word = if self.events == Classes::default() {
                    "Events Off"
                } else {
                    "Events On"
                };
                out.push(Output::Send(reply("Success").push("Events", word).clone()));
            }
            "ListCommands" => {
                let mut r = reply("Success");
                for (n, classes, synopsis) in catalog::all() {
                    let privilege = if classes.is_empty() {
                        "<none>".to_owned()
                    } else {
                        format!("{classes},all")
                    };
                    r.push(n, format!("{synopsis}  (Priv: {privilege})"));
                }
                out.push(Output::Send(r));
            }
            "CoreSettings" => {
                let r = reply("Success")
                    .push("AMIversion", AMI_VERSION)
                    .push(
                        "AsteriskVersion",
                        concat!("Allerta ", env!("CARGO_PKG_VERSION")),
                    )
                    .push("SystemName", "")
                    .push("CoreMaxCalls", "0")
                    .push("CoreMaxLoadAvg", "0.000000")
                    .push("CoreRunUser", "")
                    .push("CoreRunGroup", "")
                    .push("CoreMaxFilehandles", "0")
                    .push("CoreRealTimeEnabled", "Yes")
                    .push("CoreCDRenabled", "No")
                    .push("CoreHTTPenabled", "No")
                    .push("SoundsSearchCustomDir", "No")
                    .clone();
                out.push(Output::Send(r));
            }
            "Filter" => out.push(Output::Send(self.add_filter(
                msg,
                reply("Success"),
                reply("Error"),
            ))),
            _ => out.push(Output::Perform(msg.clone())),
        }
    }

    /// `Filter` with `Operation: Add`: a regex on the event text, `!` first to exclude.
    fn add_filter(&mut self, msg: &Message, mut ok: Message, mut err: Message) -> Message {
        if !msg
            .get("Operation")
            .is_some_and(|o| o.eq_ignore_ascii_case("Add"))
        {
            return err.push("Message", "Unknown operation").clone();
        }
        let Some(filter) = msg.get("Filter").filter(|f| !f.is_empty()) else {
            return err
                .push("Message", "Filter Not Added: no Filter given")
                .clone();
        };
        if self.filters.len() >= MAX_FILTERS {
            return err
                .push(
                    "Message",
                    format!("Filter Not Added: at most {MAX_FILTERS} filters"),
                )
                .clone();
        }
        let (include, pattern) = match filter.strip_prefix('!') {
            Some(p) => (false, p),
            None => (true, filter),
        };
        match compile_filter(pattern) {
            Ok(r) => {
                self.filters.push((include, r));
                ok.push("Message", "Filter Added Successfully").clone()
            }
            Err(e) => err
                .push("Message", format!("Filter Not Added: {e}"))
                .clone(),
        }
    }

    fn login(&mut self, msg: &Message, ok: Message, mut err: Message, out: &mut Vec<Output>) {
        let name = msg.get("Username").unwrap_or("");
        let user = self.users.user(name).filter(|u| u.allows(self.peer));
        let md5 = msg
            .get("AuthType")
            .is_some_and(|t| t.eq_ignore_ascii_case("MD5"));
        let accepted = user.is_some_and(|u| {
            if md5 {
                let Some(challenge) = &self.challenge else {
                    return false;
                };
                let expected =
                    hex::encode(Md5::digest(format!("{challenge}{}", u.secret).as_bytes()));
                msg.get("Key").is_some_and(|k| {
                    same_secret(k.to_ascii_lowercase().as_bytes(), expected.as_bytes())
                })
            } else {
                msg.get("Secret")
                    .is_some_and(|s| same_secret(s.as_bytes(), u.secret.as_bytes()))
            }
        });
        let Some(user) = user.filter(|_| accepted) else {
            // As Asterisk 22: the error a second later, and the connection closed.
            out.push(Output::Pause(FAILED_LOGIN_PAUSE));
            out.push(Output::Send(
                err.push("Message", "Authentication failed").clone(),
            ));
            out.push(Output::Close);
            self.closed = true;
            return;
        };
        self.user = Some(user.name.clone());
        // The user's `eventfilter`s were compiled once when the file was read.
        self.filters = user
            .event_filters
            .iter()
            .filter_map(|f| {
                let (include, pattern) = f.strip_prefix('!').map_or((true, &f[..]), |p| (false, p));
                compile_filter(pattern).ok().map(|r| (include, r))
            })
            .collect();
        self.read = user.read;
        self.write = user.write;
        self.challenge = None;
        self.events = match msg.get("Events").map(str::to_ascii_lowercase).as_deref() {
            None | Some("on" | "yes" | "true") => user.read,
            Some("off" | "no" | "false") => Classes::default(),
            Some(list) => Classes::parse(list)
                .map_or(Classes::default(), |c| Classes::intersection(c, user.read)),
        };
        let mut ok = ok;
        out.push(Output::Send(
            ok.push("Message", "Authentication accepted").clone(),
        ));
    }
}

/// Compares a secret in a time that does not depend on where the first difference is (only
/// on the lengths), so that timing the answer does not tell a guesser how much was right.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let differ = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    // black_box: the optimiser must not turn the fold back into an early exit.
    std::hint::black_box(differ) == 0 && given.len() == expected.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reloaded_manager_conf_closes_sessions_of_removed_or_rekeyed_users_only() {
        let conf = |text: &str| Arc::new(Users::parse_str(text, "manager.conf").unwrap());
        let both = "[ops]\nsecret = a\nread = all\nwrite = all\n\n[app]\nsecret = b\nread = call\nwrite = call\n";
        let login = |user: &str, secret: &str| {
            let mut s = Session::new(conf(both), "10.77.0.100".parse().unwrap());
            let mut out = Vec::new();
            let mut m = Message::with("Action", "Login");
            m.push("Username", user).push("Secret", secret);
            s.on_action(&m, 0.0, 1, &mut out);
            assert_eq!(s.user(), Some(user), "{out:?}");
            s
        };
        let mut out = Vec::new();
        // ops removed: its session ends; app untouched: goes on.
        let only_app = "[app]\nsecret = b\nread = call\nwrite = call\n";
        let mut ops = login("ops", "a");
        assert!(ops.users_changed(conf(only_app), &mut out));
        assert!(ops.is_closed() && out.contains(&Output::Close));
        let mut app = login("app", "b");
        out.clear();
        assert!(!app.users_changed(conf(only_app), &mut out));
        assert!(out.is_empty() && !app.is_closed());
        // A new secret ends the session; narrower classes apply at once.
        assert!(login("app", "b").users_changed(
            conf("[app]\nsecret = c\nread = call\nwrite = call\n"),
            &mut out
        ));
        let mut narrowed = login("ops", "a");
        assert!(!narrowed.users_changed(
            conf("[ops]\nsecret = a\nread = call\nwrite = call\n"),
            &mut out
        ));
        assert_eq!(narrowed.read, Classes::parse("call").unwrap());
        // Not logged in: nothing to close; the next login uses the new file.
        let mut fresh = Session::new(conf(both), "10.77.0.100".parse().unwrap());
        assert!(!fresh.users_changed(conf(only_app), &mut out));
        let mut m = Message::with("Action", "Login");
        m.push("Username", "ops").push("Secret", "a");
        out.clear();
        fresh.on_action(&m, 0.0, 1, &mut out);
        assert_eq!(fresh.user(), None, "a removed user logged in: {out:?}");
    }

    fn users() -> Arc<Users> {
        Arc::new(
            Users::parse_str(
                "[app]\nsecret = s3cret\nread = call,system\nwrite = originate,system\n\n[ro]\nsecret = r\nread = all\nwrite =\n\n\
                 [anchor]\nsecret = anchorsecret\nread = all\nwrite = all\n",
                "manager.conf",
            )
            .unwrap(),
        )
    }

    fn ev(class: &str, name: &str) -> Event {
        Event {
            class: Classes::named(class).unwrap(),
            message: Message::with("Event", name),
        }
    }

    #[test]
    fn filters_pass_included_events_minus_excluded_ones_as_asterisk_does() {
        let mut s = session();
        let mut out = Vec::new();
        let login = [
            ("Action", "Login"),
            ("Username", "app"),
            ("Secret", "s3cret"),
        ];
        s.on_action(&action(&login), 0.0, 0, &mut out);
        let filter = |f: &str, s: &mut Session| {
            let mut out = Vec::new();
            s.on_action(
                &action(&[("Action", "Filter"), ("Operation", "Add"), ("Filter", f)]),
                0.0,
                0,
                &mut out,
            );
            sent(&out).remove(0)
        };
        assert!(s.wants(&ev("call", "Newstate")), "no filters: everything");
        assert!(filter("Event: (Newchannel|Hangup)", &mut s).contains("Filter Added Successfully"));
        assert!(s.wants(&ev("call", "Newchannel")));
        assert!(!s.wants(&ev("call", "Newstate")), "not included");
        assert!(filter("!Event: Hangup", &mut s).contains("Added"));
        assert!(!s.wants(&ev("call", "Hangup")), "excluded");
        assert!(filter("(unclosed", &mut s).starts_with("Response: Error"));
        let mut out = Vec::new();
        s.on_action(
            &action(&[("Action", "Filter"), ("Operation", "Del"), ("Filter", "x")]),
            0.0,
            0,
            &mut out,
        );
        assert!(sent(&out)[0].contains("Unknown operation"));
    }

    #[test]
    fn a_users_eventfilters_are_in_force_from_login() {
        let users = Arc::new(
            Users::parse_str(
                "[f]\nsecret = x\nread = all\nwrite = all\neventfilter = Event: Hangup\n",
                "manager.conf",
            )
            .unwrap(),
        );
        let mut s = Session::new(users, "10.77.0.100".parse().unwrap());
        let mut out = Vec::new();
        let login = [("Action", "Login"), ("Username", "f"), ("Secret", "x")];
        s.on_action(&action(&login), 0.0, 0, &mut out);
        assert!(s.wants(&ev("call", "Hangup")));
        assert!(!s.wants(&ev("call", "Newstate")));
    }

    fn action(fields: &[(&str, &str)]) -> Message {
        let mut m = Message::new();
        for (k, v) in fields {
            m.push(k, *v);
        }
        m
    }

    fn sent(out: &[Output]) -> Vec<String> {
        out.iter()
            .map(|o| match o {
                Output::Send(m) => {
                    let mut b = Vec::new();
                    m.encode(&mut b);
                    String::from_utf8(b).unwrap()
                }
                Output::Perform(m) => format!("perform {}", m.get("Action").unwrap_or("")),
                Output::Close => "close".into(),
                Output::Pause(_) => "pause".into(),
            })
            .collect()
    }

    fn session() -> Session {
        Session::new(users(), "10.77.0.100".parse().unwrap())
    }

    #[test]
    fn before_login_only_login_challenge_and_logoff_are_answered_as_asterisk_does() {
        let mut s = session();
        let mut out = Vec::new();
        s.on_action(
            &action(&[("Action", "Ping"), ("ActionID", "unauth-1")]),
            0.0,
            1,
            &mut out,
        );
        s.on_action(
            &action(&[("ActionID", "noaction-1"), ("Foo", "bar")]),
            0.0,
            1,
            &mut out,
        );
        s.on_action(
            &action(&[("Action", "Logoff"), ("ActionID", "unauth-2")]),
            0.0,
            1,
            &mut out,
        );
        assert_eq!(
            sent(&out),
            [
                "Response: Error\r\nActionID: unauth-1\r\nMessage: Permission denied\r\n\r\n",
                "Response: Error\r\nActionID: noaction-1\r\nMessage: Missing action in request\r\n\r\n",
                "Response: Goodbye\r\nActionID: unauth-2\r\nMessage: Thanks for all the fish.\r\n\r\n",
                "close",
            ]
        );
    }

    #[test]
    fn the_reference_md5_challenge_login_is_accepted() {
        // 03_challenge_md5_login.txt: challenge 572791233, user anchor, secret anchorsecret.
        let mut s = session();
        let mut out = Vec::new();
        s.on_action(
            &action(&[
                ("Action", "Challenge"),
                ("ActionID", "ch-1"),
                ("AuthType", "MD5"),
            ]),
            0.0,
            572_791_233,
            &mut out,
        );
        let key = "aebbeee194ca72dfd5f3b71573c861be";
        let login = [
            ("Action", "Login"),
            ("ActionID", "ch-2"),
            ("AuthType", "MD5"),
            ("Username", "anchor"),
            ("Key", key),
            ("Events", "off"),
        ];
        s.on_action(&action(&login), 0.0, 0, &mut out);
        assert_eq!(
            sent(&out),
            [
                "Response: Success\r\nActionID: ch-1\r\nChallenge: 572791233\r\n\r\n",
                "Response: Success\r\nActionID: ch-2\r\nMessage: Authentication accepted\r\n\r\n",
            ]
        );
        assert!(!s.wants(&ev("call", "Newchannel")), "Events: off");
    }

    #[test]
    fn a_bad_login_is_answered_a_second_later_and_closes_the_connection_as_asterisk_22() {
        // references/ami/01_bad_login: the error 1 s after the Login, then EOF.
        let mut s = session();
        let mut out = Vec::new();
        for (i, secret) in ["wrong", "s3cret"].iter().enumerate() {
            s.on_action(
                &action(&[
                    ("Action", "Login"),
                    ("ActionID", &format!("bad-{i}")),
                    ("Username", "app"),
                    ("Secret", secret),
                ]),
                0.0,
                0,
                &mut out,
            );
        }
        assert_eq!(out[0], Output::Pause(FAILED_LOGIN_PAUSE));
        let texts = sent(&out);
        assert_eq!(
            texts,
            [
                "pause",
                "Response: Error\r\nActionID: bad-0\r\nMessage: Authentication failed\r\n\r\n",
                "close"
            ],
            "nothing after the close, not even the right secret"
        );
        assert!(s.is_closed() && s.user().is_none());
    }

    #[test]
    fn secrets_are_equal_only_when_every_byte_and_the_length_are() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cre", b"s3cret"));
        assert!(!same_secret(b"s3crett", b"s3cret"));
        assert!(!same_secret(b"x3cret", b"s3cret"));
        assert!(!same_secret(b"", b"s3cret"));
    }

    #[test]
    fn after_login_actions_are_checked_against_the_write_classes() {
        let mut s = session();
        let mut out = Vec::new();
        s.on_action(
            &action(&[("Action", "Login"), ("Username", "ro"), ("Secret", "r")]),
            0.0,
            0,
            &mut out,
        );
        out.clear();
        s.on_action(
            &action(&[("Action", "Originate"), ("ActionID", "o1")]),
            0.0,
            0,
            &mut out,
        );
        s.on_action(
            &action(&[("Action", "Ping"), ("ActionID", "p1")]),
            1795312084.136503,
            0,
            &mut out,
        );
        s.on_action(
            &action(&[("Action", "Frobnicate"), ("ActionID", "unknown-1")]),
            0.0,
            0,
            &mut out,
        );
        assert_eq!(
            sent(&out),
            [
                "Response: Error\r\nActionID: o1\r\nMessage: Permission denied\r\n\r\n",
                "Response: Success\r\nActionID: p1\r\nPing: Pong\r\nTimestamp: 1795312084.136503\r\n\r\n",
                "Response: Error\r\nActionID: unknown-1\r\nMessage: Invalid/unknown command: Frobnicate. Use Action: ListCommands to show available commands.\r\n\r\n",
            ]
        );
        let mut s = session();
        out.clear();
        s.on_action(
            &action(&[
                ("Action", "Login"),
                ("Username", "app"),
                ("Secret", "s3cret"),
            ]),
            0.0,
            0,
            &mut out,
        );
        s.on_action(
            &action(&[("action", "originate"), ("ActionID", "o2")]),
            0.0,
            0,
            &mut out,
        );
        assert_eq!(sent(&out)[1], "perform originate");
        assert!(s.wants(&ev("call", "Newchannel")));
        assert!(
            !s.wants(&ev("dtmf", "Newchannel")),
            "not in the user's read classes"
        );
    }

    #[test]
    fn a_login_from_a_denied_address_fails_like_a_wrong_secret() {
        let users = Arc::new(
            Users::parse_str(
                "[u]\nsecret = x\ndeny = 0.0.0.0/0\npermit = 10.77.0.0/24\n",
                "m",
            )
            .unwrap(),
        );
        let mut s = Session::new(users, "192.0.2.9".parse().unwrap());
        let mut out = Vec::new();
        s.on_action(
            &action(&[("Action", "Login"), ("Username", "u"), ("Secret", "x")]),
            0.0,
            0,
            &mut out,
        );
        // (The server closes such a connection at accept when no user admits the address;
        // a user admitting it may be removed while it is connected.)
        assert_eq!(
            sent(&out),
            [
                "pause",
                "Response: Error\r\nMessage: Authentication failed\r\n\r\n",
                "close"
            ]
        );
        assert_eq!(s.user(), None);
    }
}
