//! Driver: the raw IP socket (protocol 112) an instance sends and receives adverts on.
//!
//! We write the IPv4 header ourselves (IP_HDRINCL) so the source address is the one the v3
//! checksum was computed over, and the TTL and DSCP are what keepalived sends.
#![allow(unsafe_code)] // AsyncFd::register, see below

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::packet::{encode_ip_header, Advert, PseudoHeader, IPPROTO_VRRP, MULTICAST_GROUP};

pub struct VrrpSocket {
    fd: AsyncFd<Socket>,
    source: Ipv4Addr,
    /// The multicast group, or each unicast peer.
    destinations: Vec<Ipv4Addr>,
    out: Vec<u8>,
}

impl VrrpSocket {
    /// Opens the socket on interface `iface` (index `ifindex`), sending from `source`.
    /// An empty `unicast_peers` means multicast to 224.0.0.18.
    pub fn open(
        iface: &str,
        ifindex: u32,
        source: Ipv4Addr,
        unicast_peers: &[Ipv4Addr],
    ) -> io::Result<Self> {
        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(IPPROTO_VRRP))),
        )?;
        socket.set_nonblocking(true)?;
        socket.bind_device(Some(iface.as_bytes()))?;
        socket.set_header_included_v4(true)?;
        // Adverts are small and bursty when several routers start at once.
        socket.set_recv_buffer_size(256 * 1024)?;
        let destinations = if unicast_peers.is_empty() {
            socket.set_multicast_loop_v4(false)?;
            socket.set_multicast_if_v4(&source)?;
            socket
                .join_multicast_v4_n(&MULTICAST_GROUP, &InterfaceIndexOrAddress::Index(ifindex))?;
            vec![MULTICAST_GROUP]
        } else {
            unicast_peers.to_vec()
        };
        // SAFETY: the AsyncFd takes ownership of the only handle to this socket, so the fd
        // stays open, and is not registered anywhere else, for as long as it is registered.
        let fd = unsafe { AsyncFd::register(socket) }.map_err(|e| e.into_parts().1)?;
        Ok(Self {
            fd,
            source,
            destinations,
            out: Vec::with_capacity(128),
        })
    }

    pub fn source(&self) -> Ipv4Addr {
        self.source
    }

    pub fn destinations(&self) -> &[Ipv4Addr] {
        &self.destinations
    }

    /// Sends `advert` to every destination; returns how many packets left.
    pub fn send(&mut self, advert: &Advert) -> io::Result<usize> {
        let mut sent = 0;
        for &dst in &self.destinations {
            self.out.clear();
            let mut payload = Vec::with_capacity(64);
            advert.encode(
                PseudoHeader {
                    src: self.source,
                    dst,
                },
                &mut payload,
            );
            encode_ip_header(self.source, dst, payload.len(), &mut self.out);
            self.out.extend(&payload);
            let to = SockAddr::from(SocketAddrV4::new(dst, 0));
            self.fd.get_ref().send_to(&self.out, &to)?;
            sent += 1;
        }
        Ok(sent)
    }

    /// Waits for one packet (IPv4 header included) and returns its length. Cancel-safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|inner| (&mut inner.get_ref()).read(buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Reads one packet if one is queued, without waiting.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match (&mut self.fd.get_ref()).read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}
