use std::process::ExitCode;

fn main() -> ExitCode {
    walletops::cli::main()
}
