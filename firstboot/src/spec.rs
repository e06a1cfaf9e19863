//! Pure: the appliance's vApp properties, the one list both sides read. The OVA tool
//! (`vmware/`) writes the OVF descriptor's `ProductSection` from it (categories, labels,
//! descriptions, types, qualifiers, per-role defaults), and first boot parses the OVF
//! environment through it ([`super::validate`]), so a property cannot exist on one side
//! only: the descriptor is generated, and a test fails unless the validator consumes every
//! property listed here (and the validator panics on a key that is not listed).

/// The two deployment options of the OVA ("Select configuration" in the vSphere wizard);
/// the first is the default.
pub const DEPLOYMENT_OPTIONS: [DeploymentOption; 2] = [
    DeploymentOption {
        id: "master",
        label: "Master",
        description: "The node that normally holds the virtual IP and runs the alert campaigns.",
    },
    DeploymentOption {
        id: "backup",
        label: "Backup",
        description: "The node that takes over when the master, or any part of it, fails.",
    },
];

/// One entry of the OVF `DeploymentOptionSection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentOption {
    /// `ovf:id`, also the value of `node.role` this option presets.
    pub id: &'static str,
    /// What the wizard shows.
    pub label: &'static str,
    /// The wizard's explanation.
    pub description: &'static str,
}

/// What a property holds: how first boot parses it and what type and qualifiers the
/// descriptor declares (the wizard enforces the qualifiers before the VM ever boots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One of a fixed list (`ValueMap{..}`: a drop-down in the wizard).
    Choice(&'static [&'static str]),
    /// An RFC 1123 host name label: letters, digits, hyphens, 1..=63.
    Hostname,
    /// A dotted-quad IPv4 address (`vmw:qualifiers="Ip"`: the wizard checks the form).
    Ipv4,
    /// IPv4 addresses separated by commas or spaces; may be empty.
    Ipv4List,
    /// An unsigned integer in `min..=max` (`uint8`, `MinValue`, `MaxValue`).
    Uint8 { min: u8, max: u8 },
    /// Free text of `min_len..=max_len` characters without control characters.
    Text { min_len: u16, max_len: u16 },
    /// A secret: masked in the wizard (`ovf:password`), still clear text in the
    /// environment; at least `min_len` characters.
    Password { min_len: u16 },
    /// A PEM block (`-----BEGIN <label>-----`) pasted into a one-line field: line breaks
    /// may have become spaces; first boot rewraps it.
    Pem { label: &'static str },
}

/// One vApp property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// `ovf:key`, and the `oe:key` the environment carries.
    pub key: &'static str,
    /// The wizard's field label.
    pub label: &'static str,
    /// The wizard's help text.
    pub description: &'static str,
    pub kind: Kind,
    /// An empty value is an error when set; otherwise empty means "not used".
    pub required: bool,
    /// The default for every deployment option; "" for none.
    pub default: &'static str,
    /// Defaults per deployment option, in [`DEPLOYMENT_OPTIONS`] order, overriding
    /// `default`.
    pub role_defaults: Option<[&'static str; 2]>,
}

impl Property {
    /// The default the wizard shows under deployment option `option` (an id of
    /// [`DEPLOYMENT_OPTIONS`]).
    pub fn default_for(&self, option: &str) -> &'static str {
        match self.role_defaults {
            Some(values) => DEPLOYMENT_OPTIONS
                .iter()
                .position(|o| o.id == option)
                .map_or(self.default, |i| values[i]),
            None => self.default,
        }
    }

    /// Whether the wizard masks it.
    pub fn is_password(&self) -> bool {
        match self.kind {
            Kind::Password { .. } => true,
            Kind::Pem { label } => label.contains("PRIVATE"),
            _ => false,
        }
    }
}

/// A heading in the wizard and the properties under it, in order.
#[derive(Debug, Clone, Copy)]
pub struct Category {
    pub label: &'static str,
    pub properties: &'static [Property],
}

