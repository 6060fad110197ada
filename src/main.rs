//! The `kafka-gateway` binary: parses the command line, loads the
//! configuration and runs the server until SIGINT or SIGTERM.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kafka_gateway::config::{Config, LogFormat};

/// mimalloc: measured faster than the system allocator on the produce path
/// (loadtest/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. mimalloc asks for
/// them on its arenas, and librdkafka's allocations (the fetched messages,
/// one op each) go through mimalloc too: each first touch of a fresh arena
/// region then zeroed 2 MiB at once, which was 36% of the gateway's CPU in
/// a fast v2 consumer read. Off, the consumer reads (f, g) took 1.0-1.2
/// rather than 1.2-1.6 s of CPU per million records, produce (a, b) cost
/// the same within noise, and its peak RSS fell by half
/// (loadtest/RESULTS.md, "Fourth pass, third part").
#[cfg(target_os = "linux")]
fn no_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes integers only and changes nothing
    // but how later page faults are served.
    let failed = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0;
    if failed {
        eprintln!(
            "could not turn transparent huge pages off: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn no_transparent_huge_pages() {}

/// An HTTP-to-Kafka gateway speaking the Confluent REST Proxy API.
///
/// With no kafka.bootstrap_servers configured it starts an embedded
/// in-memory broker, so it works out of the box (data is lost at exit).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// TOML configuration file (see config/gateway.toml for every option).
    /// KAFKA_GATEWAY_<SECTION>_<KEY> environment variables override it.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Address to listen on; overrides http.listen.
    #[arg(long)]
    listen: Option<String>,
    /// Validate the configuration, print it and exit.
    #[arg(long)]
    check_config: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Read a password from stdin (one line) and print its argon2id hash,
    /// for `password_hash` in the auth file.
    HashPassword,
}

#[tokio::main]
async fn main() -> ExitCode {
    no_transparent_huge_pages();
    let args = Args::parse();
    if let Some(Command::HashPassword) = args.command {
        return hash_password();
    }
    let mut config = match Config::load(args.config.as_deref(), std::env::vars()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = args.listen {
        config.http.listen = listen;
    }
    if let Err(e) = config.validate() {
        eprintln!("{e}");
        return ExitCode::from(2);
    }
    // Logs, once the configuration says in which format.
    let filter =
        || tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match config.log.format {
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_env_filter(filter())
            .init(),
        LogFormat::Text => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter())
            .init(),
    }
    if args.check_config {
        println!("{config:#?}");
        return ExitCode::SUCCESS;
    }

    let listener = match TcpListener::bind(&config.http.listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {}: {e}", config.http.listen);
            return ExitCode::FAILURE;
        }
    };
    match kafka_gateway::run(listener, config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "gateway failed");
            ExitCode::FAILURE
        }
    }
}

fn hash_password() -> ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("cannot read the password from stdin: {e}");
        return ExitCode::FAILURE;
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        eprintln!("no password on stdin");
        return ExitCode::FAILURE;
    }
    match kafka_gateway::auth::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot hash the password: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutdown signal received");
}
