//! The `sipjet` command.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sipjet_server::admin::client::AdminClient;
use sipjet_server::admin::views::View;
use sipjet_server::admin::{self, AdminOptions};
use sipjet_server::config::pjsip::{self, Diagnostic, LoadReport};
use sipjet_server::default_config::DEFAULT_CONFIG;
use sipjet_server::dialplan;
use sipjet_server::location::LocationDb;
use sipjet_server::model::Model;
use sipjet_server::server::{Server, ServerOptions};

/// Where registrations are kept when neither `--location-db` nor
/// `location_db` in `[global]` says.
const DEFAULT_LOCATION_DB: &str = "sipjet-location.db";

#[derive(Parser)]
#[command(
    name = "sipjet",
    version,
    about = "A SIP server: registrar, digest authentication, messaging"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the server (on the built-in default configuration when no
    /// --config is given: loopback only, users alice and bob).
    Run {
        /// A pjsip.conf.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// The extensions.conf calls are routed by (instead of the one
        /// [global] dialplan names).
        #[arg(long)]
        dialplan: Option<PathBuf>,
        /// Log every SIP message sent and received.
        #[arg(long)]
        sip_trace: bool,
        /// Where registrations are kept across restarts: a SQLite file, or
        /// a PostgreSQL database several sipjet nodes share
        /// (postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=verify-full]).
        /// Wins over location_db in [global]; default sipjet-location.db.
        #[arg(long, value_name = "PATH|URL")]
        location_db: Option<String>,
        /// Where the admin interface (HTTP JSON API and Prometheus
        /// metrics) listens. Off loopback it needs --admin-token.
        #[arg(long, value_name = "ADDR", default_value = admin::DEFAULT_ADDR)]
        admin: SocketAddr,
        /// The bearer token peers off loopback must send to the admin
        /// interface (default: the SIPJET_ADMIN_TOKEN environment variable).
        #[arg(long, value_name = "TOKEN")]
        admin_token: Option<String>,
        /// Runs without the admin interface.
        #[arg(long, conflicts_with_all = ["admin", "admin_token"])]
        no_admin: bool,
    },
    /// Shows what the running server has: endpoints, auths, aors,
    /// contacts, transports, unidentified (sources that sent many
    /// requests no endpoint was identified for), calls (in progress and
    /// recent), nodes (the nodes sharing the location database, with
    /// their last heartbeat), registrations (to providers), or `dialplan
    /// CONTEXT [NUMBER]` (what a context holds, or what a number dialled
    /// in it runs).
    Show {
        /// endpoints, auths, aors, contacts, transports, unidentified,
        /// calls, nodes, registrations or dialplan.
        what: String,
        /// For dialplan: the context, and a number.
        #[arg(num_args = 0..=2)]
        args: Vec<String>,
        /// Prints the JSON the server answers instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Switches the SIP trace of the running server on or off (shows
    /// whether it is on when neither is given).
    Logger {
        /// on or off.
        state: Option<Switch>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Loads a pjsip.conf, and the extensions.conf it names, and prints
    /// their warnings and errors; exits non-zero when there is an error.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
        /// The extensions.conf to check with it (instead of the one
        /// [global] dialplan names).
        #[arg(long)]
        dialplan: Option<PathBuf>,
    },
}

/// How to reach a running server's admin interface.
#[derive(Args)]
struct AdminArgs {
    /// The admin interface's address.
    #[arg(long, value_name = "ADDR", default_value = admin::DEFAULT_ADDR)]
    admin: SocketAddr,
    /// The bearer token, needed when the server is not on this machine's
    /// loopback (default: the SIPJET_ADMIN_TOKEN environment variable).
    #[arg(long, value_name = "TOKEN")]
    admin_token: Option<String>,
}

impl AdminArgs {
    fn client(self) -> AdminClient {
        AdminClient::new(self.admin, token_or_env(self.admin_token))
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Switch {
    On,
    Off,
}

/// The token given, else the one in the environment.
fn token_or_env(token: Option<String>) -> Option<String> {
    token
        .or_else(|| std::env::var(admin::TOKEN_ENV).ok())
        .filter(|t| !t.is_empty())
}

/// A runtime for the commands that talk to a running server.
fn client_runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            None
        }
    }
}

fn print_report(report: &LoadReport) {
    print_diagnostics(&report.warnings, &report.errors);
}

fn print_diagnostics(warnings: &[Diagnostic], errors: &[Diagnostic]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
    for e in errors {
        eprintln!("error: {e}");
    }
}

/// Checks a dialplan, and it against the pjsip.conf; true when it has no
/// error.
fn check_dialplan(path: &Path, pjsip: &LoadReport) -> bool {
    let plan = dialplan::load(path);
    let cross = if plan.is_ok() {
        dialplan::cross_check(&plan.plan, &pjsip.config)
    } else {
        Vec::new()
    };
    print_diagnostics(&plan.warnings, &plan.errors);
    print_diagnostics(&cross, &[]);
    if plan.is_ok() {
        println!(
            "{}: {} contexts; {} warnings",
            path.display(),
            plan.plan.context_names().len(),
            plan.warnings.len() + cross.len()
        );
    } else {
        eprintln!("{}: {} errors", path.display(), plan.errors.len());
    }
    plan.is_ok()
}