const fn prop(
    key: &'static str,
    label: &'static str,
    description: &'static str,
    kind: Kind,
) -> Property {
    Property {
        key,
        label,
        description,
        kind,
        required: true,
        default: "",
        role_defaults: None,
    }
}

const fn optional(mut p: Property) -> Property {
    p.required = false;
    p
}

const fn with_default(mut p: Property, default: &'static str) -> Property {
    p.default = default;
    p
}

const fn per_role(mut p: Property, master: &'static str, backup: &'static str) -> Property {
    p.default = master;
    p.role_defaults = Some([master, backup]);
    p
}

const IP: Kind = Kind::Ipv4;
const PREFIX: Kind = Kind::Uint8 { min: 8, max: 30 };
const REGISTRAR: Kind = Kind::Text {
    min_len: 1,
    max_len: 253,
};
const SIP_USER: Kind = Kind::Text {
    min_len: 1,
    max_len: 64,
};
const SIP_PASSWORD: Kind = Kind::Password { min_len: 1 };
const NUMBER: Kind = Kind::Text {
    min_len: 2,
    max_len: 32,
};

/// Every property, grouped as the wizard shows them.
pub const CATEGORIES: &[Category] = &[
    Category {
        label: "1. Node",
        properties: &[
            per_role(
                prop(
                    "node.role",
                    "Role",
                    "master or backup; preset by the deployment configuration.",
                    Kind::Choice(&["master", "backup"]),
                ),
                "master",
                "backup",
            ),
            per_role(
                prop(
                    "node.hostname",
                    "Host name",
                    "This node's host name (letters, digits and hyphens).",
                    Kind::Hostname,
                ),
                "allerta-a",
                "allerta-b",
            ),
        ],
    },
    Category {
        label: "2. Data network (operators, AMI, replication, VRRP)",
        properties: &[
            prop(
                "data.ip",
                "Data IP address",
                "This node's own address on the data network (the first network adapter).",
                IP,
            ),
            with_default(
                prop(
                    "data.prefix",
                    "Data prefix length",
                    "The data network's prefix length, 8 to 30 (24 = 255.255.255.0).",
                    PREFIX,
                ),
                "24",
            ),
            prop(
                "data.gateway",
                "Data gateway",
                "The default gateway, on the data network.",
                IP,
            ),
            optional(prop(
                "data.dns",
                "DNS servers",
                "DNS servers, separated by commas; may be empty.",
                Kind::Ipv4List,
            )),
        ],
    },
    Category {
        label: "3. Voice network (SIP trunks)",
        properties: &[
            prop(
                "voice.ip",
                "Voice IP address",
                "This node's own address on the voice network (the second network adapter).",
                IP,
            ),
            with_default(
                prop(
                    "voice.prefix",
                    "Voice prefix length",
                    "The voice network's prefix length, 8 to 30.",
                    PREFIX,
                ),
                "24",
            ),
        ],
    },
    Category {
        label: "4. High availability",
        properties: &[
            prop(
                "ha.vip",
                "Virtual IP address",
                "The address operators and AMI clients use; held by the master. The same on both nodes.",
                IP,
            ),
            prop(
                "ha.peer_ip",
                "Peer's data IP address",
                "The other node's data IP address.",
                IP,
            ),
            with_default(
                prop(
                    "ha.vrid",
                    "VRRP router id",
                    "1 to 255, the same on both nodes and unique on the data network.",
                    Kind::Uint8 { min: 1, max: 255 },
                ),
                "51",
            ),
            per_role(
                prop(
                    "ha.priority",
                    "VRRP priority",
                    "1 to 254; the master's must be higher than the backup's (defaults 250 and 240).",
                    Kind::Uint8 { min: 1, max: 254 },
                ),
                "250",
                "240",
            ),
        ],
    },
    Category {
        label: "5. Inbound trunk (citizens call this node)",
        properties: &[
            prop(
                "trunk_in.registrar",
                "Inbound registrar",
                "The provider's registrar for this node's inbound number: host or IP, optionally :port.",
                REGISTRAR,
            ),
            prop(
                "trunk_in.user",
                "Inbound user name",
                "The digest user name for the inbound registration.",
                SIP_USER,
            ),
            prop(
                "trunk_in.password",
                "Inbound password",
                "The digest password for the inbound registration.",
                SIP_PASSWORD,
            ),
            prop(
                "trunk_in.number",
                "Inbound number",
                "This node's inbound alert-line number (digits, optionally a leading +).",
                NUMBER,
            ),
        ],
    },
    Category {
        label: "6. Outbound trunk (alert calls)",
        properties: &[
            prop(
                "trunk_out.registrar",
                "Outbound registrar",
                "The provider's registrar for alert calls: host or IP, optionally :port.",
                REGISTRAR,
            ),
            prop(
                "trunk_out.user",
                "Outbound user name",
                "The digest user name for alert calls.",
                SIP_USER,
            ),
            prop(
                "trunk_out.password",
                "Outbound password",
                "The digest password for alert calls.",
                SIP_PASSWORD,
            ),
            prop(
                "trunk_out.number",
                "Outbound caller number",
                "The number alert calls come from (digits, optionally a leading +).",
                NUMBER,
            ),
        ],
    },
    Category {
        label: "7. Replication (a pairing secret, or TLS material)",
        properties: &[
            optional(prop(
                "sync.pairing_secret",
                "Pairing secret",
                "The same secret on both nodes, 16 characters or more; or leave empty and give the TLS material below.",
                Kind::Password { min_len: 16 },
            )),
            optional(prop(
                "sync.tls_cert",
                "Node certificate (PEM)",
                "This node's certificate, PEM; line breaks may be pasted as spaces.",
                Kind::Pem {
                    label: "CERTIFICATE",
                },
            )),
            optional(prop(
                "sync.tls_key",
                "Node private key (PEM)",
                "This node's private key, PEM.",
                Kind::Pem {
                    label: "PRIVATE KEY",
                },
            )),
            optional(prop(
                "sync.peer_ca",
                "Peer's CA certificate (PEM)",
                "The certificate authority that signed the peer's certificate, PEM.",
                Kind::Pem {
                    label: "CERTIFICATE",
                },
            )),
        ],
    },
];

