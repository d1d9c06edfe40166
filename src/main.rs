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
    Send,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
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

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging(&args.log_format);
    let name = match args.command {
        Command::Check => return check(&args.config),
        Command::Run => "run",
        Command::State { .. } => "state",
        Command::Dp => "dp",
        Command::Send => "send",
    };
    eprintln!(
        "webbinder: `{name}` is not implemented yet in this version (config {})",
        args.config.display()
    );
    ExitCode::from(1)
}
