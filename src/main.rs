//! kubectl-jobgate: parse → settings → runtime → app → exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use kubectl_jobgate::cli;
use kubectl_jobgate::error::Exit;
use kubectl_jobgate::invocation::{self, Invocation};
use kubectl_jobgate::narrate::{self, Narrator};
use kubectl_jobgate::settings::{Environment, Settings};

fn main() -> ExitCode {
    // kubectl's completion protocol, before clap: the words must reach it as typed.
    let args: Vec<String> = std::env::args().collect();
    let invocation = Invocation::from_program(args.first().map_or("", String::as_str));
    invocation::set(invocation);
    if args.get(1).map(String::as_str) == Some("__complete") {
        return complete(&args[2..]);
    }
    let cli = match cli::parse(invocation, &args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Error.into()
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
        // A terminal that does not say its size (a bare pty) is 80 wide, or $COLUMNS.
        stderr_width: std::io::stderr().is_terminal().then(|| {
            crossterm::terminal::size()
                .ok()
                .map(|(columns, _)| usize::from(columns))
                .filter(|w| *w > 0)
                .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
                .unwrap_or(80)
        }),
    };
    let settings = match Settings::resolve(cli, &env) {
        Ok(s) => s,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Error.into();
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
            return Exit::Error.into();
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let narrator = Narrator::new(Box::new(std::io::stderr()), settings.progress);
    if settings.verbosity > 0 {
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber =
            tracing_subscriber::registry().with(narrate::logs(&narrator, settings.verbosity));
        // Only fails if one is set already, which nothing here does.
        let _ = tracing::subscriber::set_global_default(subscriber);
    }
    let exit = runtime.block_on(kubectl_jobgate::app::run(settings, &mut out, narrator));
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
