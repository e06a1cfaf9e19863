//! Golden wire tests, with Wireshark as the oracle both ways:
//! keepalived's adverts (captured and decoded by tshark, `golden/vrrp/keepalived/`) decoded by
//! our codec; and our supervisor's adverts, captured live in the lab, decoded by tshark.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use supervisor::vrrp::packet::{Advert, Ipv4Header, PseudoHeader, Version};
use system_tests::lab::{Lab, Node};
use system_tests::nodes::{self, Speaker, Vrrp};

/// The frame's bytes from a `tshark -V -x` text dump (the hex lines at the end).
fn hex_dump(text: &str) -> Vec<u8> {
    text.lines()
        .filter(|l| {
            l.len() > 6 && l[..4].chars().all(|c| c.is_ascii_hexdigit()) && &l[4..6] == "  "
        })
        .flat_map(|l| {
            l[6..]
                .split("  ")
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(|b| u8::from_str_radix(b, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The value tshark printed after `label: ` (first occurrence).
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        // Either "Label: value" or, for bit fields, ".... 0110 0100 = Label: value".
        .find_map(|l| {
            let l = l.trim_start();
            let l = l.split_once(" = ").map_or(l, |(_, rest)| rest);
            l.strip_prefix(label)?.strip_prefix(": ")
        })
        .unwrap_or_else(|| panic!("no {label:?} in the dump"))
        .split_whitespace()
        .next()
        .unwrap()
}

#[test]
fn keepalived_adverts_decode_as_wireshark_decoded_them_and_reencode_identically() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/vrrp/keepalived");
    let mut checked = 0;
    for name in [
        "advert-v2.txt",
        "advert-v3.txt",
        "prio0-v2.txt",
        "prio0-v3.txt",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let frame = hex_dump(&text);
        let (ip, payload) =
            Ipv4Header::parse(&frame[14..]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let version = if text.contains("Version 3, Packet type 1") {
            Version::V3
        } else {
            Version::V2
        };
        let ph = PseudoHeader {
            src: ip.src,
            dst: ip.dst,
        };
        let ours = Advert::decode(payload, ph, version).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            text.contains("[correct]"),
            "{name}: Wireshark did not find the checksum correct"
        );
        assert_eq!(
            ours.vrid.to_string(),
            field(&text, "Virtual Rtr ID"),
            "{name}"
        );
        assert_eq!(
            ours.priority.to_string(),
            field(&text, "Priority"),
            "{name}"
        );
        let adver_int: u16 = field(&text, "Adver Int").parse().unwrap();
        let expected_cs = if version == Version::V3 {
            adver_int
        } else {
            adver_int * 100
        };
        assert_eq!(ours.adver_int_cs, expected_cs, "{name}");
        assert_eq!(
            ours.addrs,
            [field(&text, "IP Address").parse::<Ipv4Addr>().unwrap()],
            "{name}"
        );
        let mut again = Vec::new();
        ours.encode(ph, &mut again);
        assert_eq!(again, payload, "{name}: re-encoding is not byte-identical");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

/// Captures `count` of our adverts on the lab's data switch and returns tshark's JSON.
fn capture_our_adverts(test: &str, version: u8, interval_ms: u64) -> Vec<Value> {
    let lab = Lab::two_nodes(test);
    system_tests::prereq::require_tools(test, &["tshark"]);
    let v = Vrrp {
        version,
        ..Vrrp::for_node(Node::A, interval_ms)
    };
    let a = nodes::start(&lab, Node::A, Speaker::Allerta, &v);
    assert!(
        a.wait_count("to=Master", 1, Duration::from_secs(10)),
        "{}",
        a.log_text()
    );
    let out = lab.exec(
        "sw",
        "tshark",
        &[
            "-i",
            "br-data",
            "-f",
            "ip proto 112",
            "-c",
            "3",
            "-a",
            "duration:10",
            "-T",
            "json",
            "-x",
        ],
    );
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("tshark JSON");
    let packets = json.as_array().expect("a JSON array").clone();
    assert_eq!(packets.len(), 3, "captured {} adverts", packets.len());
    packets
}

fn check_decoded_by_tshark(packets: &[Value], version: &str, adver_int: &str) {
    for p in packets {
        let layers = &p["_source"]["layers"];
        let text = layers.to_string();
        assert!(
            !text.contains("_ws.malformed") && !text.contains("_ws.expert"),
            "tshark flagged the packet: {text}"
        );
        let (ip, vrrp) = (&layers["ip"], &layers["vrrp"]);
        assert_eq!(ip["ip.ttl"], "255");
        assert_eq!(ip["ip.src"], Node::A.data_ip().to_string());
        assert_eq!(ip["ip.dst"], "224.0.0.18");
        assert_eq!(
            ip["ip.dsfield_tree"]["ip.dsfield.dscp"], "48",
            "DSCP CS6 as keepalived"
        );
        let version_tree = &vrrp["vrrp.typever_tree"];
        assert_eq!(version_tree["vrrp.version"], version, "{vrrp}");
        assert_eq!(vrrp["vrrp.virt_rtr_id"], "51");
        assert_eq!(vrrp["vrrp.prio"], "200");
        assert_eq!(vrrp["vrrp.addr_count"], "1");
        // Wireshark names the 12-bit v3 field short_adver_int, the 8-bit v2 one adver_int.
        let interval_field = if version == "3" {
            "vrrp.short_adver_int"
        } else {
            "vrrp.adver_int"
        };
        assert_eq!(vrrp[interval_field], adver_int);
        assert_eq!(vrrp["vrrp.ip_addr"], "10.77.0.10");
        assert_eq!(
            vrrp["vrrp.checksum.status"], "1",
            "Wireshark says the checksum is bad: {vrrp}"
        );
    }
}

#[test]
fn our_v3_adverts_are_decoded_by_tshark_with_a_correct_checksum() {
    let packets = capture_our_adverts("wire-v3", 3, 100);
    check_decoded_by_tshark(&packets, "3", "10");
}

#[test]
fn our_v2_adverts_are_decoded_by_tshark_with_a_correct_checksum() {
    let packets = capture_our_adverts("wire-v2", 2, 1000);
    check_decoded_by_tshark(&packets, "2", "1");
}
