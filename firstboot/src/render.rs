//! Pure: checked [`NodeSettings`] and the node's two network adapters turned into the
//! files a node runs from: `/etc/allerta/node.toml` (what `allerta-supervisor` and
//! `allerta-mediacore` load), the trunks in `/etc/allerta/node/pjsip.conf` (0600: it holds
//! the trunk passwords), systemd-networkd `.network` files matched by MAC address (the
//! adapters' names differ between VMware and QEMU), host name, hosts, the console banner
//! and the sync agent's secret or TLS material. [`super::apply`] writes them.

use std::fmt::Write as _;

use super::nics::Nic;
use super::validate::{NodeSettings, SyncAuth, Trunk};

/// One file to write: absolute path on the node, contents, permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: &'static str,
    pub contents: String,
    pub mode: u32,
}

/// Everything first boot writes, and the files it removes (those of a sync
/// authentication the environment no longer asks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub files: Vec<File>,
    pub remove: Vec<&'static str>,
}

pub const NODE_TOML: &str = "/etc/allerta/node.toml";
pub const PJSIP_CONF: &str = "/etc/allerta/node/pjsip.conf";
pub const DATA_NETWORK: &str = "/etc/systemd/network/10-allerta-data.network";
pub const VOICE_NETWORK: &str = "/etc/systemd/network/20-allerta-voice.network";
pub const PAIRING_SECRET: &str = "/etc/allerta/node/tls/pairing.secret";
// The names the sync agent reads (`sync_agent::tls`): the pair CA, this node's cert and key.
const TLS_CERT: &str = "/etc/allerta/node/tls/node.pem";
const TLS_KEY: &str = "/etc/allerta/node/tls/node.key";
const TLS_PEER_CA: &str = "/etc/allerta/node/tls/ca.pem";

const HEADER: &str = "written by allerta-firstboot from the OVF environment (vApp properties); \
                      edit those, not this file";

/// The files for `settings` on a node whose data and voice adapters are `data`, `voice`.
pub fn plan(settings: &NodeSettings, data: &Nic, voice: &Nic) -> Plan {
    let mut files = vec![
        File {
            path: NODE_TOML,
            contents: node_toml(settings, data),
            mode: 0o644,
        },
        File {
            path: PJSIP_CONF,
            contents: pjsip_conf(settings),
            mode: 0o600,
        },
        File {
            path: DATA_NETWORK,
            contents: network(settings, data, true),
            mode: 0o644,
        },
        File {
            path: VOICE_NETWORK,
            contents: network(settings, voice, false),
            mode: 0o644,
        },
        File {
            path: "/etc/hostname",
            contents: format!("{}\n", settings.hostname),
            mode: 0o644,
        },
        File {
            path: "/etc/hosts",
            contents: format!(
                "# {HEADER}\n127.0.0.1\tlocalhost\n{}\t{}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
                settings.data.addr(),
                settings.hostname
            ),
            mode: 0o644,
        },
        File {
            path: "/etc/issue.d/50-allerta.issue",
            contents: banner(settings, data, voice),
            mode: 0o644,
        },
    ];
    let remove = match &settings.sync {
        SyncAuth::Pairing { secret } => {
            files.push(File {
                path: PAIRING_SECRET,
                contents: format!("{secret}\n"),
                mode: 0o600,
            });
            vec![TLS_CERT, TLS_KEY, TLS_PEER_CA]
        }
        SyncAuth::Tls { cert, key, peer_ca } => {
            for (path, contents, mode) in [
                (TLS_CERT, cert, 0o644),
                (TLS_KEY, key, 0o600),
                (TLS_PEER_CA, peer_ca, 0o644),
            ] {
                files.push(File {
                    path,
                    contents: contents.clone(),
                    mode,
                });
            }
            vec![PAIRING_SECRET]
        }
    };
    Plan { files, remove }
}

/// One line for the console and the log: what this node now is.
pub fn summary(settings: &NodeSettings, data: &Nic, voice: &Nic) -> String {
    format!(
        "{} {}: data {} on {}, voice {} on {}, VIP {}, peer {}, VRRP {} priority {}",
        settings.role.as_str(),
        settings.hostname,
        settings.data,
        data.name,
        settings.voice,
        voice.name,
        settings.vip,
        settings.peer,
        settings.vrid,
        settings.priority
    )
}

fn banner(settings: &NodeSettings, data: &Nic, voice: &Nic) -> String {
    format!("Allerta {}\n\n", summary(settings, data, voice))
}

