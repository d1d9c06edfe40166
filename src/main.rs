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
    /// Drop queued writes of a host (all, or one connection's) that will not be delivered.
    Purge {
        /// The host alias (as in the binding files and `state`).
        host: String,
        /// Only this connection's writes.
        #[arg(long, value_name = "SOURCE->TARGET")]
        connection: Option<String>,
        /// Drop without asking.
        #[arg(long)]
        yes: bool,
    },
    /// The local datapoint table of the running agent (via its admin endpoint).
    #[command(subcommand)]
    Dp(DpCommand),
    /// Act as a client application: send one SOAP request and print the response.
    Send(SendArgs),
}

#[derive(Subcommand, Debug)]
enum DpCommand {
    /// List every datapoint with its value.
    List,
    /// Show one datapoint.
    Read { name: String },
    /// Write a datapoint (a local update: fires Web connections like a SOAP Write).
    Write {
        name: String,
        value: String,
        /// Priority, 0 highest, 255 default.
        #[arg(long)]
        priority: Option<u8>,
    },
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
    // Colour codes only on a terminal: a log file or a pipe (journald) gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
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
            let bindings = webbinder::agent::load_bindings(&cfg);
            for w in cfg.warnings() {
                eprintln!("{w}");
            }
            println!(
                "{}: ok: {} via {}, {} datapoint(s), state {}, bindings {}",
                cfg.path.display(),
                cfg.xmpp.jid(),
                cfg.xmpp.servers.join(" or "),
                cfg.datapoints.len(),
                cfg.agent.state_dir.display(),
                cfg.agent.bindings_dir.display(),
            );
            match bindings {
                Ok(set) => {
                    for f in &set.files {
                        println!(
                            "{}: ok: {} host(s), {} connection(s)",
                            f.path.display(),
                            f.hosts,
                            f.connections
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    ExitCode::from(1)
                }
            }
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
        Command::State { json } => state(&args.config, json),
        Command::Dp(cmd) => dp(&args.config, cmd),
        Command::Purge {
            host,
            connection,
            yes,
        } => purge(&args.config, &host, connection.as_deref(), yes),
    };
    result.unwrap_or_else(|code| code)
}

fn fail(what: &str, e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("webbinder {what}: {e}");
    ExitCode::from(1)
}

/// One request to the running agent's admin endpoint: `Ok(None)` if nothing listens there.
fn admin_call(
    cfg: &webbinder::config::Config,
    method: reqwest::Method,
    path: &str,
    body: Option<String>,
) -> Result<Option<(u16, String)>, String> {
    let Some(addr) = cfg.agent.admin else {
        return Ok(None);
    };
    let rt = runtime().map_err(|_| "no async runtime".to_owned())?;
    rt.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        let mut req = http.request(method, format!("http://{addr}{path}"));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.map_err(|e| e.to_string())?;
                Ok(Some((status, text)))
            }
            Err(e) if e.is_connect() => Ok(None),
            Err(e) => Err(format!("admin endpoint {addr}: {e}")),
        }
    })
}

