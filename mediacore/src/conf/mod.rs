//! Pure: Asterisk-style configuration files. [`asterisk`] reads the generic `.conf`
//! syntax; [`pjsip`] interprets the `pjsip.conf` subset a SIP provider trunk uses.
pub mod asterisk;
pub mod pjsip;

pub use asterisk::{ConfError, ConfErrorKind, Location};
