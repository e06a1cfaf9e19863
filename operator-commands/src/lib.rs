//! Pure: the operator's commands that the media core and the sync agent carry out, as clap
//! types, so that `allertactl` offers them in its one command tree (help, completions, the
//! man page, checked arguments) and the program that owns the data runs them:
//! - [`admin`]: campaigns, contacts, messages and operators (`allerta-mediacore`, which
//!   owns the database's rules through `alertdb`);
//! - [`sync`]: replication's dry run and the divergence journal (`allerta-sync`).
//!
//! Each command turns back into the arguments that name it ([`admin::Admin::to_args`],
//! [`sync::SyncCmd::to_args`]): what `allertactl` parsed is what the other program reads.

pub mod admin;
pub mod sync;
