//! Pure: an OVA checked the way VMware's importers read one, each rule one that another
//! project shipped broken (see the reference notes): the descriptor first, then the
//! manifest, then the files; the manifest in vSphere's `SHA256(x)= ` form, listing every
//! file with its right digest; `File ovf:size` the file's real size; the `Disk` capacity
//! the VMDK's; the VMDK a complete stream (footer, end-of-stream marker); the
//! ProductSection's properties exactly first boot's spec. Schema validation
//! is the driver [`crate::schema`]'s.

use std::collections::BTreeMap;

use firstboot::spec;
use quick_xml::events::Event;
use quick_xml::Reader;

use crate::manifest::{self, ManifestError};
use crate::ova::Ova;
use crate::vmdk::{self, VmdkError};

/// The first rule an OVA breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error(
        "members are {found:?}: need the .ovf first, then its .mf, then the files it references"
    )]
    Order { found: Vec<String> },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{file}: the manifest says SHA256 {listed}, the file's is {actual}")]
    Digest {
        file: String,
        listed: String,
        actual: String,
    },
    #[error("{file}: in the archive but not in the manifest")]
    Unlisted { file: String },
    #[error("{file}: listed in the manifest or the descriptor but not in the archive")]
    Missing { file: String },
    #[error("the descriptor: {reason}")]
    Descriptor { reason: String },
    #[error("{file}: the descriptor says ovf:size {declared}, the file has {actual} bytes")]
    FileSize {
        file: String,
        declared: u64,
        actual: u64,
    },
    #[error("the ProductSection and first boot's spec differ: not in the descriptor {missing:?}, not in the spec {extra:?}")]
    Properties {
        missing: Vec<String>,
        extra: Vec<String>,
    },
    #[error("{file}: the descriptor's Disk capacity is {declared} bytes, the VMDK's {actual}")]
    Capacity {
        file: String,
        declared: u64,
        actual: u64,
    },
    #[error("{file}")]
    Vmdk {
        file: String,
        #[source]
        source: VmdkError,
    },
}

/// What a good OVA holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub descriptor: String,
    pub disk: String,
    pub disk_bytes: u64,
    pub capacity_bytes: u64,
    pub grains: u64,
}

/// The descriptor's `File` and `Disk` attributes we check, by local name.
#[derive(Debug, Default)]
struct Facts {
    /// `ovf:id` → (`ovf:href`, `ovf:size`)
    files: BTreeMap<String, (String, Option<u64>)>,
    /// (`ovf:fileRef`, capacity in bytes)
    disks: Vec<(String, u64)>,
    /// The ProductSection's `Property ovf:key`s.
    properties: Vec<String>,
}

fn facts(descriptor: &[u8]) -> Result<Facts, CheckError> {
    let bad = |reason: String| CheckError::Descriptor { reason };
    let mut reader = Reader::from_reader(descriptor);
    let mut buf = Vec::new();
    let mut facts = Facts::default();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| bad(format!("not well-formed XML: {e}")))?;
        let e = match &event {
            Event::Start(e) | Event::Empty(e) => e,
            Event::Eof => break,
            _ => continue,
        };
        let mut attrs = BTreeMap::new();
        for a in e.attributes().flatten() {
            let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
            attrs.insert(key, String::from_utf8_lossy(&a.value).into_owned());
        }
        let get = |k: &str| attrs.get(k).cloned().unwrap_or_default();
        match e.local_name().as_ref() {
            b"File" => {
                let size = attrs.get("size").and_then(|s| s.parse().ok());
                facts.files.insert(get("id"), (get("href"), size));
            }
            b"Disk" => {
                let n: u64 = get("capacity").parse().map_err(|_| {
                    bad(format!(
                        "Disk capacity {:?} is not a number",
                        get("capacity")
                    ))
                })?;
                let unit = match get("capacityAllocationUnits").as_str() {
                    "" | "byte" => 1,
                    "byte * 2^20" => 1 << 20,
                    "byte * 2^30" => 1 << 30,
                    other => return Err(bad(format!("Disk capacity unit {other:?}"))),
                };
                if !get("format").ends_with("vmdk.html#streamOptimized") {
                    return Err(bad(format!(
                        "Disk format {:?} is not streamOptimized",
                        get("format")
                    )));
                }
                facts.disks.push((get("fileRef"), n * unit));
            }
            b"Property" => facts.properties.push(get("key")),
            _ => {}
        }
        buf.clear();
    }
    Ok(facts)
}

