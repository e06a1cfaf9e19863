//! The streamOptimized VMDK (VMware "Virtual Disk Format 5.0", §4 "Stream-Optimized
//! Compressed Sparse Extents"): the writer, and a reader that checks the layout.
//!
//! ```text
//! sector 0      header: magic KDMV, version 3, flags newline|compressed|markers,
//!               gdOffset = GD_AT_END (the real one is in the footer)
//! sector 1..    the embedded descriptor (createType="streamOptimized"), padded to overHead
//! overHead..    grain marker (LBA u64, size u32) + zlib-deflated 64 KiB grain, sector-padded
//!               … all-zero grains are left out (sparse)
//!               after each 512 grains: GT marker + grain table (entries: grain marker sectors)
//!               GD marker + grain directory (entries: grain table sectors)
//!               footer marker + footer (the header with the real gdOffset)
//!               end-of-stream marker (a zero sector), and nothing after it
//! ```
//!
//! qemu-img's `subformat=streamOptimized` writes the directory at the front and neither
//! footer nor end-of-stream marker; VMware's readers (ovftool, Content Library) refuse
//! such files, which is why we write our own and why [`inspect`] insists on both.

use std::io::{self, Read, Write};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

pub const SECTOR: u64 = 512;
/// Sectors per grain: 64 KiB grains, as every VMware stream writer uses.
pub const GRAIN_SECTORS: u64 = 128;
const GRAIN_BYTES: usize = (GRAIN_SECTORS * SECTOR) as usize;
/// Grain table entries per table: one table covers 32 MiB.
const GT_ENTRIES: u64 = 512;
/// `gdOffset` in a stream's header: "look in the footer".
pub const GD_AT_END: u64 = u64::MAX;
const MAGIC: u32 = 0x564d_444b; // "KDMV" little-endian
const FLAG_NEWLINE_TEST: u32 = 1;
const FLAG_COMPRESSED: u32 = 1 << 16;
const FLAG_MARKERS: u32 = 1 << 17;
const COMPRESS_DEFLATE: u16 = 1;
/// Where the first grain starts: one grain in, as VMware's writers do.
const OVERHEAD_SECTORS: u64 = 128;

/// Metadata marker types (the `type` field of a marker whose `size` is 0).
const MARKER_EOS: u32 = 0;
const MARKER_GT: u32 = 1;
const MARKER_GD: u32 = 2;
const MARKER_FOOTER: u32 = 3;

/// A stream that is not what VMware reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmdkError {
    #[error("{len} bytes: too short for a sparse header")]
    Short { len: usize },
    #[error("sector 0: magic {found:#010x} is not KDMV")]
    Magic { found: u32 },
    #[error("sector 0: {field} is {found}, need {need}")]
    Header {
        field: &'static str,
        found: u64,
        need: String,
    },
    #[error("the embedded descriptor has no createType=\"streamOptimized\"")]
    CreateType,
    #[error("sector {sector}: {reason}")]
    Stream { sector: u64, reason: String },
    #[error("no footer before the end-of-stream marker")]
    NoFooter,
    #[error("the stream ends at sector {sector} without an end-of-stream marker")]
    NoEndOfStream { sector: u64 },
    #[error("{what} at sector {sector} points at sector {target}, which holds no {expected}")]
    Dangling {
        what: &'static str,
        sector: u64,
        target: u64,
        expected: &'static str,
    },
}

/// The fields of a sparse extent header (VMDK 5.0 §2.2, `SparseExtentHeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub flags: u32,
    /// Sectors.
    pub capacity: u64,
    pub grain_size: u64,
    pub descriptor_offset: u64,
    pub descriptor_size: u64,
    pub gtes_per_gt: u32,
    pub gd_offset: u64,
    pub overhead: u64,
    pub compress_algorithm: u16,
}

