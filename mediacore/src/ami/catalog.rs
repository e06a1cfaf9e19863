//! Pure: the one catalog of the AMI actions we answer, for ListCommands, the privilege check
//! and dispatch: (name, write classes needed (any of them; empty = any logged-in user),
//! synopsis).

pub type Entry = (&'static str, &'static str, &'static str);

/// Asterisk's actions we answer: (name, write classes needed (any of them; empty = any
/// logged-in user), synopsis).
pub const ASTERISK: [Entry; 27] = [
    ("Ping", "", "Keepalive command."),
    ("Login", "", "Login Manager."),
    ("Logoff", "", "Logoff Manager."),
    ("Challenge", "", "Generate Challenge for MD5 Auth."),
    ("Events", "", "Control Event Flow."),
    ("ListCommands", "", "List available manager commands."),
    (
        "CoreSettings",
        "system,reporting",
        "Show PBX core settings (version etc).",
    ),
    (
        "CoreStatus",
        "system,reporting",
        "Show PBX core status variables.",
    ),
    (
        "CoreShowChannels",
        "system,reporting",
        "List currently active channels.",
    ),
    ("Status", "system,call,reporting", "List channel status."),
    ("Originate", "originate", "Originate a call."),
    ("Hangup", "system,call", "Hangup channel."),
    ("Redirect", "call", "Redirect (transfer) a call."),
    (
        "PlayDTMF",
        "call",
        "Play DTMF signal on a specific channel.",
    ),
    (
        "Getvar",
        "call,reporting",
        "Gets a channel variable or function value.",
    ),
    (
        "Setvar",
        "call",
        "Sets a channel variable or function value.",
    ),
    (
        "Filter",
        "system",
        "Dynamically add filters for the current manager session.",
    ),
    (
        "AllertaStatus",
        "system,reporting",
        "Allerta: this node's role, calls and trunks.",
    ),
    ("Command", "command", "Execute Asterisk CLI Command."),
    ("Reload", "system,config", "Send a reload event."),
    ("PJSIPShowEndpoints", "system", "Lists PJSIP endpoints."),
    (
        "PJSIPShowRegistrationsOutbound",
        "system",
        "Lists PJSIP outbound registrations.",
    ),
    ("UserEvent", "user", "Send an arbitrary event."),
    ("AbsoluteTimeout", "system,call", "Set absolute timeout."),
    ("DBGet", "system,reporting", "Get DB Entry."),
    ("DBPut", "system", "Put DB entry."),
    ("DBDel", "system", "Delete DB entry."),
];

/// Allerta's own actions (`campaigns`): the campaign actions, named `Allerta…` so they
/// cannot clash with Asterisk's.
pub const ALLERTA: [Entry; 9] = [
    (
        "AllertaCampaignCreate",
        "originate",
        "Allerta: create an alert campaign.",
    ),
    (
        "AllertaCampaignStart",
        "originate",
        "Allerta: start a campaign.",
    ),
    (
        "AllertaCampaignPause",
        "originate",
        "Allerta: pause a campaign.",
    ),
    (
        "AllertaCampaignResume",
        "originate",
        "Allerta: resume a campaign.",
    ),
    (
        "AllertaCampaignStop",
        "originate",
        "Allerta: stop a campaign.",
    ),
    (
        "AllertaCampaignStatus",
        "reporting,originate",
        "Allerta: a campaign's progress and ETA.",
    ),
    // Citizens' names and numbers: for those who may run campaigns, not for `reporting`
    // (which Asterisk gives to dashboards), which has AllertaCampaignStatus's figures.
    (
        "AllertaCampaignReport",
        "originate",
        "Allerta: who was reached.",
    ),
    (
        "AllertaMessageSet",
        "originate",
        "Allerta: create or replace an alert message.",
    ),
    (
        "AllertaContactsImport",
        "originate",
        "Allerta: import contacts into a list.",
    ),
];

/// Asterisk's actions we answer, then Allerta's own.
pub fn all() -> impl Iterator<Item = &'static Entry> {
    ASTERISK.iter().chain(ALLERTA.iter())
}

/// Whether `action` (any case) is one of Allerta's own.
pub fn is_allerta(action: &str) -> bool {
    ALLERTA
        .iter()
        .any(|(n, _, _)| n.eq_ignore_ascii_case(action))
}
