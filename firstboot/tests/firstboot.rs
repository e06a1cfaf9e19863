//! `allerta-firstboot` run on the fixture environments in `tests/fixtures/ovf-env/`, writing
//! under a scratch root (never `/`, so the machine's host name is left alone): both roles
//! configure, a second run writes nothing, bad environments print `ERROR:` lines and
//! write only the refusal `allertactl status` reports (that `allertactl` reads it, and that
//! the supervisor loads the node file, is tested in `tests/tests/firstboot_mediacore.rs`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use firstboot::refusal;

const NICS: &str = "ens160=00:50:56:8a:00:01,ens192=00:50:56:8a:00:02";

struct Run {
    code: i32,
    stdout: String,
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("allerta-firstboot-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ovf-env")
        .join(name)
}

fn firstboot(root: &Path, env_file: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_allerta-firstboot"))
        .arg("--root")
        .arg(root)
        .arg("--env-file")
        .arg(env_file)
        .args(["--no-guestinfo", "--no-cdrom", "--nics", NICS])
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// The first `[[vrrp_instance]]` of the node file written under `root`.
fn vrrp_instance(root: &Path) -> toml::Table {
    let text = fs::read_to_string(root.join("etc/allerta/node.toml")).unwrap();
    let node: toml::Table = text.parse().unwrap();
    node["vrrp_instance"].as_array().unwrap()[0]
        .as_table()
        .unwrap()
        .clone()
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_master_is_configured_once_and_then_left_alone() {
    let root = scratch("master");
    let run = firstboot(&root, &fixture("master.xml"));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("configured master allerta-a: data 192.0.2.11/24 on ens160"),
        "{}",
        run.stdout
    );
    assert_eq!(vrrp_instance(&root)["priority"].as_integer(), Some(250));
    let pjsip = root.join("etc/allerta/node/pjsip.conf");
    assert_eq!(
        fs::metadata(&pjsip).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(fs::read_to_string(&pjsip)
        .unwrap()
        .contains("password=in&pass\\;word\n"));
    assert_eq!(
        fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "allerta-a\n"
    );

    let before: Vec<_> = files_under(&root)
        .into_iter()
        .map(|p| (fs::metadata(&p).unwrap().modified().unwrap(), p))
        .collect();
    let again = firstboot(&root, &fixture("master.xml"));
    assert_eq!(again.code, 0, "{}", again.stdout);
    assert!(
        again.stdout.contains("unchanged: master allerta-a"),
        "{}",
        again.stdout
    );
    let after: Vec<_> = files_under(&root)
        .into_iter()
        .map(|p| (fs::metadata(&p).unwrap().modified().unwrap(), p))
        .collect();
    assert_eq!(before, after, "an unchanged environment must write nothing");
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn the_backup_takes_its_defaults_and_tls_material() {
    let root = scratch("backup");
    let run = firstboot(&root, &fixture("backup.xml"));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("configured backup allerta-b:"),
        "{}",
        run.stdout
    );
    let instance = vrrp_instance(&root);
    assert_eq!(
        (
            instance["priority"].as_integer(),
            instance["vrid"].as_integer()
        ),
        (Some(240), Some(51))
    );
    let key = root.join("etc/allerta/node/tls/node.key");
    assert_eq!(
        fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(fs::read_to_string(&key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert!(!root.join("etc/allerta/node/tls/pairing.secret").exists());
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_changed_environment_rewrites_only_what_changed() {
    let root = scratch("change");
    assert_eq!(firstboot(&root, &fixture("master.xml")).code, 0);
    let env = fs::read_to_string(fixture("master.xml"))
        .unwrap()
        .replace("192.0.2.53", "192.0.2.54");
    let changed = root.join("ovf-env.xml");
    fs::write(&changed, env).unwrap();
    let run = firstboot(&root, &changed);
    assert!(
        run.stdout
            .ends_with("wrote /etc/systemd/network/10-allerta-data.network\n"),
        "{}",
        run.stdout
    );
    fs::remove_dir_all(root).unwrap();
}

#[test]
fn bad_environments_say_why_and_write_only_the_refusal() {
    let cases = [
        (
            "bad-values.xml",
            vec![
                "ERROR: data.prefix: \"40\" is not a number in 8..=30",
                "ERROR: trunk_in.user: missing (required)",
            ],
        ),
        (
            "bad-addresses.xml",
            vec![
                "ERROR: ha.vip: 192.0.3.10 is not in the data network 192.0.2.0/24",
                "ERROR: ha.peer_ip: 192.0.2.11 is also data.ip; they must differ",
            ],
        ),
        (
            "not-well-formed.xml",
            vec!["ERROR: ovf-env: not well-formed XML"],
        ),
    ];
    for (name, expected) in cases {
        let root = scratch(name);
        let run = firstboot(&root, &fixture(name));
        assert_eq!(run.code, 1, "{name}: {}", run.stdout);
        let errors: Vec<_> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("ERROR:"))
            .collect();
        assert_eq!(errors.len(), expected.len(), "{name}: {}", run.stdout);
        for (line, want) in errors.iter().zip(&expected) {
            assert!(
                line.starts_with(want),
                "{name}: {line:?} should start with {want:?}"
            );
        }
        // Nothing of the node's; the refusal, for `allertactl status`, says the same.
        let refused = root.join(refusal::FILE.trim_start_matches('/'));
        assert_eq!(files_under(&root), std::slice::from_ref(&refused), "{name}");
        let recorded = refusal::read(&refused).unwrap();
        assert_eq!(recorded.len(), expected.len(), "{name}: {recorded:?}");
        for (line, want) in recorded.iter().zip(&expected) {
            assert!(
                want.strip_prefix("ERROR: ")
                    .is_some_and(|w| line.starts_with(w)),
                "{name}: recorded {line:?}, the console said {want:?}"
            );
        }
        fs::remove_dir_all(root).unwrap();
    }
}

#[test]
fn no_environment_at_all_is_not_an_error() {
    let root = scratch("none");
    let run = firstboot(&root, &root.join("absent.xml"));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("no OVF environment"), "{}", run.stdout);
    assert!(files_under(&root).is_empty());
    fs::remove_dir_all(root).unwrap();
}