/// Checks an OVA, stopping at the first broken rule.
pub fn check(ova: &Ova) -> Result<Report, CheckError> {
    let names: Vec<String> = ova.members.iter().map(|m| m.name.clone()).collect();
    let order = || CheckError::Order {
        found: names.clone(),
    };
    let [descriptor, manifest_member, ..] = ova.members.as_slice() else {
        return Err(order());
    };
    let stem = descriptor.name.strip_suffix(".ovf").ok_or_else(order)?;
    if manifest_member.name != format!("{stem}.mf") {
        return Err(order());
    }
    let listed = manifest::parse(&String::from_utf8_lossy(&manifest_member.data))?;
    for member in ova
        .members
        .iter()
        .filter(|m| m.name != manifest_member.name)
    {
        let Some((_, digest)) = listed.iter().find(|(n, _)| *n == member.name) else {
            return Err(CheckError::Unlisted {
                file: member.name.clone(),
            });
        };
        let actual = manifest::sha256_hex(&member.data);
        if *digest != actual {
            return Err(CheckError::Digest {
                file: member.name.clone(),
                listed: digest.clone(),
                actual,
            });
        }
    }
    if let Some((name, _)) = listed.iter().find(|(n, _)| ova.member(n).is_none()) {
        return Err(CheckError::Missing { file: name.clone() });
    }
    let facts = facts(&descriptor.data)?;
    for (href, size) in facts.files.values() {
        let member = ova
            .member(href)
            .ok_or_else(|| CheckError::Missing { file: href.clone() })?;
        if let Some(declared) = *size {
            if declared != member.data.len() as u64 {
                return Err(CheckError::FileSize {
                    file: href.clone(),
                    declared,
                    actual: member.data.len() as u64,
                });
            }
        }
    }
    // The files in the archive after the manifest, in the descriptor's order.
    let referenced: Vec<&String> = facts.files.values().map(|(href, _)| href).collect();
    if ova.members[2..]
        .iter()
        .any(|m| !referenced.contains(&&m.name))
    {
        return Err(order());
    }
    // The binaries inside read the environment through the spec they were built with; an
    // OVA whose wizard asks for other properties would configure nodes half-way.
    let spec: Vec<String> = spec::properties().map(|p| p.key.to_owned()).collect();
    let missing: Vec<String> = spec
        .iter()
        .filter(|k| !facts.properties.contains(k))
        .cloned()
        .collect();
    let extra: Vec<String> = facts
        .properties
        .iter()
        .filter(|k| !spec.contains(k))
        .cloned()
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Err(CheckError::Properties { missing, extra });
    }
    let [(file_ref, capacity)] = facts.disks.as_slice() else {
        return Err(CheckError::Descriptor {
            reason: format!("{} Disk elements, expected one", facts.disks.len()),
        });
    };
    let (href, _) = facts
        .files
        .get(file_ref)
        .ok_or_else(|| CheckError::Descriptor {
            reason: format!("Disk fileRef {file_ref:?} names no File"),
        })?;
    let disk = ova.member(href).expect("checked above");
    let layout = vmdk::inspect(&disk.data).map_err(|source| CheckError::Vmdk {
        file: href.clone(),
        source,
    })?;
    if layout.capacity_bytes() != *capacity {
        return Err(CheckError::Capacity {
            file: href.clone(),
            declared: *capacity,
            actual: layout.capacity_bytes(),
        });
    }
    Ok(Report {
        descriptor: descriptor.name.clone(),
        disk: href.clone(),
        disk_bytes: disk.data.len() as u64,
        capacity_bytes: *capacity,
        grains: layout.grains,
    })
}
