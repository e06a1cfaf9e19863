//! A lab node's files as the product writes them. The pair's harness does not write its
//! own node file: it gives the node the OVF environment the vSphere wizard would
//! (`wizard`), runs first boot's own code on it (`firstboot`: parse, validate,
//! render), and moves what that wrote into the lab node's directories (both nodes share
//! one machine here). Every change from first boot's files is listed below with its
//! reason, and each is checked against the rendering, so the lab and the product cannot
//! drift apart unnoticed: a path first boot starts writing that has no lab place, a key
//! the lab replaces that first boot stops writing, or a key the lab adds that first boot
//! starts writing, all fail the harness until someone decides.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use firstboot::env::Environment;
use firstboot::nics::Nic;
use firstboot::render::{self, NODE_TOML, PJSIP_CONF};
use firstboot::validate;

use crate::lab::{Lab, Node};
use crate::sync::SyncNode;

/// Where a lab node keeps what the appliance keeps under `/etc/allerta`, `/var/lib/allerta`,
/// `/run/allerta` and `/var/spool/allerta`.
pub struct Places<'a> {
    /// The node's run directory: sockets, `node.toml`, `node/` (trunks, pairing secret),
    /// the spool.
    pub run: PathBuf,
    /// The node's data directory (what the appliance has on its data disk: database,
    /// replicated tree, sync state, divergence reports, supervisor state).
    pub sync: &'a SyncNode,
    /// Where the node's programs are (the appliance's `/usr/bin`): this build's, or
    /// another version's for a rolling upgrade.
    pub bin: PathBuf,
}

impl Places<'_> {
    pub fn node_toml(&self) -> PathBuf {
        self.run.join("node.toml")
    }

    /// The lab place of an absolute path on the appliance; None for a path the lab has no
    /// place for. Most specific first.
    fn relocate(&self, path: &str) -> Option<PathBuf> {
        // The sync agent's sockets where the lab's `SyncNode` (its status, the test's
        // ledger writer) looks for them.
        let exact: [(&str, PathBuf); 3] = [
            ("/run/allerta/sync.sock", self.sync.control()),
            ("/run/allerta/sync-wake.sock", self.sync.wake()),
            (NODE_TOML, self.node_toml()),
        ];
        if let Some((_, to)) = exact.iter().find(|(from, _)| *from == path) {
            return Some(to.clone());
        }
        let prefixes: [(&str, PathBuf); 6] = [
            ("/etc/allerta/shared", self.sync.shared()),
            ("/etc/allerta/node", self.run.join("node")),
            ("/var/lib/allerta", self.sync.dir.clone()),
            ("/run/allerta", self.run.clone()),
            ("/var/spool/allerta", self.run.join("spool")),
            // The workspace's build of the binaries the image installs.
            ("/usr/bin", self.bin.clone()),
        ];
        prefixes.iter().find_map(|(from, to)| {
            let rest = path.strip_prefix(from)?;
            (rest.is_empty() || rest.starts_with('/'))
                .then(|| PathBuf::from(format!("{}{rest}", to.display())))
        })
    }
}

/// Defaults of the programs that name a path on the appliance and that first boot does
/// not write (the program's default applies there). Made explicit so that they too get a
/// lab place; each must match the program's default (`supervisor::config`,
/// `mediacore::settings`; the web console reads `[availability] windows` with the same
/// default, `console::config`).
const PATH_DEFAULTS: &[(&str, &str, &str)] = &[
    ("supervisor", "state_dir", "/var/lib/allerta/supervisor"),
    ("availability", "windows", "/etc/allerta/shared/sla.toml"),
    ("mediacore", "manager", "/etc/allerta/shared/manager.conf"),
];

/// A deliberate difference between a lab node and the appliance.
pub struct Difference {
    /// `table.key` in `node.toml` (`vrrp_instance.key`: the first instance).
    pub key: &'static str,
    pub value: toml::Value,
    /// True: first boot writes this key and the lab replaces its value. False: first boot
    /// leaves it to the program's default and the lab sets it.
    pub replaces: bool,
    pub why: &'static str,
}

/// The differences of the pair's harness (`appliance`): lab timing and the lab's carrier.
/// Beyond these keys, a lab node differs from an appliance in what is not in `node.toml`:
/// - the trunks (`pjsip.conf`) are the lab's (`campaign::campaign_voice`): the harness's
///   carrier is sipp citizens with no registrar. First boot's trunks register with a real
///   registrar (kamailio) in the acceptance run and `firstboot_mediacore`;
/// - the replicated tree is seeded with the lab's dialplan, AMI user and tone prompts (the
///   image seeds its examples), alike on both nodes as the image does;
/// - the network files, host name, hosts and console banner are not written: the lab's
///   namespaces have their addresses already;
/// - the processes are not run by systemd (the acceptance run boots the image's units).
pub fn harness_differences(interval_ms: u64, preempt_delay_ms: u64, lines: u32) -> Vec<Difference> {
    let int = |v: u64| toml::Value::Integer(v as i64);
    let text = |v: &str| toml::Value::String(v.into());
    vec![
        Difference {
            key: "log.filter",
            value: text("info,supervisor=debug"),
            replaces: true,
            why: "the tests wait for the supervisor's debug lines",
        },
        Difference {
            key: "vrrp_instance.advert_interval_ms",
            value: int(interval_ms),
            replaces: true,
            why: "a test may choose its advert interval (100 ms as shipped by default)",
        },
        Difference {
            key: "vrrp_instance.preempt_delay_ms",
            value: int(preempt_delay_ms),
            replaces: true,
            why: "2 s instead of 10 s: a returning node's sync check is heard well within it \
                  in the lab, and the tests that bring a node back finish sooner",
        },
        Difference {
            key: "mediacore.campaign_trunk",
            value: text("carrier-out"),
            replaces: true,
            why: "the lab's trunk file (see above) names its outbound trunk carrier-out",
        },
        Difference {
            key: "mediacore.campaign_lines",
            value: int(u64::from(lines)),
            replaces: false,
            why: "the default (30) fits the shipped trunk; the lab sizes its own",
        },
        Difference {
            key: "mediacore.rtp_timeout_secs",
            value: int(60),
            replaces: false,
            why: "the default is 30 s; the lab's long campaign calls need 60",
        },
        Difference {
            key: "mediacore.supervisor_lease_ms",
            value: int(300),
            replaces: false,
            why: "the default is 500 ms; the lab runs the shortest its 100 ms adverts and \
                  50/100 ms probes allow (`contract::min_lease`), so takeovers dial sooner",
        },
        Difference {
            key: "sync.scan_interval_secs",
            value: int(2),
            replaces: false,
            why: "a missed file event is caught within 2 s instead of a minute",
        },
        Difference {
            key: "sync.verify_interval_secs",
            value: int(1),
            replaces: false,
            why: "the tables' digests compared every second (10 minutes as shipped) so a \
                  test sees a divergence",
        },
    ]
}

