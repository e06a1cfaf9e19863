//! `allerta-ova`: builds and checks the Allerta OVA.
//!
//! ```text
//! allerta-ova pack --raw disk.img --out allerta.ova     raw disk → VMDK, descriptor, manifest, OVA
//! allerta-ova check allerta.ova                         every rule, and the DMTF schema (xmllint)
//! allerta-ova negative allerta.ova                      broken copies must all be refused
//! allerta-ova descriptor --capacity N --disk-size N     the descriptor alone, to stdout
//! allerta-ova env --role backup --set data.ip=… --out ovf-env.xml   an OVF environment (tests, smoke)
//! ```

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use allerta_ova::negative::Caught;
use allerta_ova::ova::Ova;
use allerta_ova::pack::{self, Appliance};
use allerta_ova::{check, descriptor, negative, schema};
use firstboot::env::Environment;
use firstboot::spec;

#[derive(Debug, Parser)]
#[command(
    name = "allerta-ova",
    version,
    about = "Build and check the Allerta OVA"
)]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Make an OVA from a raw disk image.
    Pack {
        #[arg(long)]
        raw: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The file stem and the VM's default name.
        #[arg(long, default_value = "allerta")]
        name: String,
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        version: String,
    },
    /// Check an OVA: member order, manifest, sizes, capacity, VMDK stream, schema.
    Check {
        ova: PathBuf,
        /// The DMTF schema directory (dsp8023_1.1.1.xsd and its imports).
        #[arg(long, default_value_os_t = schema::default_dir())]
        xsd: PathBuf,
    },
    /// Check that every broken variant of a good OVA is refused.
    Negative {
        ova: PathBuf,
        #[arg(long, default_value_os_t = schema::default_dir())]
        xsd: PathBuf,
    },
    /// Print the descriptor for a disk.
    Descriptor {
        /// Virtual disk size in bytes.
        #[arg(long)]
        capacity: u64,
        /// The VMDK file's size in bytes.
        #[arg(long)]
        disk_size: u64,
        #[arg(long, default_value = "allerta")]
        name: String,
    },
    /// Write an OVF environment: the spec's defaults for the role, then each --set.
    Env {
        #[arg(long, default_value = "master")]
        role: String,
        /// key=value, repeatable.
        #[arg(long = "set")]
        set: Vec<String>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> Result<()> {
    match Args::parse().command {
        Cmd::Pack {
            raw,
            out,
            name,
            version,
        } => pack_command(&raw, &out, Appliance { name, version }),
        Cmd::Check { ova, xsd } => {
            let ova = read(&ova)?;
            let report = check::check(&ova)?;
            schema::validate(&ova.members[0].data, &xsd)?;
            println!(
                "ok: {} validates against DSP8023; {} is a complete stream ({} grains, {} MiB in a {} MiB disk); manifest and order right",
                report.descriptor,
                report.disk,
                report.grains,
                report.disk_bytes >> 20,
                report.capacity_bytes >> 20
            );
            Ok(())
        }
        Cmd::Negative { ova, xsd } => {
            let ova = read(&ova)?;
            check::check(&ova).context("the OVA to break must itself be good")?;
            let mut escaped = 0;
            for variant in negative::variants(&ova) {
                let refused = match variant.caught {
                    Caught::Schema => schema::validate(&variant.ova.members[0].data, &xsd)
                        .err()
                        .map(|e| e.to_string().lines().nth(1).unwrap_or_default().to_owned()),
                    Caught::Check(expected) => check::check(&variant.ova)
                        .err()
                        .filter(expected)
                        .map(|e| format!("{:#}", anyhow::Error::from(e))),
                };
                match refused {
                    Some(why) => println!("refused as it should be: {}: {why}", variant.name),
                    None => {
                        println!("NOT REFUSED: {}", variant.name);
                        escaped += 1;
                    }
                }
            }
            if escaped > 0 {
                bail!("{escaped} broken variant(s) passed the checks");
            }
            Ok(())
        }
        Cmd::Descriptor {
            capacity,
            disk_size,
            name,
        } => {
            let [_, _, file_name] = pack::member_names(&name);
            let disk = descriptor::Disk {
                file_name,
                file_size: disk_size,
                capacity,
            };
            print!(
                "{}",
                descriptor::render(&name, env!("CARGO_PKG_VERSION"), &disk)
            );
            Ok(())
        }
        Cmd::Env { role, set, out } => {
            let mut env = Environment::default();
            for p in spec::properties() {
                env.properties
                    .insert(p.key.into(), p.default_for(&role).into());
            }
            env.properties.insert("node.role".into(), role);
            for item in set {
                let (k, v) = item
                    .split_once('=')
                    .with_context(|| format!("--set {item:?}: expected key=value"))?;
                env.properties.insert(k.into(), v.into());
            }
            match out {
                Some(path) => std::fs::write(&path, env.to_xml())
                    .with_context(|| format!("writing {}", path.display())),
                None => {
                    print!("{}", env.to_xml());
                    Ok(())
                }
            }
        }
    }
}

fn read(path: &Path) -> Result<Ova> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ova::read(BufReader::new(file))
        .with_context(|| format!("{}: not a readable tar", path.display()))
}

fn pack_command(raw: &Path, out: &Path, appliance: Appliance) -> Result<()> {
    let started = Instant::now();
    let capacity = std::fs::metadata(raw)
        .with_context(|| format!("{}", raw.display()))?
        .len();
    // Reproducible when SOURCE_DATE_EPOCH is set: the tar mtimes and the VMDK's content id.
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) => text.parse().context("SOURCE_DATE_EPOCH")?,
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
    };
    let cid = (epoch as u32) ^ (capacity >> 9) as u32;
    let input = BufReader::with_capacity(
        1 << 20,
        File::open(raw).with_context(|| format!("{}", raw.display()))?,
    );
    let (ova, written) = pack::pack(input, capacity, cid, &appliance)
        .with_context(|| format!("converting {}", raw.display()))?;
    let mut file =
        BufWriter::new(File::create(out).with_context(|| format!("creating {}", out.display()))?);
    ova.write(&mut file, epoch)
        .and_then(|()| file.flush())
        .with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {} MiB disk → {} grains, VMDK {} MiB; {:.1} s",
        out.display(),
        capacity >> 20,
        written.grains,
        written.bytes >> 20,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
