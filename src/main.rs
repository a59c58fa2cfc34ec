//! The `alert-users` binary: parse, run, print the final line, exit. The only place that exits.

use std::process::ExitCode;

use alert_users::cli::{Cli, Command, ExportArgs};
use alert_users::progress::{LogWriter, eprint_line};
use alert_users::{Error, error};
use clap::{CommandFactory, Parser};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Export(args) => export(*args),
        Command::State(args) => match alert_users::state::run_command(args) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(e) => {
                report(&e);
                e.exit_code()
            }
        },
        Command::Simulate(args) => match runtime().block_on(alert_users::sim::run_simulate(args)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("alert-users: error: {e}");
                error::EXIT_FATAL
            }
        },
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "alert-users",
                &mut std::io::stdout(),
            );
            0
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("alert-users: error: {e}");
                    error::EXIT_FATAL
                }
            }
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn export(args: ExportArgs) -> i32 {
    init_logging(args.quiet, args.verbose);
    let quiet = args.quiet;
    let config = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            report(&e);
            return e.exit_code();
        }
    };
    let summary = runtime().block_on(alert_users::run(config, quiet));
    if let Some(e) = &summary.error {
        report(e);
    }
    // A run stopped before reading anything has nothing to count: its error line says it all.
    if summary.error.is_none() || summary.counts.input_lines > 0 {
        eprint_line(&summary.line());
    }
    summary.exit_code()
}

fn report(e: &Error) {
    eprint_line(&format!("alert-users: error: {e}"));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Logs go to stderr (stdout stays clean), printed around the progress bar.
fn init_logging(quiet: bool, verbose: u8) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,alert_users=info",
        (false, 1) => "warn,alert_users=debug",
        (false, _) => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .with_ansi(ansi)
        .with_target(false)
        .init();
}
