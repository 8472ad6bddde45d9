//! The `ferroftp` binary: parses the command line, sets up logging, runs, owns the exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match ferroftp::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::MissingSubcommand
                    | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            eprintln!("error: a subcommand is required (see ferroftp --help)");
            return ExitCode::from(2);
        }
        Err(e) => {
            // One clear line, not clap's whole usage block.
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see ferroftp --help)");
            return ExitCode::from(2);
        }
    };
    ferroftp::logging::init();
    match ferroftp::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", ferroftp::cli::one_line(&e));
            match e.downcast_ref::<ferroftp::client::ExitError>() {
                Some(client) => ExitCode::from(client.code),
                None => ExitCode::FAILURE,
            }
        }
    }
}
