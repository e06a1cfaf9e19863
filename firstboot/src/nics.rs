//! The node's network adapters: which is the data one and which the voice one. The OVF
//! descriptor lists the data adapter first, and vSphere puts adapters in PCI slots in
//! that order (ethernet0 below ethernet1), so they are taken in PCI address order; names
//! are not used (`ens160` on VMware, `ens4` under QEMU). `choose` is pure, `scan` reads
//! sysfs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A physical network adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// The kernel's name for it now.
    pub name: String,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
}

/// An adapter as found, with the sysfs path of its device (its PCI address inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub nic: Nic,
    pub device: PathBuf,
}

/// The data and voice adapters: the first two by device path.
pub fn choose(mut found: Vec<Found>) -> Result<(Nic, Nic), String> {
    found.sort_by(|a, b| a.device.cmp(&b.device));
    let mut nics = found.into_iter().map(|f| f.nic);
    match (nics.next(), nics.next()) {
        (Some(data), Some(voice)) => Ok((data, voice)),
        (data, _) => Err(format!(
            "the VM needs two network adapters (data, voice); found {}",
            usize::from(data.is_some())
        )),
    }
}

/// Physical adapters in `sys_class_net` (`/sys/class/net`): those with a device.
pub fn scan(sys_class_net: &Path) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(sys_class_net)? {
        let dir = entry?.path();
        let Ok(device) = std::fs::canonicalize(dir.join("device")) else {
            continue; // lo, bridges, veths: no device
        };
        let mac = std::fs::read_to_string(dir.join("address"))?
            .trim()
            .to_owned();
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        found.push(Found {
            nic: Nic { name, mac },
            device,
        });
    }
    Ok(found)
}

/// Waits until udev has processed every adapter in `sys_class_net`, renames included
/// (`/run/udev/data/n<ifindex>` exists, what networkd waits for too), so the names read
/// are the final ones (`ens160`, not the kernel's `eth0`). Returns the adapters still not
/// processed when `limit` ran out.
pub fn wait_for_udev(sys_class_net: &Path, udev_data: &Path, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    loop {
        let pending: Vec<String> = scan(sys_class_net)
            .unwrap_or_default()
            .into_iter()
            .filter(|f| {
                let ifindex =
                    std::fs::read_to_string(sys_class_net.join(&f.nic.name).join("ifindex"));
                !ifindex.is_ok_and(|i| udev_data.join(format!("n{}", i.trim())).exists())
            })
            .map(|f| f.nic.name)
            .collect();
        if pending.is_empty() || Instant::now() >= deadline {
            return pending;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `name=mac,name=mac` (the `--nics` option: tests and image builds that have no real
/// adapters), in data, voice order.
pub fn parse_list(text: &str) -> Result<Vec<Found>, String> {
    text.split(',')
        .enumerate()
        .map(|(i, item)| {
            let (name, mac) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?}: expected name=mac"))?;
            Ok(Found {
                nic: Nic {
                    name: name.into(),
                    mac: mac.to_ascii_lowercase(),
                },
                device: PathBuf::from(format!("{i:04}")),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, device: &str) -> Found {
        Found {
            nic: Nic {
                name: name.into(),
                mac: format!("00:50:56:00:00:{}", &device[device.len() - 2..]),
            },
            device: device.into(),
        }
    }

    #[test]
    fn adapters_are_taken_in_pci_order_not_by_name() {
        let (data, voice) = choose(vec![
            found(
                "ens224",
                "/sys/devices/pci0000:00/0000:00:18.0/0000:1b:00.0",
            ),
            found(
                "ens160",
                "/sys/devices/pci0000:00/0000:00:15.0/0000:03:00.0",
            ),
        ])
        .unwrap();
        assert_eq!(
            (data.name.as_str(), voice.name.as_str()),
            ("ens160", "ens224")
        );
    }

    #[test]
    fn one_adapter_is_not_enough() {
        let e = choose(vec![found("ens160", "/sys/devices/x/00")]).unwrap_err();
        assert!(e.ends_with("found 1"), "{e}");
    }

    #[test]
    fn the_option_keeps_its_order() {
        let list = parse_list("ens4=00:50:56:AA:00:01,ens5=00:50:56:aa:00:02").unwrap();
        let (data, voice) = choose(list).unwrap();
        assert_eq!(
            (data.name.as_str(), data.mac.as_str()),
            ("ens4", "00:50:56:aa:00:01")
        );
        assert_eq!(voice.name, "ens5");
        assert!(parse_list("ens4").is_err());
    }
}
