//! The `webbinder` command line (SPEC §2).
//!
//! Exit status: 0 success, 1 a user-facing error (message on stderr), 2 bad usage.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "webbinder",
    version,
    about = "Links i.LON SmartServer sites across firewalls over XMPP/BOSH"
)]
struct Args {
    /// Agent configuration file.
    #[arg(long, global = true, default_value = "webbinder.toml")]
    config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the agent in the foreground until SIGINT/SIGTERM.
    Run,
    /// Validate the config and every binding file without connecting.
    Check,
    /// Show the replication state store.
    State {
        #[arg(long)]
        json: bool,
    },
    /// The local datapoint table of the running agent.
    Dp,
    /// Act as a client application: send one SOAP request and print the response.
    Send(SendArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["file", "read", "write", "info"])))]
struct SendArgs {
    /// Target: a JID, or a MAC ID (then `<mac>@<own domain>/ilon`); default: this agent.
    #[arg(long)]
    to: Option<String>,
    /// Send this SOAP envelope file as it is.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Read this datapoint.
    #[arg(long, value_name = "NAME")]
    read: Option<String>,
    /// Write a datapoint: NAME=VALUE.
    #[arg(long, value_name = "NAME=VALUE")]
    write: Option<String>,
    /// `UCPTpriority` of the write (0 highest, 255 default).
    #[arg(long, requires = "write")]
    priority: Option<u8>,
    /// `LonFormat` of the written value, e.g. `UCPTvalueDef` for a preset name.
    #[arg(long, requires = "write")]
    lon_format: Option<String>,
    /// SystemService_Read_Info of this type, e.g. SI_TIME, SI_NETWORK, SI_RTR.
    #[arg(long, value_name = "SI_TYPE")]
    info: Option<String>,
    /// How long to wait for the login and for the answer.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
}

/// `default` applies when RUST_LOG is unset: `info` for the agent, `warn` for one-shot
/// commands whose stdout is their result.
fn init_logging(format: &str, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// `webbinder check`: validates without connecting or touching the store.
fn check(path: &std::path::Path) -> ExitCode {
    match webbinder::config::load(path) {
        Ok(cfg) => {
            for w in cfg.warnings() {
                eprintln!("{w}");
            }
            println!(
                "{}: ok: {} via {}, {} datapoint(s), state {}, bindings {}",
                cfg.path.display(),
                cfg.xmpp.jid(),
                cfg.xmpp.bosh_url(),
                cfg.datapoints.len(),
                cfg.agent.state_dir.display(),
                cfg.agent.bindings_dir.display(),
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::from(1)
        }
    }
}

/// Loads the config or prints its errors (exit 1).
fn load(path: &std::path::Path) -> Result<webbinder::config::Config, ExitCode> {
    webbinder::config::load(path).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(1)
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("webbinder: cannot start the async runtime: {e}");
            ExitCode::from(1)
        })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// `webbinder run`.
fn run(path: &std::path::Path) -> Result<ExitCode, ExitCode> {
    let cfg = load(path)?;
    for w in cfg.warnings() {
        tracing::warn!("{w}");
    }
    let rt = runtime()?;
    match rt.block_on(webbinder::agent::run(cfg, shutdown_signal())) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("webbinder: {e}");
            Err(ExitCode::from(1))
        }
    }
}

/// `webbinder send`.
fn send(path: &std::path::Path, a: SendArgs) -> Result<ExitCode, ExitCode> {
    use webbinder::send::{What, envelope, parse_write, target};
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("webbinder send: {e}");
        ExitCode::from(1)
    };
    let cfg = load(path)?;
    let to = match &a.to {
        Some(t) => target(t, &cfg.xmpp.domain).map_err(|e| fail(&e))?,
        None => cfg.xmpp.jid(),
    };
    let what = if let Some(f) = a.file {
        What::File(f)
    } else if let Some(n) = a.read {
        What::Read(n)
    } else if let Some(w) = a.write {
        let (name, value) = parse_write(&w).map_err(|e| fail(&e))?;
        What::Write {
            name,
            value,
            lon_format: a.lon_format,
            priority: a.priority,
        }
    } else {
        What::Info(a.info.unwrap_or_default())
    };
    let env = envelope(&what).map_err(|e| fail(&e))?;
    let rt = runtime()?;
    let answer = rt
        .block_on(webbinder::send::send(&cfg, &to, env, a.timeout))
        .map_err(|e| fail(&e))?;
    println!("{}", answer.to_xml());
    match webbinder::soap::parse_response(&answer).map(|r| r.body) {
        Ok(webbinder::soap::ResponseBody::Fault(f)) => {
            Err(fail(&format!("SOAP fault: {}", f.string)))
        }
        Ok(webbinder::soap::ResponseBody::Items(i)) if i.fault_count > 0 => Err(fail(&format!(
            "{} item(s) answered with a fault",
            i.fault_count
        ))),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let level = if matches!(args.command, Command::Run) {
        "info"
    } else {
        "warn"
    };
    init_logging(&args.log_format, level);
    let result = match args.command {
        Command::Check => return check(&args.config),
        Command::Run => run(&args.config),
        Command::Send(a) => send(&args.config, a),
        Command::State { .. } => Err(not_yet("state", &args.config)),
        Command::Dp => Err(not_yet("dp", &args.config)),
    };
    result.unwrap_or_else(|code| code)
}

fn not_yet(name: &str, config: &std::path::Path) -> ExitCode {
    eprintln!(
        "webbinder: `{name}` is not implemented yet in this version (config {})",
        config.display()
    );
    ExitCode::from(1)
}
