//! First boot: the node's settings from the OVF environment vCenter gives the VM (the
//! vApp properties filled in at "Deploy OVF Template"), written as the files the node
//! runs from. Runs on every boot (`allerta-firstboot.service`, before networking); an
//! unchanged environment writes nothing, an invalid one writes nothing and says why on
//! the console (`ERROR: <key>: <reason>`) and for `allertactl status` (`refusal`).
//!
//! ```text
//! source (driver) ─▶ env (pure) ─▶ validate (pure, through spec) ─▶ render (pure) ─▶ apply (driver)
//!                                                     nics (choose: pure, scan: driver) ─┘
//! ```
//!
//! `console` writes what must be seen on the appliance's screen.
//! `spec` is also what the OVA tool (`vmware/`) writes the descriptor's ProductSection from.
pub mod apply;
pub mod console;
pub mod env;
pub mod nics;
pub mod refusal;
pub mod render;
pub mod source;
pub mod spec;
pub mod validate;
