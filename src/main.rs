use std::process::ExitCode;

fn main() -> ExitCode {
    inception::cli::main()
}
