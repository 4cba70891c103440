//! The `sipjet` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
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
    },
    /// Loads a pjsip.conf and prints its warnings and errors; exits
    /// non-zero when there is an error.
    CheckConfig {
        /// The file to check.
        file: PathBuf,
    },
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
        .init();
    match cli.command {
        Command::CheckConfig { file } => {
            let report = pjsip::load(&file);
            print_report(&report);
            if report.is_ok() {
                println!(
                    "{}: {} transports, {} endpoints, {} auths, {} aors, {} identifies; {} warnings",
                    file.display(),
                    report.config.transports.len(),
                    report.config.endpoints.len(),
                    report.config.auths.len(),
                    report.config.aors.len(),
                    report.config.identifies.len(),
                    report.warnings.len()
                );
                ExitCode::SUCCESS
            } else {
                eprintln!("{}: {} errors", file.display(), report.errors.len());
                ExitCode::FAILURE
            }
        }
        Command::Run {
            config,
            sip_trace,
            location_db,
        } => {
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
                wait_for_signal().await;
                tracing::info!("shutting down");
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
