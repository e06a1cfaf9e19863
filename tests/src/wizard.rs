//! What an administrator types into the vSphere wizard for a lab node, and the OVF
//! environment vCenter then hands the appliance (`allerta-ova env`): the acceptance run
//! boots the OVA with it, the pair's harness renders its nodes from it (`shipped_node`).

use std::path::Path;
use std::process::Command;

use crate::lab::{Lab, Node, CARRIER_IP, VIP};
use crate::prereq;

/// The pairing secret both lab nodes are given (unless a test pastes TLS material).
pub const SECRET: &str = "acceptance-pairing-secret-2026";

/// The wizard's answers for one node (what an administrator types in vSphere).
pub fn answers(node: Node, tls: Option<&TlsMaterial>) -> Vec<String> {
    let (trunk_in, trunk_out) = trunk_users(node);
    let mut set = vec![
        format!("data.ip={}", node.data_ip()),
        "data.prefix=24".into(),
        "data.gateway=10.77.0.1".into(),
        "data.dns=10.77.0.53".into(),
        format!("voice.ip={}", node.voice_ip()),
        "voice.prefix=24".into(),
        format!("ha.vip={VIP}"),
        "ha.vrid=51".into(),
        format!("ha.peer_ip={}", node.other().data_ip()),
        format!("trunk_in.registrar={CARRIER_IP}"),
        format!("trunk_in.user={trunk_in}"),
        format!("trunk_in.number={trunk_in}"),
        format!("trunk_in.password=pw-{trunk_in}"),
        format!("trunk_out.registrar={CARRIER_IP}"),
        format!("trunk_out.user={trunk_out}"),
        format!("trunk_out.number={trunk_out}"),
        format!("trunk_out.password=pw-{trunk_out}"),
    ];
    match tls {
        None => set.push(format!("sync.pairing_secret={SECRET}")),
        Some(m) => {
            // The wizard carries a PEM block on one line; first boot puts the breaks back.
            let one_line = |pem: &str| pem.trim().replace('\n', " ");
            let (cert, key) = m.node(node);
            set.push(format!("sync.tls_cert={}", one_line(cert)));
            set.push(format!("sync.tls_key={}", one_line(key)));
            set.push(format!("sync.peer_ca={}", one_line(&m.ca)));
        }
    }
    set
}

/// Each node's trunk users (inbound, outbound), which are also its numbers.
pub fn trunk_users(node: Node) -> (&'static str, &'static str) {
    match node {
        Node::A => ("0743111", "0743999"),
        Node::B => ("0743222", "0743998"),
    }
}

/// A CA and a certificate for each node, as the administrator's guide says to make them
/// (`allerta-sync tls-pair`), pasted into each node's wizard.
pub struct TlsMaterial {
    pub ca: String,
    pub a: (String, String),
    pub b: (String, String),
}

impl TlsMaterial {
    pub fn make(dir: &Path) -> Self {
        let out = Command::new(prereq::workspace_bin("allerta-sync"))
            .args(["tls-pair", "--nodes", "allerta-a,allerta-b", "--out"])
            .arg(dir)
            .output()
            .expect("allerta-sync tls-pair");
        assert!(
            out.status.success(),
            "allerta-sync tls-pair: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let read = |node: &str, f: &str| {
            std::fs::read_to_string(dir.join(node).join(f))
                .unwrap_or_else(|e| panic!("{node}/{f} from tls-pair: {e}"))
        };
        Self {
            ca: read("allerta-a", "ca.pem"),
            a: (read("allerta-a", "node.pem"), read("allerta-a", "node.key")),
            b: (read("allerta-b", "node.pem"), read("allerta-b", "node.key")),
        }
    }

    pub fn node(&self, node: Node) -> (&str, &str) {
        let (c, k) = match node {
            Node::A => &self.a,
            Node::B => &self.b,
        };
        (c, k)
    }
}

/// The OVF environment vCenter would give `node` (`allerta-ova env`).
pub fn ovf_env(lab: &Lab, node: Node, answers: &[String]) -> String {
    let role = if node == Node::A { "master" } else { "backup" };
    let out_file = lab.dir().join(format!("ovf-env-{}.xml", node.role()));
    let mut cmd = Command::new(prereq::workspace_bin("allerta-ova"));
    cmd.args(["env", "--role", role]);
    for kv in answers {
        cmd.arg("--set").arg(kv);
    }
    cmd.arg("--out").arg(&out_file);
    let out = cmd.output().expect("allerta-ova env");
    assert!(
        out.status.success(),
        "allerta-ova env: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&out_file).expect("ovf-env.xml")
}
