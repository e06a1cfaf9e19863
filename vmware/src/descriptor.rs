//! Pure: the OVF 1.x descriptor (DSP0243, schema DSP8023 1.1.1), with the ProductSection
//! generated from the vApp property spec (`firstboot::spec`) that first boot
//! parses with, so the wizard and the guest cannot disagree on a property.
//!
//! Hardware, chosen for vSphere 7 and later (see `vmware/README.md`): `vmx-17` (ESXi 7.0),
//! guest `debian11_64Guest` (known since vSphere API 7.0; `debian12_64Guest` needs 8.0),
//! CIM OSType 96 (Debian 64-bit), BIOS firmware, 2 vCPU, 2 GiB, PVSCSI (`VirtualSCSI`) with
//! the disk, an IDE CD-ROM (the `iso` environment transport needs one), two VMXNET3
//! adapters: `data` first, then `voice` (first boot takes them in that order).
//!
//! Element order is the schema's; inside an `Item` the `rasd:` children are in the CIM
//! schema's alphabetical order, the mistake that most often breaks validation.

use std::fmt::Write as _;

use firstboot::spec::{self, Kind, Property, DEPLOYMENT_OPTIONS};
use quick_xml::escape::escape;

/// The product as the wizard's "Review details" page shows it.
pub const PRODUCT: &str = "Allerta";
pub const VENDOR: &str = "Allerta project";
/// The two networks, in adapter order.
pub const NETWORKS: [(&str, &str); 2] = [
    (
        "data",
        "Data network: operators, AMI clients, replication, VRRP and the virtual IP",
    ),
    (
        "voice",
        "Voice network: this node's SIP trunks to the provider",
    ),
];
/// vSphere 7.0 and later.
pub const HARDWARE_VERSION: &str = "vmx-17";
pub const GUEST_ID: &str = "debian11_64Guest";
const CIM_OS_TYPE: u32 = 96;
const CPUS: u32 = 2;
const MEMORY_MIB: u32 = 2048;

/// What the descriptor says about the disk; `file_size` is the VMDK file's size in bytes
/// (ovftool refuses a mismatch), `capacity` the virtual disk's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    pub file_name: String,
    pub file_size: u64,
    pub capacity: u64,
}

