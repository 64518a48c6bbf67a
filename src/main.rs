//! kubectl-jobgate: parse → settings → runtime → app → exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use kubectl_jobgate::cli::Cli;
use kubectl_jobgate::error::Exit;
use kubectl_jobgate::settings::{Environment, Settings};

fn main() -> ExitCode {
    // kubectl's completion protocol, before clap: the words must reach it as typed.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__complete") {
        return complete(&args[2..]);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let env = Environment {
        stdout_is_terminal,
        stdin_is_terminal: std::io::stdin().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        dumb_terminal: std::env::var("TERM").is_ok_and(|t| t == "dumb"),
        // comfy-table asks the terminal (through crossterm, already in its tree).
        width: stdout_is_terminal
            .then(|| comfy_table::Table::new().width())
            .flatten()
            .map(usize::from),
    };
    let settings = match Settings::resolve(cli, &env) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Usage.into();
        }
    };
    // The settings decided on colour (`--color always` over NO_COLOR); the
    // table's styling library would otherwise drop the colours it is given
    // and leave bare resets.
    crossterm::style::force_color_output(settings.color);
    // One thread: the work is a handful of concurrent requests and a render;
    // a current-thread runtime starts fastest and keeps no state to share.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Usage.into();
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut err = std::io::stderr().lock();
    let exit = runtime.block_on(kubectl_jobgate::app::run(settings, &mut out, &mut err));
    let _ = err.flush();
    exit.into()
}

/// `kubectl-jobgate __complete ARGS... CURRENT`: candidates on stdout, always exit 0.
fn complete(args: &[String]) -> ExitCode {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::SUCCESS;
    };
    let mut out = std::io::stdout().lock();
    let _ = runtime.block_on(kubectl_jobgate::complete::complete(args, &mut out));
    ExitCode::SUCCESS
}
