//! The fast packaging checks, on a toy disk (seconds): an OVA packed from it passes every
//! check and the DMTF schema; qemu-img reads its VMDK back identical to the raw disk;
//! every broken variant (nine) is refused; qemu-img's own stream output is refused.
//!
//! Tools (`xmllint`, `qemu-img`) missing: the test fails and says which; `./allerta setup`
//! installs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use allerta_ova::check::{self, CheckError};
use allerta_ova::negative::{self, Caught};
use allerta_ova::ova::Ova;
use allerta_ova::pack::{self, Appliance};
use allerta_ova::{schema, vmdk};

/// 48 MiB and 1 KiB: two grain tables, a short last grain, empty and random grains.
fn toy_disk() -> Vec<u8> {
    let mut disk = vec![0u8; (48 << 20) + 1024];
    let mut x: u32 = 0x2545_f491;
    for b in &mut disk[(20 << 20)..(22 << 20)] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    disk[510..512].copy_from_slice(&[0x55, 0xAA]);
    disk[(33 << 20)..(33 << 20) + 14].copy_from_slice(b"allerta toy fs");
    let len = disk.len();
    disk[len - 4..].copy_from_slice(b"last");
    disk
}

fn toy_ova() -> Ova {
    let disk = toy_disk();
    let appliance = Appliance {
        name: "allerta".into(),
        version: "0.1.0-test".into(),
    };
    pack::pack(disk.as_slice(), disk.len() as u64, 0xA11E_47A0, &appliance)
        .unwrap()
        .0
}

/// Fails the test unless `tool` is on PATH (never skips).
fn require(test: &str, tool: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()));
    assert!(
        found,
        "{test}: needs `{tool}`; `./allerta setup` installs it (Debian package list in the script)"
    );
}

/// A fresh scratch directory holding the toy disk as `raw.img`: (directory, raw.img).
fn scratch_with_raw(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("allerta-ova-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("raw.img");
    std::fs::write(&raw, toy_disk()).unwrap();
    (dir, raw)
}

/// A scratch directory with the toy disk for a test that runs qemu-img.
fn qemu_img_case(name: &str) -> (PathBuf, PathBuf) {
    require(name, "qemu-img");
    scratch_with_raw(name)
}

#[test]
fn a_toy_ova_passes_every_check_and_the_dmtf_schema() {
    let ova = toy_ova();
    let names: Vec<_> = ova.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["allerta.ovf", "allerta.mf", "allerta-disk1.vmdk"]);
    let report = check::check(&ova).unwrap();
    assert_eq!(report.capacity_bytes, toy_disk().len() as u64);
    assert_eq!(report.grains, 35, "32 random grains, 3 with a few bytes");
    let again = Ova::read(ova.to_bytes(0).unwrap().as_slice()).unwrap();
    assert_eq!(again, ova);
    require("schema", "xmllint");
    schema::validate(&ova.members[0].data, &schema::default_dir())
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn qemu_img_reads_the_vmdk_back_identical() {
    let (dir, raw) = qemu_img_case("compare");
    let disk = dir.join("allerta-disk1.vmdk");
    std::fs::write(&disk, &toy_ova().members[2].data).unwrap();
    let out = Command::new("qemu-img")
        .args(["compare", "-f", "raw", "-F", "vmdk"])
        .args([&raw, &disk])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "qemu-img compare: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_broken_variant_is_refused() {
    let ova = toy_ova();
    require("negative", "xmllint");
    let variants = negative::variants(&ova);
    assert!(variants.len() >= 9);
    for variant in variants {
        match variant.caught {
            Caught::Schema => {
                assert!(
                    check::check(&variant.ova).is_ok(),
                    "{}: only the schema should see it",
                    variant.name
                );
                let e = schema::validate(&variant.ova.members[0].data, &schema::default_dir());
                assert!(e.is_err(), "{}: the schema accepted it", variant.name);
            }
            Caught::Check(expected) => match check::check(&variant.ova) {
                Err(e) if expected(&e) => {}
                other => panic!("{}: {other:?}", variant.name),
            },
        }
    }
}

#[test]
fn qemu_img_s_own_stream_output_is_refused() {
    let (dir, raw) = qemu_img_case("qemu-stream");
    let disk = dir.join("q.vmdk");
    let status = Command::new("qemu-img")
        .args(["convert", "-O", "vmdk", "-o", "subformat=streamOptimized"])
        .args([&raw, &disk])
        .status()
        .unwrap();
    assert!(status.success());
    let e = vmdk::inspect(&std::fs::read(&disk).unwrap()).unwrap_err();
    assert!(
        matches!(
            e,
            vmdk::VmdkError::Header {
                field: "gdOffset",
                ..
            }
        ),
        "{e}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_command_packs_checks_and_breaks_an_ova() {
    require("cli", "xmllint");
    let (dir, raw) = scratch_with_raw("cli");
    let ova = dir.join("allerta.ova");
    let run = |args: &[&Path]| {
        let out = Command::new(env!("CARGO_BIN_EXE_allerta-ova"))
            .args(args)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {text}");
        text
    };
    run(&[
        Path::new("pack"),
        Path::new("--raw"),
        &raw,
        Path::new("--out"),
        &ova,
    ]);
    let first = std::fs::read(&ova).unwrap();
    run(&[
        Path::new("pack"),
        Path::new("--raw"),
        &raw,
        Path::new("--out"),
        &ova,
    ]);
    assert_eq!(
        first,
        std::fs::read(&ova).unwrap(),
        "packing is reproducible"
    );
    assert!(run(&[Path::new("check"), &ova]).starts_with("ok: allerta.ovf validates"));
    let negative = run(&[Path::new("negative"), &ova]);
    assert_eq!(
        negative.matches("refused as it should be").count(),
        9,
        "{negative}"
    );
    // a truncated archive is refused by check
    std::fs::write(&ova, &first[..first.len() / 2]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_allerta-ova"))
        .arg("check")
        .arg(&ova)
        .output()
        .unwrap();
    assert!(!out.status.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn manifest_digests_and_order_are_what_vsphere_expects() {
    let ova = toy_ova();
    let mf = String::from_utf8(ova.members[1].data.clone()).unwrap();
    let lines: Vec<_> = mf.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("SHA256(allerta.ovf)= "));
    assert!(lines[1].starts_with("SHA256(allerta-disk1.vmdk)= "));
    let mut reordered = ova.clone();
    reordered.members.swap(0, 2);
    assert!(matches!(
        check::check(&reordered),
        Err(CheckError::Order { .. })
    ));
}
