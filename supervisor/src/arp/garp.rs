//! Pure: the gratuitous ARP frame a new master broadcasts for each virtual address
//! (RFC 9568 §6.4.2: "broadcast a gratuitous ARP request"; RFC 5227 §3 on the form).
//!
//! Same form as keepalived's (shared/references/vrrp/garp-v3.txt): an ARP *request*
//! from our MAC for the address, to the broadcast MAC, target MAC broadcast too.

use std::net::Ipv4Addr;

/// Ethernet header + ARP for IPv4 over Ethernet.
pub const FRAME_LEN: usize = 42;
/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
const BROADCAST: [u8; 6] = [0xff; 6];

/// Builds the frame announcing that `ip` is at `mac`.
pub fn frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol: IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    f[32..38].copy_from_slice(&BROADCAST);
    f[38..42].copy_from_slice(&ip.octets());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_keepalived_byte_for_byte() {
        // shared/references/vrrp/garp-v3.txt
        let keepalived = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x4e, 0x9e, 0xd6, 0xd4, 0x6e, 0x87, 0x08, 0x06,
            0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x4e, 0x9e, 0xd6, 0xd4, 0x6e, 0x87,
            0x0a, 0x4d, 0x00, 0x64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x4d, 0x00, 0x64,
        ];
        let mac = [0x4e, 0x9e, 0xd6, 0xd4, 0x6e, 0x87];
        assert_eq!(frame(mac, Ipv4Addr::new(10, 77, 0, 100)), keepalived);
    }
}
