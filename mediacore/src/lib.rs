//! Allerta media core: SIP trunks, RTP media, dialplan, AMI and alert campaigns.
//!
//! Not built yet: this crate only reserves its place in the workspace (issues 4, 5 and 6).

/// The version string the binary prints and, later, the AMI banner carries.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
