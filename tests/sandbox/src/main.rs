//! `jobgate-sandbox`: run the fake API server from the command line, for the
//! README demo, manual testing with kubectl, and benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use jobgate_sandbox::scenario::Shape;
use jobgate_sandbox::{Fault, Options, Sandbox, Scenario};

/// A fake Kubernetes API server with Flux's resources, for kubectl-jobgate.
///
/// Prints the server URL on stdout once it is ready, writes a kubeconfig,
/// and runs until SIGTERM or Ctrl-C. With a command after `--`, runs that
/// command against the sandbox instead (KUBECONFIG set), then stops and
/// exits with the command's status:
///
///   jobgate-sandbox --scenario failed -- kubectl get kustomizations -A
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ShapeArg {
    Independent,
    SharedDependency,
    Deep,
}

impl From<ShapeArg> for Shape {
    fn from(s: ShapeArg) -> Shape {
        match s {
            ShapeArg::Independent => Shape::Independent,
            ShapeArg::SharedDependency => Shape::SharedDependency,
            ShapeArg::Deep => Shape::Deep,
        }
    }
}

#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// A built-in scenario (canonical, failed, multi-app, no-flux) or the path of a scenario file.
    #[arg(long, default_value = "canonical", conflicts_with = "apps")]
    scenario: String,
    /// Generate the scale scenario instead: N apps, 3N Kustomizations, 2N Jobs.
    #[arg(long, value_name = "N")]
    apps: Option<usize>,
    /// The scale scenario's dependency graph: independent chains of three,
    /// all on one shared `infra` stage, or chains 51 stages deep.
    #[arg(long, value_enum, default_value = "independent", requires = "apps")]
    shape: ShapeArg,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    plain_http: bool,
    /// Where to write the kubeconfig [default: sandbox.kubeconfig; a temporary
    /// file when running a command].
    #[arg(long, value_name = "PATH")]
    kubeconfig_out: Option<PathBuf>,
    /// The bearer token (random by default).
    #[arg(long)]
    token: Option<String>,
    /// The user the token authenticates as (appears in 403 messages).
    #[arg(long, default_value = "sandbox-admin")]
    user: String,
    /// Simulated seconds per real second: a demo's Jobs, retries and Flux's
    /// polls take seconds, not minutes (1: real time).
    #[arg(long, default_value_t = DEMO_SPEED)]
    speed: f64,
    /// A fault to inject at start, as JSON (repeatable), e.g.
    /// '{"type":"fail","path":"/apis/batch/*","count":2,"status":503,"retryAfter":1}'.
    #[arg(long = "fault", value_name = "JSON")]
    faults: Vec<String>,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 60)]
    bookmark_seconds: u64,
    /// Do not run the simulated Flux, Job and Deployment controllers.
    #[arg(long)]
    no_controllers: bool,
    /// kustomize-controller's --requeue-dependency, in simulated seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    requeue_dependency: u64,
    /// A command to run against the sandbox, with KUBECONFIG pointing at it.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// The default clock: ten simulated seconds a second, so a demo rerun's
/// failing attempts and Flux's 30 s dependency poll pass while one watches.
const DEMO_SPEED: f64 = 10.0;

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut scenario = match cli.apps {
        Some(n) => Scenario::shaped(n, cli.shape.into()),
        None => Scenario::resolve(&cli.scenario)?,
    };
    for f in &cli.faults {
        let fault: Fault =
            serde_json::from_str(f).with_context(|| format!("--fault {f}: not a valid fault"))?;
        scenario.faults.push(fault);
    }
    let name = scenario.name.clone();
    let options = Options {
        plain_http: cli.plain_http,
        port: cli.port,
        token: cli.token,
        user: cli.user,
        speed: cli.speed,
        kubeconfig_out: match (cli.kubeconfig_out, cli.command.is_empty()) {
            (Some(path), _) => Some(path),
            (None, true) => Some(PathBuf::from("sandbox.kubeconfig")),
            (None, false) => None,
        },
        bookmark_interval: Duration::from_secs(cli.bookmark_seconds.max(1)),
        controllers: !cli.no_controllers,
        timing: jobgate_sandbox::controllers::Timing {
            requeue_dependency: Duration::from_secs(cli.requeue_dependency),
            ..Default::default()
        },
        ..Options::default()
    };
    let sandbox = Sandbox::start_with(scenario, options).await?;
    if let Some((program, args)) = cli.command.split_first() {
        let kubeconfig = std::fs::canonicalize(sandbox.kubeconfig())?;
        let status = tokio::process::Command::new(program)
            .args(args)
            .env("KUBECONFIG", &kubeconfig)
            .status()
            .await
            .with_context(|| format!("cannot run {program:?}"))?;
        sandbox.shutdown().await;
        let code = status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1);
        return Ok(ExitCode::from(code));
    }
    println!("{}", sandbox.url());
    eprintln!(
        "jobgate-sandbox: serving scenario {name} on {}, its clock at {}× real time (--speed 1 for real time)\n  export KUBECONFIG={}\n  stop with Ctrl-C",
        sandbox.url(),
        cli.speed,
        std::fs::canonicalize(sandbox.kubeconfig())
            .unwrap_or_else(|_| sandbox.kubeconfig().to_path_buf())
            .display()
    );
    wait_for_signal().await;
    eprintln!("jobgate-sandbox: shutting down");
    sandbox.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