/// The node file, in the shape of `systemd/node.toml.example`: adverts by unicast to the
/// peer (VMware port groups often drop multicast), metrics on the data address.
fn node_toml(s: &NodeSettings, data: &Nic) -> String {
    let ip = s.data.addr();
    format!(
        r#"# /etc/allerta/node.toml: {HEADER}.
# Every key is documented in /usr/share/doc/allerta/node.toml.example.

[node]
name = "{hostname}"

[log]
filter = "info"

[supervisor]
control_socket = "/run/allerta/supervisor.sock"
metrics_bind = "{ip}:9480"
peer_status = "{peer}:9480"

# role: {role}
[[vrrp_instance]]
name = "data"
interface = "{iface}"
vrid = {vrid}
priority = {priority}
version = 3
advert_interval_ms = 100
preempt = true
preempt_delay_ms = 10000
virtual_ips = ["{vip}/{prefix}"]
unicast_peers = ["{peer}"]
source_ip = "{ip}"

[[component]]
name = "mediacore"
command = "/usr/bin/allerta-mediacore"
args = ["--config", "/etc/allerta/node.toml"]
control_socket = "/run/allerta/mediacore.sock"

[[component]]
name = "sync"
command = "/usr/bin/allerta-sync"
args = ["--config", "/etc/allerta/node.toml"]
control_socket = "/run/allerta/sync.sock"

# The operators' web console, HTTPS on every address (so on the VIP): the master serves
# it, the backup a page naming the master. Its [console] table is left to its defaults.
[[component]]
name = "web"
command = "/usr/bin/allerta-web"
args = ["--config", "/etc/allerta/node.toml"]
control_socket = "/run/allerta/web.sock"

[[check]]
name = "disk"
disk_path = "/var/lib/allerta"
min_free_mb = 200
interval_ms = 10000
weight = 0

[mediacore]
pjsip = "{pjsip}"
extensions = "/etc/allerta/shared/extensions.conf"
prompts_dir = "/etc/allerta/shared/prompts"
recordings_dir = "/var/lib/allerta/recordings"
outgoing_dir = "/var/spool/allerta/outgoing"
media_address = "{voice}"
database = "/var/lib/allerta/allerta.db"
campaign_trunk = "trunk-out"
sync_wake_socket = "/run/allerta/sync-wake.sock"

# Replication to the peer: this node listens where the master connects (as backup) and
# connects to the peer (as master); mutual TLS from the wizard's {auth}.
[sync]
listen = "{ip}:7480"
peer = "{peer}:7480"
shared_dir = "/etc/allerta/shared"
db = "/var/lib/allerta/allerta.db"
state_dir = "/var/lib/allerta/sync"
divergence_dir = "/var/lib/allerta/divergence"
wake_socket = "/run/allerta/sync-wake.sock"
{tls}
"#,
        auth = match s.sync {
            SyncAuth::Pairing { .. } => "pairing secret",
            SyncAuth::Tls { .. } => "TLS material",
        },
        tls = match s.sync {
            SyncAuth::Pairing { .. } => format!("pairing_secret_file = \"{PAIRING_SECRET}\""),
            SyncAuth::Tls { .. } => "tls_dir = \"/etc/allerta/node/tls\"".to_owned(),
        },
        hostname = s.hostname,
        role = s.role.as_str(),
        iface = data.name,
        vrid = s.vrid,
        priority = s.priority,
        vip = s.vip,
        prefix = s.data.prefix_len(),
        peer = s.peer,
        pjsip = PJSIP_CONF,
        voice = s.voice.addr(),
    )
}

/// A value in an Asterisk `.conf` file: `;` starts a comment there, `\;` is a literal.
fn conf_value(value: &str) -> String {
    value.replace(';', "\\;")
}

fn registrar_host(trunk: &Trunk) -> &str {
    trunk
        .registrar
        .rsplit_once(':')
        .map_or(trunk.registrar.as_str(), |(host, _)| host)
}

/// The node's two trunks in the `pjsip.conf` subset the media core reads (the shape of
/// `systemd/pjsip.conf.example`). Both register; calls from the inbound registrar's
/// address are identified as the inbound trunk's and go to `from-carrier`.
fn pjsip_conf(s: &NodeSettings) -> String {
    let voice = s.voice.addr();
    let mut out = format!(
        "; /etc/allerta/node/pjsip.conf: {HEADER}.\n\n\
         [transport-udp]\ntype=transport\nprotocol=udp\nbind={voice}:5060\n\n\
         [transport-tcp]\ntype=transport\nprotocol=tcp\nbind={voice}:5060\n"
    );
    for (name, trunk, inbound) in [
        ("trunk-in", &s.trunk_in, true),
        ("trunk-out", &s.trunk_out, false),
    ] {
        let host = registrar_host(trunk);
        let what = if inbound {
            "inbound: this node's alert line"
        } else {
            "outbound: alert calls"
        };
        let _ = write!(
            out,
            "\n; ---- {what}, {number} ----\n\
             [{name}-auth]\ntype=auth\nauth_type=userpass\nusername={user}\npassword={password}\n\n\
             [{name}]\ntype=aor\ncontact=sip:{registrar}\n\n\
             [{name}]\ntype=endpoint\ncontext=from-carrier\ndisallow=all\nallow=alaw,ulaw\n\
             outbound_auth={name}-auth\naors={name}\nfrom_user={number}\n\n\
             [{name}]\ntype=registration\nserver_uri=sip:{registrar}\nclient_uri=sip:{user}@{host}\n\
             contact_user={number}\noutbound_auth={name}-auth\nexpiration=600\nretry_interval=60\n",
            number = trunk.number,
            user = trunk.user,
            password = conf_value(&trunk.password),
            registrar = trunk.registrar,
        );
        if inbound {
            let _ = write!(
                out,
                "\n[{name}]\ntype=identify\nendpoint={name}\nmatch={host}\n"
            );
        }
    }
    out
}

