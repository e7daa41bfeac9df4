//! The `s3seal` command: parse the arguments, run, and turn the outcome into an exit code.
//! Everything else lives in `cli/` (the command line) and the library (the work).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