fn load(config: Option<&PathBuf>) -> Option<LoadReport> {
    let report = match config {
        Some(path) => pjsip::load(path),
        None => pjsip::from_str("<built-in default>", DEFAULT_CONFIG),
    };
    print_report(&report);
    report.is_ok().then_some(report)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: a log file or a
        // watcher such as fail2ban reads plain lines.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match cli.command {
        Command::CheckConfig { file, dialplan } => {
            let report = pjsip::load(&file);
            print_report(&report);
            let plan = (dialplan.or_else(|| report.config.global.dialplan.clone()))
                .map(|path| check_dialplan(&path, &report));
            if plan.is_some_and(|ok| !ok) {
                eprintln!("{}: the dialplan has errors", file.display());
                return ExitCode::FAILURE;
            }
            if report.is_ok() {
                println!(
                    "{}: {} transports, {} endpoints, {} auths, {} aors, {} identifies, {} registrations; {} warnings",
                    file.display(),
                    report.config.transports.len(),
                    report.config.endpoints.len(),
                    report.config.auths.len(),
                    report.config.aors.len(),
                    report.config.identifies.len(),
                    report.config.registrations.len(),
                    report.warnings.len()
                );
                ExitCode::SUCCESS
            } else {
                eprintln!("{}: {} errors", file.display(), report.errors.len());
                ExitCode::FAILURE
            }
        }
        Command::Show {
            what,
            args,
            json,
            admin,
        } => {
            let Some(runtime) = client_runtime() else {
                return ExitCode::FAILURE;
            };
            let client = admin.client();
            let shown = if what == "dialplan" {
                let Some(context) = args.first() else {
                    eprintln!("sipjet show dialplan: name a context (and a number)");
                    return ExitCode::FAILURE;
                };
                runtime.block_on(client.show_dialplan(
                    context,
                    args.get(1).map(String::as_str),
                    json,
                ))
            } else {
                let view = match what.parse::<View>() {
                    Ok(v) => v,
                    Err(e) => {
                        eprintln!("sipjet show: {e}, or dialplan");
                        return ExitCode::FAILURE;
                    }
                };
                if !args.is_empty() {
                    eprintln!("sipjet show {view}: takes no more arguments");
                    return ExitCode::FAILURE;
                }
                runtime.block_on(client.show(view, json))
            };
            match shown {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sipjet show {what}: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Logger { state, admin } => {
            let Some(runtime) = client_runtime() else {
                return ExitCode::FAILURE;
            };
            let client = admin.client();
            let result = runtime.block_on(async {
                match state {
                    Some(s) => client.set_logger(matches!(s, Switch::On)).await,
                    None => client.logger().await,
                }
            });
            match result {
                Ok(on) => {
                    println!("SIP trace {}", if on { "on" } else { "off" });
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sipjet logger: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            config,
            dialplan,
            sip_trace,
            location_db,
            admin,
            admin_token,
            no_admin,
        } => {
            // Checked before anything binds: a listener open to other
            // machines without a token is refused outright.
            let admin = if no_admin {
                None
            } else {
                match AdminOptions::new(admin, token_or_env(admin_token)) {
                    Ok(o) => Some(o),
                    Err(e) => {
                        eprintln!("cannot start: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            };
            let Some(report) = load(config.as_ref()) else {
                eprintln!("the configuration has errors; not starting");
                return ExitCode::FAILURE;
            };
            let dialplan = match dialplan.or_else(|| report.config.global.dialplan.clone()) {
                Some(path) => {
                    let plan = dialplan::load(&path);
                    print_diagnostics(&plan.warnings, &plan.errors);
                    if !plan.is_ok() {
                        eprintln!("the dialplan has errors; not starting");
                        return ExitCode::FAILURE;
                    }
                    print_diagnostics(&dialplan::cross_check(&plan.plan, &report.config), &[]);
                    Some(Arc::new(plan.plan))
                }
                None => None,
            };
            let location_db = location_db
                .or_else(|| report.config.global.location_db.clone())
                .unwrap_or_else(|| DEFAULT_LOCATION_DB.to_owned());
            let location_db: LocationDb = match location_db.parse() {
                Ok(db) => db,
                Err(e) => {
                    eprintln!("cannot start: --location-db {e}");
                    return ExitCode::FAILURE;
                }
            };
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(async move {
                let model = Arc::new(Model::new(report.config));
                let server = match Server::start(
                    model,
                    ServerOptions {
                        sip_trace,
                        location_db: Some(location_db),
                        dialplan,
                        ..ServerOptions::default()
                    },
                )
                .await
                {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("cannot start: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                let admin_listener = match admin {
                    Some(options) => match sipjet_server::admin::start(&server, options).await {
                        Ok(l) => Some(l),
                        Err(e) => {
                            eprintln!("cannot start: {e}");
                            server.shutdown().await;
                            return ExitCode::FAILURE;
                        }
                    },
                    None => None,
                };
                wait_for_signal().await;
                tracing::info!("shutting down");
                drop(admin_listener);
                server.shutdown().await;
                ExitCode::SUCCESS
            })
        }
    }
}

/// SIGINT or SIGTERM.
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