fn network(s: &NodeSettings, nic: &Nic, is_data: bool) -> String {
    let mut out = format!(
        "# {HEADER}\n[Match]\nMACAddress={mac}\n\n[Network]\nAddress={address}\n",
        mac = nic.mac,
        address = if is_data { s.data } else { s.voice },
    );
    if is_data {
        let _ = writeln!(out, "Gateway={}", s.gateway);
        for dns in &s.dns {
            let _ = writeln!(out, "DNS={dns}");
        }
    }
    // The supervisor adds and removes the VIP itself; networkd must not drop it as a
    // foreign address when it reconfigures the link.
    out.push_str("KeepConfiguration=yes\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{self, tests::environment};

    pub(crate) fn nics() -> (Nic, Nic) {
        (
            Nic {
                name: "ens160".into(),
                mac: "00:50:56:00:00:01".into(),
            },
            Nic {
                name: "ens192".into(),
                mac: "00:50:56:00:00:02".into(),
            },
        )
    }

    fn file<'a>(plan: &'a Plan, path: &str) -> &'a File {
        plan.files.iter().find(|f| f.path == path).unwrap()
    }

    #[test]
    fn the_node_file_names_the_sync_peer_and_the_pairs_authentication() {
        let (data, voice) = nics();
        let settings = validate::validate(&environment("master")).unwrap();
        let plan = plan(&settings, &data, &voice);
        let doc: toml::Table = file(&plan, NODE_TOML).contents.parse().unwrap();
        let sync = doc["sync"].as_table().expect("a [sync] table");
        assert_eq!(
            sync["listen"].as_str(),
            Some(&*format!("{}:7480", settings.data.addr()))
        );
        assert_eq!(
            sync["peer"].as_str(),
            Some(&*format!("{}:7480", settings.peer))
        );
        assert_eq!(sync["pairing_secret_file"].as_str(), Some(PAIRING_SECRET));
        assert_eq!(
            doc["mediacore"]["campaign_trunk"].as_str(),
            Some("trunk-out")
        );
    }

    #[test]
    fn secrets_are_private_and_escaped() {
        let (data, voice) = nics();
        let settings = validate::validate(&environment("master")).unwrap();
        let plan = plan(&settings, &data, &voice);
        let pjsip = file(&plan, PJSIP_CONF);
        assert_eq!(pjsip.mode, 0o600);
        assert!(
            pjsip.contents.contains("password=in\\;secret\n"),
            "{}",
            pjsip.contents
        );
        assert!(pjsip.contents.contains("match=sip.provider.example\n"));
        assert_eq!(
            file(&plan, "/etc/allerta/node/tls/pairing.secret").mode,
            0o600
        );
        assert!(plan.remove.contains(&"/etc/allerta/node/tls/node.key"));
    }

    #[test]
    fn networks_are_matched_by_mac_and_keep_the_vip() {
        let (data, voice) = nics();
        let settings = validate::validate(&environment("backup")).unwrap();
        let plan = plan(&settings, &data, &voice);
        assert_eq!(
            file(&plan, DATA_NETWORK)
                .contents
                .lines()
                .skip(1)
                .collect::<Vec<_>>(),
            [
                "[Match]",
                "MACAddress=00:50:56:00:00:01",
                "",
                "[Network]",
                "Address=10.77.0.12/24",
                "Gateway=10.77.0.1",
                "DNS=10.77.0.2",
                "DNS=10.77.0.3",
                "KeepConfiguration=yes",
                "LinkLocalAddressing=no",
                "IPv6AcceptRA=no"
            ]
        );
        let voice_file = &file(&plan, VOICE_NETWORK).contents;
        assert!(voice_file.contains("Address=10.78.0.12/24\n") && !voice_file.contains("Gateway"));
        assert_eq!(file(&plan, "/etc/hostname").contents, "allerta-b\n");
    }
}
