//! Pure: the `extensions.conf` subset Allerta runs. [`pattern`] matches extension names,
//! [`expr`] substitutes variables and evaluates `$[…]`, [`parse`] loads a [`Dialplan`],
//! and [`exec`] runs one channel through it, returning actions for the call driver;
//! [`say`] names the prompts that say digits and numbers, [`strftime`] formats times.
pub mod exec;
pub mod expr;
pub mod parse;
pub mod pattern;
pub mod say;
pub mod strftime;

pub use exec::{Action, DialStatus, DialTarget, Execution, Outcome};
pub use parse::Dialplan;
