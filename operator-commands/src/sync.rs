//! Pure: replication's commands that `allerta-sync` carries out on this node's files and
//! divergence journal (`allertactl sync …` hands them on; `allertactl sync status` asks the
//! running agent itself).

use clap::Subcommand;

use crate::admin::Args;

/// `sync …`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SyncCmd {
    /// Show what would be sent (files with sizes, database tables) and what never leaves
    /// this node, then exit; nothing is sent or written.
    DryRun,
    /// Print the divergence journal: every saved report, newest first, then what the other
    /// node wrote alone during a split (on the master: merged, or waiting for `apply`).
    Divergence {
        #[command(subcommand)]
        action: Option<DivergenceCmd>,
    },
}

/// `sync divergence …`
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum DivergenceCmd {
    /// Re-apply a waiting change (its number from the listing), or `all` of them in order,
    /// on the master; a conflict is refused with the reason and changes nothing.
    Apply {
        /// A change's number, or `all`.
        target: String,
        /// Who is applying it, for the audit trail (default: the login name).
        #[arg(long)]
        who: Option<String>,
    },
}

impl SyncCmd {
    /// The arguments that name this command (`divergence apply 3`).
    pub fn to_args(&self) -> Vec<String> {
        let mut out = Args::default();
        match self {
            Self::DryRun => out.word("dry-run"),
            Self::Divergence { action: None } => out.word("divergence"),
            Self::Divergence {
                action: Some(DivergenceCmd::Apply { target, who }),
            } => {
                out.words(&["divergence", "apply"]);
                out.maybe("--who", who.as_deref());
                out.last(&[target]);
            }
        }
        out.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: SyncCmd,
    }

    #[test]
    fn every_command_reads_back_as_itself_from_its_arguments() {
        for args in [
            &["dry-run"][..],
            &["divergence"],
            &["divergence", "apply", "all"],
            &["divergence", "apply", "3", "--who", "rossi"],
        ] {
            let first = Cli::try_parse_from([&["x"], args].concat()).unwrap().cmd;
            let again = first.to_args();
            let parsed =
                Cli::try_parse_from(std::iter::once("x".to_owned()).chain(again.iter().cloned()))
                    .unwrap_or_else(|e| panic!("{again:?}: {e}"))
                    .cmd;
            assert_eq!(parsed, first, "{args:?} -> {again:?}");
        }
    }
}
