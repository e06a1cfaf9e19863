//! The OVA: a ustar archive of the descriptor first, then the manifest, then the disk
//! (ovftool and VMware Workstation read it as a stream and insist on that order). No
//! directories; mode 0644, owner 0, and the same mtime for all (`SOURCE_DATE_EPOCH`), so
//! packing the same files twice gives the same bytes.

use std::io::{self, Read, Write};

/// An OVA's members, in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ova {
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub data: Vec<u8>,
}

impl Ova {
    /// Writes the archive.
    pub fn write(&self, out: impl Write, mtime: u64) -> io::Result<()> {
        let mut tar = tar::Builder::new(out);
        for member in &self.members {
            let mut header = tar::Header::new_ustar();
            header.set_path(&member.name)?;
            header.set_size(member.data.len() as u64);
            header.set_mode(0o644);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(mtime);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            tar.append(&header, member.data.as_slice())?;
        }
        tar.into_inner()?.flush()
    }

    /// The archive as bytes.
    pub fn to_bytes(&self, mtime: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write(&mut out, mtime)?;
        Ok(out)
    }

    /// Reads every member, in archive order.
    pub fn read(archive: impl Read) -> io::Result<Self> {
        let mut members = Vec::new();
        for entry in tar::Archive::new(archive).entries()? {
            let mut entry = entry?;
            let name = entry.path()?.to_string_lossy().into_owned();
            let mut data = Vec::with_capacity(entry.size() as usize);
            entry.read_to_end(&mut data)?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{name}: not a regular file (an OVA holds only files)"),
                ));
            }
            members.push(Member { name, data });
        }
        Ok(Self { members })
    }

    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    pub fn member_mut(&mut self, name: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_their_order_and_packing_is_reproducible() {
        let ova = Ova {
            members: ["a.ovf", "a.mf", "a-disk1.vmdk"]
                .iter()
                .map(|n| Member {
                    name: (*n).into(),
                    data: n.as_bytes().to_vec(),
                })
                .collect(),
        };
        let bytes = ova.to_bytes(1_700_000_000).unwrap();
        assert_eq!(bytes, ova.to_bytes(1_700_000_000).unwrap());
        assert_eq!(&bytes[257..262], b"ustar", "ustar headers");
        assert_eq!(Ova::read(bytes.as_slice()).unwrap(), ova);
    }
}