/// The descriptor for an appliance named `name` (the VM's default name), product version
/// `version`.
pub fn render(name: &str, version: &str, disk: &Disk) -> String {
    let mut x = String::new();
    let _ = write!(
        x,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ovf:version="1.0">
  <References>
    <File ovf:id="file1" ovf:href="{file}" ovf:size="{size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{capacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The networks the appliance's adapters connect to</Info>
"#,
        file = escape(disk.file_name.as_str()),
        size = disk.file_size,
        capacity = disk.capacity,
    );
    for (network, description) in NETWORKS {
        let _ = writeln!(
            x,
            "    <Network ovf:name=\"{network}\">\n      <Description>{description}</Description>\n    </Network>"
        );
    }
    x.push_str(
        "  </NetworkSection>\n  <DeploymentOptionSection>\n    <Info>The node's role in the pair</Info>\n",
    );
    for (i, option) in DEPLOYMENT_OPTIONS.iter().enumerate() {
        let default = if i == 0 { " ovf:default=\"true\"" } else { "" };
        let _ = writeln!(
            x,
            "    <Configuration ovf:id=\"{}\"{default}>\n      <Label>{}</Label>\n      <Description>{}</Description>\n    </Configuration>",
            option.id,
            escape(option.label),
            escape(option.description)
        );
    }
    let _ = write!(
        x,
        r#"  </DeploymentOptionSection>
  <VirtualSystem ovf:id="{name}">
    <Info>An Allerta node: one half of a master/backup pair</Info>
    <Name>{name}</Name>
"#,
        name = escape(name)
    );
    product_section(&mut x, version);
    let _ = write!(
        x,
        r#"    <OperatingSystemSection ovf:id="{CIM_OS_TYPE}" vmw:osType="{GUEST_ID}">
      <Info>The guest operating system</Info>
      <Description>Debian GNU/Linux 12 (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection ovf:transport="com.vmware.guestInfo iso">
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>{HARDWARE_VERSION}</vssd:VirtualSystemType>
      </System>
"#,
        name = escape(name)
    );
    for item in items() {
        x.push_str("      <Item>\n");
        for (element, value) in item {
            let _ = writeln!(
                x,
                "        <rasd:{element}>{}</rasd:{element}>",
                escape(value.as_str())
            );
        }
        x.push_str("      </Item>\n");
    }
    for (key, value) in [
        ("firmware", "bios"),
        ("tools.syncTimeWithHost", "false"),
        ("tools.afterPowerOn", "true"),
        ("tools.beforeGuestShutdown", "true"),
        ("powerOpInfo.powerOffType", "soft"),
        ("powerOpInfo.resetType", "soft"),
    ] {
        let _ = writeln!(
            x,
            "      <vmw:Config ovf:required=\"false\" vmw:key=\"{key}\" vmw:value=\"{value}\"/>"
        );
    }
    x.push_str("    </VirtualHardwareSection>\n  </VirtualSystem>\n</Envelope>\n");
    x
}

/// The hardware, each item's `rasd:` elements already in schema order.
fn items() -> Vec<Vec<(&'static str, String)>> {
    let s = |v: &str| v.to_owned();
    let mut items = vec![
        vec![
            ("AllocationUnits", s("hertz * 10^6")),
            ("Description", s("Number of Virtual CPUs")),
            ("ElementName", format!("{CPUS} virtual CPU(s)")),
            ("InstanceID", s("1")),
            ("ResourceType", s("3")),
            ("VirtualQuantity", CPUS.to_string()),
        ],
        vec![
            ("AllocationUnits", s("byte * 2^20")),
            ("Description", s("Memory Size")),
            ("ElementName", format!("{MEMORY_MIB}MB of memory")),
            ("InstanceID", s("2")),
            ("ResourceType", s("4")),
            ("VirtualQuantity", MEMORY_MIB.to_string()),
        ],
        vec![
            ("Address", s("0")),
            ("Description", s("SCSI Controller")),
            ("ElementName", s("SCSI controller 0")),
            ("InstanceID", s("3")),
            ("ResourceSubType", s("VirtualSCSI")),
            ("ResourceType", s("6")),
        ],
        vec![
            ("Address", s("0")),
            ("Description", s("IDE Controller")),
            ("ElementName", s("IDE 0")),
            ("InstanceID", s("4")),
            ("ResourceType", s("5")),
        ],
        vec![
            ("AddressOnParent", s("0")),
            ("ElementName", s("Hard disk 1")),
            ("HostResource", s("ovf:/disk/vmdisk1")),
            ("InstanceID", s("5")),
            ("Parent", s("3")),
            ("ResourceType", s("17")),
        ],
        vec![
            ("AddressOnParent", s("0")),
            ("AutomaticAllocation", s("false")),
            ("ElementName", s("CD/DVD drive 1")),
            ("InstanceID", s("6")),
            ("Parent", s("4")),
            ("ResourceSubType", s("vmware.cdrom.remotepassthrough")),
            ("ResourceType", s("15")),
        ],
    ];
    for (i, (network, _)) in NETWORKS.iter().enumerate() {
        items.push(vec![
            ("AddressOnParent", (7 + i).to_string()),
            ("AutomaticAllocation", s("true")),
            ("Connection", s(network)),
            (
                "Description",
                format!("VmxNet3 ethernet adapter on \"{network}\""),
            ),
            ("ElementName", format!("Network adapter {}", i + 1)),
            ("InstanceID", (7 + i).to_string()),
            ("ResourceSubType", s("VmxNet3")),
            ("ResourceType", s("10")),
        ]);
    }
    items.push(vec![
        ("AutomaticAllocation", s("false")),
        ("ElementName", s("Video card")),
        ("InstanceID", s("9")),
        ("ResourceType", s("24")),
    ]);
    items.push(vec![
        ("AutomaticAllocation", s("false")),
        ("ElementName", s("VMCI device")),
        ("InstanceID", s("10")),
        ("ResourceSubType", s("vmware.vmci")),
        ("ResourceType", s("1")),
    ]);
    items
}

fn product_section(x: &mut String, version: &str) {
    let _ = write!(
        x,
        r#"    <ProductSection>
      <Info>The node's settings, read by allerta-firstboot at every boot</Info>
      <Product>{PRODUCT}</Product>
      <Vendor>{VENDOR}</Vendor>
      <Version>{version}</Version>
      <FullVersion>{version}</FullVersion>
"#,
        version = escape(version)
    );
    for category in spec::CATEGORIES {
        let _ = writeln!(x, "      <Category>{}</Category>", escape(category.label));
        for property in category.properties {
            property_element(x, property);
        }
    }
    x.push_str("    </ProductSection>\n");
}

/// `ovf:type` and `ovf:qualifiers` for a kind, and whether it is an IP field.
fn ovf_type(property: &Property) -> (&'static str, String, bool) {
    let min_len = if property.required { 1 } else { 0 };
    match property.kind {
        Kind::Choice(choices) => {
            let quoted: Vec<_> = choices.iter().map(|c| format!("\"{c}\"")).collect();
            ("string", format!("ValueMap{{{}}}", quoted.join(",")), false)
        }
        Kind::Hostname => ("string", "MinLen(1),MaxLen(63)".into(), false),
        Kind::Ipv4 => (
            "string",
            format!("MinLen({}),MaxLen(15)", min_len.max(7)),
            true,
        ),
        Kind::Ipv4List => ("string", "MaxLen(255)".into(), false),
        Kind::Uint8 { min, max } => ("uint8", format!("MinValue({min}),MaxValue({max})"), false),
        Kind::Text { min_len, max_len } => (
            "string",
            format!("MinLen({min_len}),MaxLen({max_len})"),
            false,
        ),
        Kind::Password { min_len: len } => {
            let len = if property.required { len } else { 0 };
            ("string", format!("MinLen({len})"), false)
        }
        Kind::Pem { .. } => ("string", "MaxLen(65535)".into(), false),
    }
}

fn property_element(x: &mut String, property: &Property) {
    let (kind, qualifiers, is_ip) = ovf_type(property);
    let vmw = if is_ip { " vmw:qualifiers=\"Ip\"" } else { "" };
    let password = if property.is_password() {
        " ovf:password=\"true\""
    } else {
        ""
    };
    let default_option = DEPLOYMENT_OPTIONS[0].id;
    let _ = writeln!(
        x,
        "      <Property ovf:key=\"{}\" ovf:type=\"{kind}\" ovf:qualifiers=\"{}\"{vmw} ovf:userConfigurable=\"true\" ovf:value=\"{}\"{password}>",
        escape(property.key),
        escape(qualifiers.as_str()),
        escape(property.default_for(default_option)),
    );
    let _ = writeln!(x, "        <Label>{}</Label>", escape(property.label));
    let _ = writeln!(
        x,
        "        <Description>{}</Description>",
        escape(property.description)
    );
    for option in &DEPLOYMENT_OPTIONS[1..] {
        let value = property.default_for(option.id);
        if value != property.default_for(default_option) {
            let _ = writeln!(
                x,
                "        <Value ovf:value=\"{}\" ovf:configuration=\"{}\"/>",
                escape(value),
                option.id
            );
        }
    }
    x.push_str("      </Property>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn descriptor() -> String {
        render(
            "Allerta",
            "0.1.0",
            &Disk {
                file_name: "allerta-disk1.vmdk".into(),
                file_size: 1234,
                capacity: 4 << 30,
            },
        )
    }

    #[test]
    fn every_spec_property_is_in_the_product_section() {
        let x = descriptor();
        for p in spec::properties() {
            assert_eq!(
                x.matches(&format!("ovf:key=\"{}\"", p.key)).count(),
                1,
                "{}",
                p.key
            );
        }
        assert_eq!(x.matches("<Category>").count(), spec::CATEGORIES.len());
    }

    #[test]
    fn the_backup_option_changes_the_role_defaults() {
        let x = descriptor();
        assert!(x.contains("<Value ovf:value=\"backup\" ovf:configuration=\"backup\"/>"));
        assert!(x.contains("<Value ovf:value=\"240\" ovf:configuration=\"backup\"/>"));
        assert!(x.contains("<Configuration ovf:id=\"master\" ovf:default=\"true\">"));
    }

    #[test]
    fn passwords_are_masked_and_addresses_are_ip_fields() {
        let x = descriptor();
        let line = |key: &str| {
            x.lines()
                .find(|l| l.contains(&format!("ovf:key=\"{key}\"")))
                .unwrap()
                .to_owned()
        };
        assert!(line("trunk_out.password").contains("ovf:password=\"true\""));
        assert!(!line("trunk_out.user").contains("ovf:password"));
        assert!(line("ha.vip").contains("vmw:qualifiers=\"Ip\""));
        assert!(line("node.role")
            .contains("ovf:qualifiers=\"ValueMap{&quot;master&quot;,&quot;backup&quot;}\""));
        assert!(line("data.prefix")
            .contains("ovf:type=\"uint8\" ovf:qualifiers=\"MinValue(8),MaxValue(30)\""));
    }

    #[test]
    fn rasd_elements_are_in_schema_order() {
        for item in items() {
            let names: Vec<_> = item.iter().map(|(n, _)| *n).collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            assert_eq!(names, sorted);
        }
    }
}