/// The OVF environment the lab's wizard answers make for `node`, as `allerta-ova env`
/// writes it, with the node's lab name as its host name.
pub fn environment(lab: &Lab, node: Node) -> String {
    let mut answers = crate::wizard::answers(node, None);
    answers.push(format!("node.hostname={}", node.role()));
    crate::wizard::ovf_env(lab, node, &answers)
}

/// Runs first boot on `env` for `node` (its lab adapters `data0` and `voice0`), moves its
/// files to `places`, applies `differences`, and writes the node's files: `node.toml`
/// (returned), the pairing secret, and `pjsip` as the node's trunks.
pub fn write(
    lab: &Lab,
    node: Node,
    env: &str,
    places: &Places<'_>,
    differences: &[Difference],
    pjsip: &str,
) -> PathBuf {
    let env = Environment::parse(env).unwrap_or_else(|e| panic!("the lab's OVF environment: {e}"));
    let settings = validate::validate(&env)
        .unwrap_or_else(|e| panic!("first boot refuses the lab's wizard answers: {e:?}"));
    let nic = |name: &str| Nic {
        name: name.into(),
        mac: lab.mac(node.role(), name),
    };
    let plan = render::plan(&settings, &nic("data0"), &nic("voice0"));
    for file in &plan.files {
        let contents = match file.path {
            NODE_TOML => node_toml(&file.contents, places, differences),
            PJSIP_CONF => pjsip.to_owned(),
            path if path.starts_with("/etc/allerta/") => file.contents.clone(),
            // Networks, host name, hosts, banner: see `harness_differences`.
            _ => continue,
        };
        let to = places.relocate(file.path).unwrap_or_else(|| {
            panic!(
                "first boot writes {}: the lab has no place for it",
                file.path
            )
        });
        std::fs::create_dir_all(to.parent().expect("a file has a directory"))
            .expect("a node directory");
        std::fs::write(&to, contents).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(file.mode))
            .expect("a node file's mode");
    }
    places.node_toml()
}

/// First boot's `node.toml` with its paths moved and `differences` applied.
pub fn node_toml(rendered: &str, places: &Places<'_>, differences: &[Difference]) -> String {
    let mut doc: toml::Table = rendered
        .parse()
        .unwrap_or_else(|e| panic!("first boot's node.toml does not parse: {e}\n{rendered}"));
    for (table, key, default) in PATH_DEFAULTS {
        let table = doc
            .entry(*table)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .expect("a table");
        assert!(
            !table.contains_key(*key),
            "first boot now writes {key}: remove it from shipped_node::PATH_DEFAULTS"
        );
        table.insert((*key).into(), toml::Value::String((*default).into()));
    }
    relocate_paths(&mut doc, places);
    for d in differences {
        let (table, key) = d.key.split_once('.').expect("table.key");
        let table = match doc.get_mut(table) {
            Some(toml::Value::Table(t)) => t,
            Some(toml::Value::Array(a)) => a
                .first_mut()
                .and_then(toml::Value::as_table_mut)
                .expect("an array of tables"),
            _ => panic!(
                "{}: first boot writes no [{table}] table ({})",
                d.key, d.why
            ),
        };
        assert_eq!(
            table.contains_key(key),
            d.replaces,
            "{}: first boot {} this key now; the lab's difference says it {} ({})",
            d.key,
            if d.replaces {
                "no longer writes"
            } else {
                "writes"
            },
            if d.replaces { "replaces it" } else { "adds it" },
            d.why
        );
        table.insert(key.into(), d.value.clone());
    }
    format!(
        "# A lab node's node.toml: first boot's, moved into the lab and with the harness's \
         differences (tests/src/shipped_node.rs).\n{}",
        toml::to_string(&doc).expect("node.toml serializes")
    )
}

/// Every string in `value` that is an absolute path on the appliance, moved to its lab
/// place. A path with no lab place fails: the lab must not use the machine's own.
fn relocate_paths(doc: &mut toml::Table, places: &Places<'_>) {
    fn walk(value: &mut toml::Value, places: &Places<'_>) {
        match value {
            toml::Value::String(s) if s.starts_with('/') => {
                let to = places.relocate(s).unwrap_or_else(|| {
                    panic!("first boot's node.toml names {s}: the lab has no place for it")
                });
                *s = to.display().to_string();
            }
            toml::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, places)),
            toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| walk(v, places)),
            _ => {}
        }
    }
    doc.iter_mut().for_each(|(_, v)| walk(v, places));
}
