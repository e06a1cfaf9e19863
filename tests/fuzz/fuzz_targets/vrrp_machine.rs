//! Arbitrary sequences of inputs into the VRRP state machine
//! (`supervisor::vrrp::machine::VirtualRouter::handle`): adverts from a peer (any priority,
//! interval, VRID, address), ticks at arbitrary times, faults, priority changes, yields,
//! promotions and preempt holds, in any order. Each input is 4 bytes: kind, then three
//! arguments. What must hold whatever the order:
//! - the machine never panics and time only moves forward;
//! - it adds the VIPs only when it becomes master and removes them when it stops being one,
//!   so "holds the VIPs" is exactly "is master" after every input (no split brain from the
//!   machine itself);
//! - a machine in Fault sends no adverts.
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use supervisor::vrrp::machine::{Action, Input, RouterConfig, State, VirtualRouter};
use supervisor::vrrp::packet::{Advert, Version};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let version = if flags & 1 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    let mut vr = VirtualRouter::new(RouterConfig {
        version,
        vrid: 51,
        priority: 100,
        adver_int: Duration::from_secs(1),
        preempt: flags & 2 != 0,
        preempt_delay: Duration::from_millis(u64::from(flags >> 4) * 500),
        primary_ip: Ipv4Addr::new(10, 0, 0, 11),
        vips: vec![Ipv4Addr::new(10, 0, 0, 100)],
        garp_master_delay: (flags & 4 != 0).then_some(Duration::from_secs(5)),
    });
    let mut now = Instant::now();
    let mut out = Vec::new();
    let mut holds_vips = false;
    vr.handle(now, Input::Startup, &mut out);
    for chunk in rest.chunks_exact(4) {
        let (kind, a, b, c) = (chunk[0], chunk[1], chunk[2], chunk[3]);
        let input = match kind % 10 {
            0 | 1 => Input::Advert {
                src: Ipv4Addr::new(10, 0, 0, a),
                advert: Advert {
                    version,
                    vrid: if c & 1 == 0 { 51 } else { c },
                    priority: b,
                    adver_int_cs: if c & 2 == 0 { 100 } else { u16::from(c) * 10 },
                    addrs: vec![Ipv4Addr::new(10, 0, 0, 100)],
                },
            },
            2 | 3 => {
                now += Duration::from_millis(u64::from(u16::from_be_bytes([a, b])));
                Input::Tick
            }
            4 => Input::Fault,
            5 => Input::FaultCleared,
            6 => Input::SetPriority(a),
            7 => Input::Yield,
            8 => Input::Promote,
            _ => Input::HoldPreempt(a & 1 == 1),
        };
        let faulted = vr.state() == State::Fault;
        vr.handle(now, input.clone(), &mut out);
        for action in out.drain(..) {
            match action {
                Action::AddVips => holds_vips = true,
                Action::RemoveVips => holds_vips = false,
                Action::SendAdvert { .. } => assert!(
                    !(faulted && vr.state() == State::Fault),
                    "an advert from Fault after {input:?}"
                ),
                _ => {}
            }
        }
        assert_eq!(
            holds_vips,
            vr.state() == State::Master,
            "VIPs held: {holds_vips}, state {:?} after {input:?}",
            vr.state()
        );
        if let Some(at) = vr.next_deadline() {
            // The driver never wakes the machine before now.
            now = now.max(at.min(now + Duration::from_secs(3600)));
        }
    }
    vr.handle(now, Input::Shutdown, &mut out);
});
