//! The Allerta lab: network namespaces, real binaries and real peers, for the end-to-end
//! tests (`tests/tests/`), the benchmarks and the demo (`tests/src/bin/`).
//!
//! - `ami`: a raw AMI client (bytes out, messages in) for protocol tests and the bench.
//! - `appliance`: the whole pair (supervisor, media core, sync agent on each node),
//!   citizens at the carrier, the operator's `allertactl`; the demo and the fault suite.
//! - `bench`: what the benchmarks share (numeric options, CPU time).
//! - `browser`: headless Chromium over WebDriver from the client namespace (the web console).
//! - `campaign`: campaign nodes, operator commands, sipp citizens, what the carrier saw.
//! - `container`: appliances booted from the OVA's disk as systemd-nspawn containers.
//! - `faults`: fault injection on the pair (the suite and the soak), the invariants.
//! - `lab`: namespaces on bridges, processes in them, teardown on drop.
//! - `nodes`: our supervisor or keepalived on a node, with the same VRRP settings.
//! - `probe`: a UDP echo service on the nodes and a 10 ms probe of the VIP from the client.
//! - `prereq`: root, tools and workspace binaries; missing ones fail, never skip.
//! - `voice`: mediacore configuration, sipp, kamailio, baresip and captures on the voice net.
//! - `sync`: the sync agents, their directories and TLS pair, a ledger writer, a corrupting relay.
//! - `wizard`: a lab node's answers to the vSphere wizard and the OVF environment from them.
//! - `shipped_node`: a lab node's files from first boot's rendering, with the lab's stated differences.
//! - `rtpcap`: RTP loss and pacing out of large pcap files (the media benchmark).
//! - `rfc4475`: the SIP torture test messages and what the media core does with each.
pub mod ami;
pub mod appliance;
pub mod bench;
pub mod browser;
pub mod campaign;
pub mod container;
pub mod failover;
pub mod faults;
pub mod lab;
pub mod nodes;
pub mod prereq;
pub mod probe;
pub mod rfc4475;
pub mod rtpcap;
pub mod scenarios;
pub mod shipped_node;
pub mod sync;
pub mod voice;
pub mod wizard;
