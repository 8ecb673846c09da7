//! `logferry-emulator`: the emulator as a standalone process (see
//! [`logferry_emulator::cli`]).

use clap::Parser;
use std::process::ExitCode;

/// A strict local emulator of Taegis HTTP Ingest, Taegis File Upload and SentinelOne SDL,
/// with fault injection.
#[derive(Debug, Parser)]
#[command(name = "logferry-emulator", version)]
struct Cli {
    #[command(flatten)]
    args: logferry_emulator::cli::Args,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("logferry-emulator: cannot start a runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(logferry_emulator::cli::run(cli.args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut message = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("logferry-emulator: {message}");
            ExitCode::from(2)
        }
    }
}
