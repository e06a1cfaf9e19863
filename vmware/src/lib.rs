//! The Allerta OVA (`allerta-ova`): the OVF descriptor generated from the vApp property
//! spec first boot reads (`firstboot::spec`), a streamOptimized VMDK written
//! from a raw disk, the SHA256 manifest, the ustar archive in VMware's order, and the
//! checks that an OVA is all of that.
//!
//! Pure: `descriptor`, `vmdk` (over byte streams), `manifest`, `ova`, `pack`, `check`,
//! `negative`. Driver: `schema` (xmllint).
pub mod check;
pub mod descriptor;
pub mod manifest;
pub mod negative;
pub mod ova;
pub mod pack;
pub mod schema;
pub mod vmdk;
