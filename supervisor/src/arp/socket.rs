//! Driver: sends gratuitous ARP frames on an interface through an AF_PACKET socket.
//!
//! No safe crate builds a `sockaddr_ll` (nix and socket2 only offer unsafe constructors), so
//! this module makes the one `sendto` call itself.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use socket2::{Domain, Protocol, Socket, Type};

use super::garp::ETH_P_ARP;

pub struct ArpSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl ArpSocket {
    /// Opens a raw packet socket for ARP frames on interface `ifindex`.
    pub fn open(ifindex: u32) -> io::Result<Self> {
        let proto = Protocol::from(i32::from(ETH_P_ARP.to_be()));
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(proto))?;
        socket.set_nonblocking(true)?;
        Ok(Self {
            fd: socket.into(),
            ifindex,
        })
    }

    /// Sends one complete Ethernet frame (destination MAC in its first 6 bytes).
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        if frame.len() < 14 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        }
        // SAFETY: sockaddr_ll is plain old data, so all-zero is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = ETH_P_ARP.to_be();
        addr.sll_ifindex = self.ifindex as i32;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: the fd is a live socket we own; `frame` and `addr` outlive the call and the
        // lengths passed are theirs.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                std::ptr::addr_of!(addr).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
