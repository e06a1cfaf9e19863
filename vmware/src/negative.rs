//! Pure: broken copies of a good OVA, each with one mistake another project shipped, for
//! the checks to refuse. Each copy is resealed (manifest digests and sizes recomputed)
//! where needed, so that exactly the one mistake is left for a check to find.

use crate::check::CheckError;
use crate::ova::Ova;
use crate::pack::reseal;
use crate::vmdk::SECTOR;

/// Which layer must refuse a variant.
#[derive(Debug, Clone, Copy)]
pub enum Caught {
    /// The DMTF schema (xmllint).
    Schema,
    /// [`crate::check::check`], with this kind of error.
    Check(fn(&CheckError) -> bool),
}

/// A named broken OVA.
pub struct Variant {
    pub name: &'static str,
    pub ova: Ova,
    pub caught: Caught,
}

fn edit_descriptor(ova: &Ova, edit: impl FnOnce(String) -> String) -> Ova {
    let mut broken = ova.clone();
    let text = String::from_utf8_lossy(&broken.members[0].data).into_owned();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit must change the descriptor");
    broken.members[0].data = edited.into_bytes();
    reseal(&mut broken);
    broken
}

/// Replaces the number after the first `attr="` with `f(number)`.
fn bump(text: String, attr: &str, f: impl Fn(u64) -> u64) -> String {
    let at = text.find(attr).expect("attribute present") + attr.len();
    let end = at + text[at..].find('"').expect("closing quote");
    let n: u64 = text[at..end].parse().expect("a number");
    format!("{}{}{}", &text[..at], f(n), &text[end..])
}

/// The broken variants of `ova` (a good one, as `pack` makes).
pub fn variants(ova: &Ova) -> Vec<Variant> {
    let mut out = Vec::new();
    out.push(Variant {
        name: "rasd elements out of schema order (InstanceID before Description)",
        ova: edit_descriptor(ova, |t| {
            let item = t.find("<Item>").expect("an Item");
            let desc_start = item
                + t[item..]
                    .find("        <rasd:Description>")
                    .expect("Description");
            let desc_end = desc_start + t[desc_start..].find('\n').expect("line") + 1;
            let id_start = item
                + t[item..]
                    .find("        <rasd:InstanceID>")
                    .expect("InstanceID");
            let id_end = id_start + t[id_start..].find('\n').expect("line") + 1;
            format!(
                "{}{}{}{}{}",
                &t[..desc_start],
                &t[id_start..id_end],
                &t[desc_end..id_start],
                &t[desc_start..desc_end],
                &t[id_end..]
            )
        }),
        caught: Caught::Schema,
    });
    let mut bad_digest = ova.clone();
    let mf = String::from_utf8_lossy(&bad_digest.members[1].data).into_owned();
    let last = mf.trim_end().len() - 1;
    let flipped = if &mf[last..=last] == "0" { "1" } else { "0" };
    bad_digest.members[1].data = format!("{}{flipped}\n", &mf[..last]).into_bytes();
    out.push(Variant {
        name: "a wrong digest in the manifest",
        ova: bad_digest,
        caught: Caught::Check(|e| matches!(e, CheckError::Digest { .. })),
    });
    let mut disk_first = ova.clone();
    disk_first.members.swap(1, 2);
    out.push(Variant {
        name: "the disk before the manifest",
        ova: disk_first,
        caught: Caught::Check(|e| matches!(e, CheckError::Order { .. })),
    });
    let mut manifest_first = ova.clone();
    manifest_first.members.swap(0, 1);
    out.push(Variant {
        name: "the manifest before the descriptor",
        ova: manifest_first,
        caught: Caught::Check(|e| matches!(e, CheckError::Order { .. })),
    });
    let mut tagged = ova.clone();
    let mf = String::from_utf8_lossy(&tagged.members[1].data).into_owned();
    tagged.members[1].data = mf
        .replace("SHA256(", "SHA256 (")
        .replace(")= ", ") = ")
        .into_bytes();
    out.push(Variant {
        name: "a manifest in sha256sum --tag form",
        ova: tagged,
        caught: Caught::Check(|e| matches!(e, CheckError::Manifest(_))),
    });
    out.push(Variant {
        name: "a stale File ovf:size",
        ova: edit_descriptor(ova, |t| bump(t, "ovf:size=\"", |n| n + SECTOR)),
        caught: Caught::Check(|e| matches!(e, CheckError::FileSize { .. })),
    });
    out.push(Variant {
        name: "a stale Disk capacity",
        ova: edit_descriptor(ova, |t| bump(t, "ovf:capacity=\"", |n| n * 2)),
        caught: Caught::Check(|e| matches!(e, CheckError::Capacity { .. })),
    });
    out.push(Variant {
        name: "a property the spec does not have (ProductSection edited by hand)",
        ova: edit_descriptor(ova, |t| {
            t.replacen("ovf:key=\"data.dns\"", "ovf:key=\"data.dns_servers\"", 1)
        }),
        caught: Caught::Check(|e| matches!(e, CheckError::Properties { .. })),
    });
    let mut no_footer = ova.clone();
    let disk = &mut no_footer.members[2].data;
    disk.truncate(disk.len() - 3 * SECTOR as usize); // footer marker, footer, end of stream
    let size = disk.len() as u64;
    let mut no_footer = edit_descriptor(&no_footer, |t| bump(t, "ovf:size=\"", |_| size));
    reseal(&mut no_footer);
    out.push(Variant {
        name: "a VMDK without footer and end-of-stream marker (qemu-img's stream output)",
        ova: no_footer,
        caught: Caught::Check(|e| matches!(e, CheckError::Vmdk { .. })),
    });
    out
}
