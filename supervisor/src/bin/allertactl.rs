//! `allertactl`: the operator CLI. Its commands (status, switchover, maintenance, promote,
//! history) talk to the supervisor's control socket, which lands with issue 3.

fn main() -> std::process::ExitCode {
    eprintln!("allertactl: the supervisor's control socket is not built yet (issue 3)");
    std::process::ExitCode::from(2)
}
