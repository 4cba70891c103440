//! The `sipjet` command.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};
use sipjet_server::admin::client::AdminClient;
use sipjet_server::admin::views::View;
use sipjet_server::admin::{self, AdminOptions};
use sipjet_server::config::pjsip::{self, LoadReport};
use sipjet_server::default_config::DEFAULT_CONFIG;
use sipjet_server::model::Model;
use sipjet_server::server::{Server, ServerOptions};

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
        /// Log every SIP message sent and received.
        #[arg(long)]
        sip_trace: bool,
        /// Where registrations are kept across restarts.
        #[arg(long, default_value = "sipjet-location.db")]
        location_db: PathBuf,
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
    /// recent) or registrations (to providers).
    Show {
        /// endpoints, auths, aors, contacts, transports, unidentified,
        /// calls or registrations.
        what: View,
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
    /// Loads a pjsip.conf and prints its warnings and errors; exits
    /// non-zero when there is an error.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
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
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for e in &report.errors {
        eprintln!("error: {e}");
    }
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
        Command::CheckConfig { file } => {
            let report = pjsip::load(&file);
            print_report(&report);
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
        Command::Show { what, json, admin } => {
            let Some(runtime) = client_runtime() else {
                return ExitCode::FAILURE;
            };
            match runtime.block_on(admin.client().show(what, json)) {
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
