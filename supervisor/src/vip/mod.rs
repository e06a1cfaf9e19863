//! Driver: the virtual addresses of one instance, added and removed through netlink.

pub mod netlink;

use ipnet::Ipv4Net;
use tracing::info;

use self::netlink::{Netlink, NetlinkError};
use crate::config::Vip;

/// The instance's virtual addresses, each resolved to its interface index.
pub struct Vips {
    entries: Vec<(u32, String, Ipv4Net)>,
}

impl Vips {
    pub async fn resolve(netlink: &Netlink, vips: &[Vip]) -> Result<Self, NetlinkError> {
        let mut entries = Vec::new();
        for vip in vips {
            let link = netlink.link(&vip.interface).await?;
            entries.push((link.index, vip.interface.clone(), vip.net));
        }
        Ok(Self { entries })
    }

    pub fn addrs(&self) -> impl Iterator<Item = std::net::Ipv4Addr> + '_ {
        self.entries.iter().map(|(_, _, net)| net.addr())
    }

    /// (ifindex, address) pairs for gratuitous ARPs.
    pub fn by_interface(&self) -> impl Iterator<Item = (u32, std::net::Ipv4Addr)> + '_ {
        self.entries
            .iter()
            .map(|(index, _, net)| (*index, net.addr()))
    }

    pub async fn add_all(&self, netlink: &Netlink) -> Result<(), NetlinkError> {
        for (index, iface, net) in &self.entries {
            netlink.add_addr(*index, *net).await?;
            info!(%net, %iface, "virtual address added");
        }
        Ok(())
    }

    /// Removes every address, trying all of them even if one fails; returns the first error.
    pub async fn remove_all(&self, netlink: &Netlink) -> Result<(), NetlinkError> {
        let mut first_error = None;
        for (index, iface, net) in &self.entries {
            match netlink.del_addr(*index, *net).await {
                Ok(()) => info!(%net, %iface, "virtual address removed"),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// At start-up: a previous run killed while master may have left addresses behind.
    pub async fn remove_stale(&self, netlink: &Netlink) -> Result<(), NetlinkError> {
        for (index, iface, net) in &self.entries {
            // Delete it as it is configured now (its own prefix), which may differ from ours.
            for stale in netlink
                .ipv4_addrs(*index)
                .await?
                .into_iter()
                .filter(|p| p.addr() == net.addr())
            {
                netlink.del_addr(*index, stale).await?;
                info!(net = %stale, %iface, "stale virtual address removed at start-up");
            }
        }
        Ok(())
    }
}
