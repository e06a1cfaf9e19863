//! Driver: interfaces and addresses through rtnetlink (no shelling out to `ip`).

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags};
use rtnetlink::{AddressMessageBuilder, Handle};
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("opening a netlink socket")]
    Open(#[source] io::Error),
    #[error("interface {0} not found")]
    NoSuchInterface(String),
    #[error("interface {0} has no Ethernet address")]
    NoMac(String),
    #[error("interface {0} has no IPv4 address to send adverts from")]
    NoIpv4(String),
    #[error("netlink request for {what} failed")]
    Request {
        what: String,
        #[source]
        source: io::Error,
    },
}

/// What we need to know of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u32,
    pub mac: [u8; 6],
    /// Administratively up and with carrier (IFF_UP and IFF_LOWER_UP).
    pub is_up: bool,
}

/// One rtnetlink connection; its task ends when this is dropped.
pub struct Netlink {
    handle: Handle,
    connection: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

fn request_error(what: impl Into<String>, e: rtnetlink::Error) -> NetlinkError {
    let source = match e {
        rtnetlink::Error::NetlinkError(msg) => msg.to_io(),
        other => io::Error::other(other.to_string()),
    };
    NetlinkError::Request {
        what: what.into(),
        source,
    }
}

fn errno(e: &NetlinkError) -> Option<i32> {
    match e {
        NetlinkError::Request { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

impl Netlink {
    /// Opens a connection; must be called inside a tokio runtime, which runs its task.
    pub fn connect() -> Result<Self, NetlinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Open)?;
        let connection = tokio::spawn(conn);
        Ok(Self { handle, connection })
    }

    pub async fn link(&self, name: &str) -> Result<Link, NetlinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        let msg = match links.try_next().await {
            Ok(Some(msg)) => msg,
            Ok(None) => return Err(NetlinkError::NoSuchInterface(name.into())),
            // The kernel answers ENODEV for an unknown name.
            Err(rtnetlink::Error::NetlinkError(m))
                if m.to_io().raw_os_error() == Some(libc::ENODEV) =>
            {
                return Err(NetlinkError::NoSuchInterface(name.into()))
            }
            Err(e) => return Err(request_error(format!("link {name}"), e)),
        };
        let mac = msg
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Address(m) if m.len() == 6 => {
                    Some([m[0], m[1], m[2], m[3], m[4], m[5]])
                }
                _ => None,
            })
            .ok_or_else(|| NetlinkError::NoMac(name.into()))?;
        let flags = msg.header.flags;
        Ok(Link {
            name: name.into(),
            index: msg.header.index,
            mac,
            is_up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp),
        })
    }

    /// The IPv4 addresses on interface `index`, in the kernel's order (primary first).
    pub async fn ipv4_addrs(&self, index: u32) -> Result<Vec<Ipv4Net>, NetlinkError> {
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut found = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| request_error(format!("addresses of interface {index}"), e))?
        {
            if msg.header.index != index {
                continue;
            }
            for attr in &msg.attributes {
                if let AddressAttribute::Local(IpAddr::V4(a)) = attr {
                    if let Ok(net) = Ipv4Net::new(*a, msg.header.prefix_len) {
                        found.push(net);
                    }
                }
            }
        }
        Ok(found)
    }

    /// Adds `net` to interface `index`; already present is fine.
    pub async fn add_addr(&self, index: u32, net: Ipv4Net) -> Result<(), NetlinkError> {
        let result = self
            .handle
            .address()
            .add(index, IpAddr::V4(net.addr()), net.prefix_len())
            .execute()
            .await
            .map_err(|e| request_error(format!("adding {net}"), e));
        match result {
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            other => other,
        }
    }

    /// Removes `net` from interface `index`; already absent is fine.
    pub async fn del_addr(&self, index: u32, net: Ipv4Net) -> Result<(), NetlinkError> {
        let msg = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(net.addr(), net.prefix_len())
            .build();
        let result = self
            .handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(|e| request_error(format!("removing {net}"), e));
        match result {
            Err(e) if errno(&e) == Some(libc::EADDRNOTAVAIL) => Ok(()),
            other => other,
        }
    }
}