impl Header {
    fn encode(&self) -> [u8; SECTOR as usize] {
        let mut b = [0u8; SECTOR as usize];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&3u32.to_le_bytes());
        b[8..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..20].copy_from_slice(&self.capacity.to_le_bytes());
        b[20..28].copy_from_slice(&self.grain_size.to_le_bytes());
        b[28..36].copy_from_slice(&self.descriptor_offset.to_le_bytes());
        b[36..44].copy_from_slice(&self.descriptor_size.to_le_bytes());
        b[44..48].copy_from_slice(&self.gtes_per_gt.to_le_bytes());
        // 48..56 rgdOffset: no redundant directory in a stream
        b[56..64].copy_from_slice(&self.gd_offset.to_le_bytes());
        b[64..72].copy_from_slice(&self.overhead.to_le_bytes());
        // 72 uncleanShutdown = 0; the four newline-check characters
        b[73..77].copy_from_slice(b"\n \r\n");
        b[77..79].copy_from_slice(&self.compress_algorithm.to_le_bytes());
        b
    }

    /// Reads a header (or a footer) and checks the stream-format fields.
    pub fn decode(b: &[u8]) -> Result<Self, VmdkError> {
        if b.len() < SECTOR as usize {
            return Err(VmdkError::Short { len: b.len() });
        }
        let magic = u32_at(b, 0);
        if magic != MAGIC {
            return Err(VmdkError::Magic { found: magic });
        }
        let header = Self {
            flags: u32_at(b, 8),
            capacity: u64_at(b, 12),
            grain_size: u64_at(b, 20),
            descriptor_offset: u64_at(b, 28),
            descriptor_size: u64_at(b, 36),
            gtes_per_gt: u32_at(b, 44),
            gd_offset: u64_at(b, 56),
            overhead: u64_at(b, 64),
            compress_algorithm: u16::from_le_bytes([b[77], b[78]]),
        };
        let need = |field, found: u64, need: &str| VmdkError::Header {
            field,
            found,
            need: need.into(),
        };
        let version = u32_at(b, 4);
        if version != 3 {
            return Err(need(
                "version",
                version.into(),
                "3 (ESXi refuses older stream versions)",
            ));
        }
        let flags = FLAG_NEWLINE_TEST | FLAG_COMPRESSED | FLAG_MARKERS;
        if header.flags & flags != flags {
            return Err(need(
                "flags",
                header.flags.into(),
                "newline test, compressed grains and markers (0x30001)",
            ));
        }
        if &b[73..77] != b"\n \r\n" {
            return Err(need(
                "newline check",
                0,
                "\\n, space, \\r\\n (the file was mangled in text mode)",
            ));
        }
        if header.compress_algorithm != COMPRESS_DEFLATE {
            return Err(need(
                "compressAlgorithm",
                header.compress_algorithm.into(),
                "1 (deflate)",
            ));
        }
        if header.grain_size != GRAIN_SECTORS || u64::from(header.gtes_per_gt) != GT_ENTRIES {
            return Err(need(
                "grainSize",
                header.grain_size,
                "128 sectors with 512 entries per table",
            ));
        }
        Ok(header)
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn metadata_marker(sectors: u64, kind: u32) -> [u8; SECTOR as usize] {
    let mut m = [0u8; SECTOR as usize];
    m[0..8].copy_from_slice(&sectors.to_le_bytes());
    m[12..16].copy_from_slice(&kind.to_le_bytes());
    m
}

/// The embedded descriptor, with the keys VMware's own converter writes
/// (`ddb.toolsInstallType = "4"`: open-vm-tools; vSphere shows the tools state from them
/// until vmtoolsd reports). "Disk DescriptorFile" is VMware's spelling; readers such as
/// libvmdk do not accept "Disk Descriptor File".
pub fn descriptor_text(capacity_sectors: u64, extent_name: &str, cid: u32) -> String {
    let cylinders = (capacity_sectors / (255 * 63)).clamp(1, 65535);
    format!(
        "# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\nCID={cid:08x}\nparentCID=ffffffff\n\
         createType=\"streamOptimized\"\n\n# Extent description\nRW {capacity_sectors} SPARSE \"{extent_name}\"\n\n\
         # The Disk Data Base\n#DDB\n\nddb.adapterType = \"lsilogic\"\nddb.geometry.cylinders = \"{cylinders}\"\n\
         ddb.geometry.heads = \"255\"\nddb.geometry.sectors = \"63\"\nddb.longContentID = \"{cid:08x}{cid:08x}{cid:08x}{cid:08x}\"\n\
         ddb.toolsInstallType = \"4\"\nddb.toolsVersion = \"2147483647\"\nddb.virtualHWVersion = \"4\"\n"
    )
}

/// Counts what the writer produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Written {
    pub bytes: u64,
    pub grains: u64,
    pub capacity_sectors: u64,
}