/// `webbinder state`: from the running agent, or from the store when it is stopped.
fn state(path: &std::path::Path, json: bool) -> Result<ExitCode, ExitCode> {
    use webbinder::state::{StateReport, build, render};
    let cfg = load(path)?;
    let report: StateReport = match admin_call(&cfg, reqwest::Method::GET, "/state", None)
        .map_err(|e| fail("state", &e))?
    {
        Some((200, text)) => serde_json::from_str(&text).map_err(|e| fail("state", &e))?,
        Some((status, text)) => {
            return Err(fail(
                "state",
                &format!("admin endpoint answered {status}: {text}"),
            ));
        }
        None => {
            let db = webbinder::agent::open_store(&cfg.agent.state_dir).map_err(|e| {
                fail(
                    "state",
                    &format!("{e} (is the agent running with its admin endpoint off?)"),
                )
            })?;
            let store = webbinder::store::Store::open(&db).map_err(|e| fail("state", &e))?;
            let bindings = webbinder::agent::load_bindings(&cfg).ok();
            build(&store, bindings.as_ref(), None).map_err(|e| fail("state", &e))?
        }
    };
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| fail("state", &e))?;
        println!("{text}");
    } else {
        print!("{}", render(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal whether to go on; refuses when stdin is not a terminal.
fn confirm(question: &str) -> Result<bool, String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(
            "refusing to drop queued writes without confirmation: stdin is not a terminal; pass --yes to drop them"
                .to_owned(),
        );
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES"))
}

/// `webbinder purge`: through the running agent's admin endpoint, or on the store when the
/// agent is stopped. Shows what it drops first; drops only what was shown.
fn purge(
    path: &std::path::Path,
    host: &str,
    connection: Option<&str>,
    yes: bool,
) -> Result<ExitCode, ExitCode> {
    use webbinder::state::{PurgeReport, PurgeRequest, connection_key, render_purge};
    let cfg = load(path)?;
    let connection = match connection {
        Some(spec) => Some(connection_key(host, spec).ok_or_else(|| {
            fail(
                "purge",
                &format!("--connection {spec:?} is not of the form SOURCE->TARGET"),
            )
        })?),
        None => None,
    };
    let ask = |shown: &PurgeReport| -> Result<bool, ExitCode> {
        print!("{}", render_purge(shown));
        if shown.count == 0 {
            return Ok(false);
        }
        if yes {
            return Ok(true);
        }
        match confirm(&format!("Drop these {} write(s)?", shown.count)) {
            Ok(true) => Ok(true),
            Ok(false) => Err(fail("purge", &"not confirmed; nothing dropped")),
            Err(e) => Err(fail("purge", &e)),
        }
    };
    let request = |dry_run: bool, upto: Option<u64>| {
        serde_json::to_string(&PurgeRequest {
            host: host.to_owned(),
            connection: connection.clone(),
            upto,
            dry_run,
        })
        .map_err(|e| fail("purge", &e))
    };
    let call = |body: String| -> Result<Option<PurgeReport>, ExitCode> {
        match admin_call(&cfg, reqwest::Method::POST, "/purge", Some(body))
            .map_err(|e| fail("purge", &e))?
        {
            Some((200, text)) => Ok(Some(
                serde_json::from_str(&text).map_err(|e| fail("purge", &e))?,
            )),
            Some((status, text)) => Err(fail(
                "purge",
                &format!("admin endpoint answered {status}: {text}"),
            )),
            None => Ok(None),
        }
    };
    let done = if let Some(shown) = call(request(true, None)?)? {
        if !ask(&shown)? {
            return Ok(ExitCode::SUCCESS);
        }
        call(request(false, shown.last_seq)?)?.ok_or_else(|| {
            fail(
                "purge",
                &"the agent stopped meanwhile; nothing dropped, run purge again",
            )
        })?
    } else {
        let db = webbinder::agent::open_store(&cfg.agent.state_dir).map_err(|e| {
            fail(
                "purge",
                &format!("{e} (is the agent running with its admin endpoint off?)"),
            )
        })?;
        let store = webbinder::store::Store::open(&db).map_err(|e| fail("purge", &e))?;
        let preview = store
            .purge_preview(host, connection.as_deref())
            .map_err(|e| fail("purge", &e))?;
        let shown = PurgeReport::of(host, true, &preview);
        if !ask(&shown)? {
            return Ok(ExitCode::SUCCESS);
        }
        let summary = store
            .purge_writes(host, connection.as_deref(), shown.last_seq)
            .map_err(|e| fail("purge", &e))?;
        store.flush().map_err(|e| fail("purge", &e))?;
        PurgeReport::of(host, false, &summary)
    };
    print!("{}", render_purge(&done));
    Ok(ExitCode::SUCCESS)
}

/// `webbinder dp ...`: through the running agent's admin endpoint.
fn dp(path: &std::path::Path, cmd: DpCommand) -> Result<ExitCode, ExitCode> {
    use webbinder::admin::{DatapointJson, ErrorJson, WriteBody};
    let cfg = load(path)?;
    let enc = webbinder::admin::encode_name;
    let (method, url, body) = match &cmd {
        DpCommand::List => (reqwest::Method::GET, "/datapoints".to_owned(), None),
        DpCommand::Read { name } => (
            reqwest::Method::GET,
            format!("/datapoints/{}", enc(name)),
            None,
        ),
        DpCommand::Write {
            name,
            value,
            priority,
        } => {
            let body = serde_json::to_string(&WriteBody {
                value: value.clone(),
                priority: *priority,
            })
            .map_err(|e| fail("dp", &e))?;
            (
                reqwest::Method::PUT,
                format!("/datapoints/{}", enc(name)),
                Some(body),
            )
        }
    };
    let (status, text) = match admin_call(&cfg, method, &url, body).map_err(|e| fail("dp", &e))? {
        Some(r) => r,
        None => {
            return Err(fail(
                "dp",
                &"the agent is not running (or its admin endpoint is off); start it with `webbinder run`",
            ));
        }
    };
    if status != 200 {
        let msg = serde_json::from_str::<ErrorJson>(&text).map_or(text, |e| match e.fault {
            Some(f) => format!("{} (fault {f})", e.error),
            None => e.error,
        });
        return Err(fail("dp", &msg));
    }
    let show = |d: &DatapointJson| {
        println!(
            "{}\t{}\t{}{}\tpriority {}\t{}\t{}",
            d.name,
            d.dp_type,
            d.value,
            d.preset
                .as_deref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default(),
            d.priority,
            d.point_status,
            d.last_update
        );
    };
    match cmd {
        DpCommand::List => {
            let all: Vec<DatapointJson> =
                serde_json::from_str(&text).map_err(|e| fail("dp", &e))?;
            all.iter().for_each(show);
        }
        _ => show(&serde_json::from_str(&text).map_err(|e| fail("dp", &e))?),
    }
    Ok(ExitCode::SUCCESS)
}
