//! `allerta-sync`: placeholder until the sync agent lands (issue 7).

fn main() {
    eprintln!(
        "allerta-sync {}: not implemented yet (see issue 7)",
        sync_agent::VERSION
    );
    std::process::exit(2);
}