/// Every property, in descriptor order.
pub fn properties() -> impl Iterator<Item = &'static Property> {
    CATEGORIES.iter().flat_map(|c| c.properties.iter())
}

/// The property with this key.
pub fn property(key: &str) -> Option<&'static Property> {
    properties().find(|p| p.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique() {
        let keys: Vec<_> = properties().map(|p| p.key).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), keys.len(), "duplicate key in {keys:?}");
    }

    #[test]
    fn defaults_are_valid_for_their_kind() {
        for p in properties() {
            for option in DEPLOYMENT_OPTIONS {
                let value = p.default_for(option.id);
                if let Kind::Choice(choices) = p.kind {
                    assert!(choices.contains(&value), "{}: {value}", p.key);
                }
                if let Kind::Uint8 { min, max } = p.kind {
                    let n: u8 = value.parse().unwrap_or_else(|_| panic!("{}", p.key));
                    assert!((min..=max).contains(&n), "{}: {n}", p.key);
                }
            }
        }
    }

    #[test]
    fn the_backup_option_presets_the_backup_role() {
        let role = property("node.role").unwrap();
        assert_eq!(role.default_for("master"), "master");
        assert_eq!(role.default_for("backup"), "backup");
        assert_eq!(
            property("ha.priority").unwrap().default_for("backup"),
            "240"
        );
        assert_eq!(property("data.prefix").unwrap().default_for("backup"), "24");
    }

    #[test]
    fn secrets_are_masked() {
        assert!(property("trunk_in.password").unwrap().is_password());
        assert!(property("sync.tls_key").unwrap().is_password());
        assert!(!property("sync.tls_cert").unwrap().is_password());
    }
}
