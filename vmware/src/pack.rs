//! Pure: a raw disk image made into the OVA's three members: the streamOptimized VMDK, the
//! descriptor that names its real size and capacity, and the manifest of both.

use std::io::{self, Read};

use crate::descriptor::{self, Disk};
use crate::manifest;
use crate::ova::{Member, Ova};
use crate::vmdk::{self, Written};

/// The appliance's name (the file stem and the VM's default name) and version.
#[derive(Debug, Clone)]
pub struct Appliance {
    pub name: String,
    pub version: String,
}

/// The member names for an appliance: descriptor, manifest, disk.
pub fn member_names(name: &str) -> [String; 3] {
    [
        format!("{name}.ovf"),
        format!("{name}.mf"),
        format!("{name}-disk1.vmdk"),
    ]
}

/// Builds the OVA from a raw disk of `capacity` bytes; `cid` is the VMDK's content id.
pub fn pack(
    raw: impl Read,
    capacity: u64,
    cid: u32,
    appliance: &Appliance,
) -> io::Result<(Ova, Written)> {
    let [ovf_name, mf_name, disk_name] = member_names(&appliance.name);
    let mut disk = Vec::new();
    let written = vmdk::write_stream(raw, capacity, &disk_name, cid, &mut disk)?;
    let ovf = descriptor::render(
        &appliance.name,
        &appliance.version,
        &Disk {
            file_name: disk_name.clone(),
            file_size: disk.len() as u64,
            capacity,
        },
    );
    let mut ova = Ova {
        members: vec![
            Member {
                name: ovf_name,
                data: ovf.into_bytes(),
            },
            Member {
                name: mf_name,
                data: Vec::new(),
            },
            Member {
                name: disk_name,
                data: disk,
            },
        ],
    };
    reseal(&mut ova);
    Ok((ova, written))
}

/// Rewrites the manifest (the second member) for the other members as they are now.
pub fn reseal(ova: &mut Ova) {
    let text = manifest::render(
        ova.members
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, m)| (m.name.as_str(), m.data.as_slice())),
    );
    ova.members[1].data = text.into_bytes();
}
