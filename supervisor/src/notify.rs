//! keepalived-compatible notify hooks: `notify_master`, `notify_backup`, `notify_fault`,
//! `notify_stop` run with no arguments, and `notify` run as
//! `notify INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>`, so existing scripts work.

use std::path::PathBuf;

use crate::config::Notify;
use crate::vrrp::machine::State;

/// The commands to run for an instance entering `state` (pure).
pub fn commands(
    notify: &Notify,
    instance: &str,
    state: State,
    priority: u8,
) -> Vec<(PathBuf, Vec<String>)> {
    let (word, specific) = match state {
        State::Master => ("MASTER", &notify.master),
        State::Backup => ("BACKUP", &notify.backup),
        State::Fault => ("FAULT", &notify.fault),
        State::Initialize => ("STOP", &notify.stop),
    };
    let mut out = Vec::new();
    if let Some(script) = specific {
        out.push((script.clone(), Vec::new()));
    }
    if let Some(script) = &notify.any {
        out.push((
            script.clone(),
            vec![
                "INSTANCE".into(),
                instance.into(),
                word.into(),
                priority.to_string(),
            ],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_keepalived_s() {
        let notify = Notify {
            master: Some("/m".into()),
            any: Some("/n".into()),
            ..Notify::default()
        };
        assert_eq!(
            commands(&notify, "data", State::Master, 200),
            [
                ("/m".into(), vec![]),
                (
                    "/n".into(),
                    vec![
                        "INSTANCE".into(),
                        "data".into(),
                        "MASTER".into(),
                        "200".into()
                    ]
                )
            ]
        );
        assert_eq!(
            commands(&notify, "data", State::Initialize, 0)[0].1[2],
            "STOP"
        );
    }
}