/// Writes `out` as the streamOptimized form of the raw disk read from `raw`, whose size
/// is `capacity` bytes (a multiple of 512). `extent_name` is the file's own name, as the
/// descriptor names it.
pub fn write_stream(
    mut raw: impl Read,
    capacity: u64,
    extent_name: &str,
    cid: u32,
    out: impl Write,
) -> io::Result<Written> {
    if capacity == 0 || !capacity.is_multiple_of(SECTOR) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a disk of {capacity} bytes is not whole sectors"),
        ));
    }
    let mut out = Counting {
        inner: out,
        bytes: 0,
    };
    let capacity_sectors = capacity / SECTOR;
    let descriptor = descriptor_text(capacity_sectors, extent_name, cid);
    let descriptor_sectors = (descriptor.len() as u64).div_ceil(SECTOR);
    assert!(
        descriptor_sectors < OVERHEAD_SECTORS,
        "the descriptor is a few hundred bytes"
    );
    let mut header = Header {
        flags: FLAG_NEWLINE_TEST | FLAG_COMPRESSED | FLAG_MARKERS,
        capacity: capacity_sectors,
        grain_size: GRAIN_SECTORS,
        descriptor_offset: 1,
        descriptor_size: descriptor_sectors,
        gtes_per_gt: GT_ENTRIES as u32,
        gd_offset: GD_AT_END,
        overhead: OVERHEAD_SECTORS,
        compress_algorithm: COMPRESS_DEFLATE,
    };
    out.write_all(&header.encode())?;
    out.write_all(descriptor.as_bytes())?;
    out.pad_to(OVERHEAD_SECTORS * SECTOR)?;

    let grains = capacity_sectors.div_ceil(GRAIN_SECTORS);
    let tables = grains.div_ceil(GT_ENTRIES);
    let mut directory = Vec::with_capacity(tables as usize);
    let mut buf = vec![0u8; GRAIN_BYTES];
    let mut written = Written {
        capacity_sectors,
        ..Written::default()
    };
    for table in 0..tables {
        let mut entries = vec![0u32; GT_ENTRIES as usize];
        for (entry, slot) in entries.iter_mut().enumerate() {
            let grain = table * GT_ENTRIES + entry as u64;
            if grain >= grains {
                break;
            }
            // The last grain may be short: the rest reads as zeros.
            let want = (capacity - grain * GRAIN_BYTES as u64).min(GRAIN_BYTES as u64) as usize;
            buf.fill(0);
            raw.read_exact(&mut buf[..want])?;
            if buf.iter().all(|&b| b == 0) {
                continue;
            }
            let mut z =
                ZlibEncoder::new(Vec::with_capacity(GRAIN_BYTES / 2), Compression::default());
            z.write_all(&buf)?;
            let data = z.finish()?;
            *slot = sector_u32(out.sector())?;
            out.write_all(&(grain * GRAIN_SECTORS).to_le_bytes())?;
            out.write_all(&(data.len() as u32).to_le_bytes())?;
            out.write_all(&data)?;
            out.pad_sector()?;
            written.grains += 1;
        }
        out.write_all(&metadata_marker(4, MARKER_GT))?;
        directory.push(sector_u32(out.sector())?);
        for e in entries {
            out.write_all(&e.to_le_bytes())?;
        }
    }
    let gd_sectors = (tables * 4).div_ceil(SECTOR);
    out.write_all(&metadata_marker(gd_sectors, MARKER_GD))?;
    header.gd_offset = out.sector();
    for e in directory {
        out.write_all(&e.to_le_bytes())?;
    }
    out.pad_sector()?;
    out.write_all(&metadata_marker(1, MARKER_FOOTER))?;
    out.write_all(&header.encode())?;
    out.write_all(&metadata_marker(0, MARKER_EOS))?;
    out.inner.flush()?;
    written.bytes = out.bytes;
    Ok(written)
}

fn sector_u32(sector: u64) -> io::Result<u32> {
    u32::try_from(sector).map_err(|_| io::Error::other("the stream outgrew 2 TiB of sectors"))
}

struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Counting<W> {
    fn sector(&self) -> u64 {
        self.bytes / SECTOR
    }
    fn pad_to(&mut self, at: u64) -> io::Result<()> {
        let zeros = vec![0u8; (at - self.bytes) as usize];
        self.write_all(&zeros)
    }
    fn pad_sector(&mut self) -> io::Result<()> {
        self.pad_to(self.bytes.next_multiple_of(SECTOR))
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What [`inspect`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub header: Header,
    pub descriptor: String,
    pub grains: u64,
    pub tables: u64,
    /// From the footer.
    pub gd_offset: u64,
    /// The end-of-stream marker's sector: the file's last.
    pub end_of_stream: u64,
}

impl Layout {
    /// The virtual disk's size in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.header.capacity * SECTOR
    }
}

/// Walks a whole stream: header, descriptor, every marker in order, the footer, the
/// end-of-stream marker as the last sector; checks that the directory points at the
/// grain tables and the tables at grain markers of the right LBA, and that every grain
/// inflates to 64 KiB.
pub fn inspect(file: &[u8]) -> Result<Layout, VmdkError> {
    let header = Header::decode(file)?;
    let stream_err = |sector: u64, reason: String| VmdkError::Stream { sector, reason };
    if header.gd_offset != GD_AT_END {
        return Err(VmdkError::Header {
            field: "gdOffset",
            found: header.gd_offset,
            need: "GD_AT_END (the directory comes after the grains, the real offset in a footer; \
                   qemu-img writes it in front and no footer)"
                .into(),
        });
    }
    let at = |sector: u64| (sector * SECTOR) as usize;
    let descriptor_end = at(header.descriptor_offset + header.descriptor_size).min(file.len());
    let descriptor = String::from_utf8_lossy(
        &file[at(header.descriptor_offset).min(descriptor_end)..descriptor_end],
    )
    .trim_end_matches('\0')
    .to_owned();
    if !descriptor.contains("createType=\"streamOptimized\"") {
        return Err(VmdkError::CreateType);
    }
    let sectors = file.len() as u64 / SECTOR;
    if !(file.len() as u64).is_multiple_of(SECTOR) {
        return Err(stream_err(sectors, "the file is not whole sectors".into()));
    }
    let mut grains = std::collections::BTreeMap::new(); // marker sector → LBA
    let mut tables = Vec::new(); // table sectors
    let mut directory = None;
    let mut footer = None;
    let mut pos = header.overhead;
    let end_of_stream = loop {
        if pos >= sectors {
            return Err(VmdkError::NoEndOfStream { sector: pos });
        }
        let m = &file[at(pos)..at(pos) + SECTOR as usize];
        let (value, size, kind) = (u64_at(m, 0), u32_at(m, 8), u32_at(m, 12));
        if size != 0 {
            let end = at(pos) + 12 + size as usize;
            if end > file.len() {
                return Err(stream_err(
                    pos,
                    format!("grain of {size} bytes runs past the end"),
                ));
            }
            if value % GRAIN_SECTORS != 0 || value >= header.capacity {
                return Err(stream_err(
                    pos,
                    format!("grain LBA {value} is not a grain inside the disk"),
                ));
            }
            let mut inflated = Vec::with_capacity(GRAIN_BYTES);
            let ok = ZlibDecoder::new(&file[at(pos) + 12..end])
                .read_to_end(&mut inflated)
                .is_ok();
            if !ok || inflated.len() != GRAIN_BYTES {
                return Err(stream_err(
                    pos,
                    format!("grain LBA {value} does not inflate to 64 KiB"),
                ));
            }
            grains.insert(pos, value);
            pos += (12 + u64::from(size)).div_ceil(SECTOR);
            continue;
        }
        match kind {
            MARKER_EOS if value == 0 => break pos,
            MARKER_GT => tables.push(pos + 1),
            MARKER_GD => directory = Some((pos + 1, value)),
            MARKER_FOOTER => {
                let f = Header::decode(&file[at(pos + 1).min(file.len())..])?;
                footer = Some(f);
            }
            other => return Err(stream_err(pos, format!("unknown marker type {other}"))),
        }
        pos += 1 + value;
    };
    if end_of_stream + 1 != sectors {
        return Err(stream_err(
            end_of_stream,
            format!(
                "{} sectors after the end-of-stream marker",
                sectors - end_of_stream - 1
            ),
        ));
    }
    let footer = footer.ok_or(VmdkError::NoFooter)?;
    let Some((gd_at, _)) = directory else {
        return Err(stream_err(pos, "no grain directory".into()));
    };
    if footer.gd_offset != gd_at {
        return Err(VmdkError::Dangling {
            what: "the footer's gdOffset",
            sector: end_of_stream - 2,
            target: footer.gd_offset,
            expected: "grain directory",
        });
    }
    let expected_tables = header.capacity.div_ceil(GRAIN_SECTORS).div_ceil(GT_ENTRIES);
    for t in 0..expected_tables {
        let entry_at = at(gd_at) + 4 * t as usize;
        let table = u64::from(u32_at(file, entry_at));
        if table == 0 {
            continue;
        }
        if !tables.contains(&table) {
            return Err(VmdkError::Dangling {
                what: "a directory entry",
                sector: gd_at,
                target: table,
                expected: "grain table",
            });
        }
        for e in 0..GT_ENTRIES {
            let grain = u64::from(u32_at(file, at(table) + 4 * e as usize));
            if grain == 0 {
                continue;
            }
            let lba = (t * GT_ENTRIES + e) * GRAIN_SECTORS;
            if grains.get(&grain) != Some(&lba) {
                return Err(VmdkError::Dangling {
                    what: "a grain table entry",
                    sector: table,
                    target: grain,
                    expected: "grain marker of that LBA",
                });
            }
        }
    }
    Ok(Layout {
        header,
        descriptor,
        grains: grains.len() as u64,
        tables: tables.len() as u64,
        gd_offset: gd_at,
        end_of_stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 33 MiB + 1 KiB disk (two grain tables, a short last grain) with data in a few
    /// grains.
    fn raw() -> Vec<u8> {
        let mut disk = vec![0u8; (33 << 20) + 1024];
        disk[..512].copy_from_slice(&[0xAA; 512]);
        disk[5 << 20..(5 << 20) + 9].copy_from_slice(b"allerta\n!");
        let len = disk.len();
        disk[len - 3..].copy_from_slice(b"end");
        disk
    }

    fn stream(disk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let w = write_stream(disk, disk.len() as u64, "t.vmdk", 0x1234_5678, &mut out).unwrap();
        assert_eq!(w.bytes, out.len() as u64);
        assert_eq!(w.grains, 3);
        out
    }

    #[test]
    fn what_we_write_has_the_stream_layout() {
        let out = stream(&raw());
        let layout = inspect(&out).unwrap();
        assert_eq!(layout.capacity_bytes(), raw().len() as u64);
        assert_eq!((layout.grains, layout.tables), (3, 2));
        assert_eq!(layout.end_of_stream + 1, out.len() as u64 / SECTOR);
        assert!(layout.descriptor.starts_with("# Disk DescriptorFile\n"));
        assert!(layout.descriptor.contains("RW 67586 SPARSE \"t.vmdk\""));
        assert_eq!(
            u64_at(&out, 56),
            GD_AT_END,
            "the header defers to the footer"
        );
    }

    #[test]
    fn a_stream_cut_short_is_refused() {
        let out = stream(&raw());
        let cut = &out[..out.len() - 3 * SECTOR as usize];
        assert_eq!(
            inspect(cut),
            Err(VmdkError::NoEndOfStream {
                sector: cut.len() as u64 / SECTOR
            })
        );
        let mut extra = out.clone();
        extra.extend_from_slice(&[0u8; 512]);
        assert!(matches!(inspect(&extra), Err(VmdkError::Stream { .. })));
    }

    #[test]
    fn a_directory_in_front_is_refused() {
        let mut out = stream(&raw());
        out[56..64].copy_from_slice(&30u64.to_le_bytes());
        assert!(matches!(
            inspect(&out),
            Err(VmdkError::Header {
                field: "gdOffset",
                ..
            })
        ));
    }

    #[test]
    fn a_damaged_grain_or_table_is_refused() {
        let out = stream(&raw());
        let mut bad = out.clone();
        bad[(OVERHEAD_SECTORS * SECTOR) as usize + 14] ^= 0xFF; // inside the first grain's data
        assert!(matches!(inspect(&bad), Err(VmdkError::Stream { .. })));
        let layout = inspect(&out).unwrap();
        let mut bad = out;
        let gd = (layout.gd_offset * SECTOR) as usize;
        bad[gd..gd + 4].copy_from_slice(&7u32.to_le_bytes());
        assert!(matches!(
            inspect(&bad),
            Err(VmdkError::Dangling {
                what: "a directory entry",
                ..
            })
        ));
    }
}
