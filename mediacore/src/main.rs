//! `allerta-mediacore`: placeholder until the media core lands (issue 4).

fn main() {
    eprintln!(
        "allerta-mediacore {}: not implemented yet (see issue 4)",
        mediacore::VERSION
    );
    std::process::exit(2);
}
