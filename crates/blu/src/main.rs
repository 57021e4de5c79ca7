//! `blu serve` (API; in the embedded default also jobs and the price feed), `blu migrate`,
//! `blu openapi`, `blu verify-ledger [--portfolio <id>]`, `blu backup <path>`,
//! `blu restore <path> [--force]`, `blu operator …` (operator accounts).
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;

use blu::config::Config;
use blu::startup::{Application, open_store, shutdown_signal};

/// mimalloc instead of glibc's malloc: under load the server's many small short-lived
/// allocations (rows, JSON, decimals) spent about a quarter of its CPU in glibc's allocator and
/// its arena locks (`perf`, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(name = "blu", version, about = "Blu Markets backend")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Run the scheduled jobs (no HTTP); any number of workers share the work exactly once.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Recompute every ledger hash chain and replay it against the balances (exit 1 on any
    /// failure).
    /// Writes a consistent copy of the SQLite database to <path> while the server runs
    /// (PostgreSQL: scripts/pg-backup).
    Backup {
        /// Where to write the copy (must not exist).
        path: std::path::PathBuf,
    },
    /// Restores a copy made by `blu backup` as the configured SQLite database.
    Restore {
        /// The backup file.
        path: std::path::PathBuf,
        /// Replace an existing database (stop the server first; the old file is kept aside).
        #[arg(long)]
        force: bool,
    },
    VerifyLedger {
        /// Only this portfolio.
        #[arg(long)]
        portfolio: Option<uuid::Uuid>,
    },
    /// Operator accounts of the console and `/admin/v1` (create the first one here).
    Operator {
        #[command(subcommand)]
        command: blu::operators::OperatorCommand,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Openapi) = cli.command {
        println!("{}", blu_api::openapi().to_pretty_json()?);
        return Ok(());
    }
    let config = Config::from_env()?;
    blu::telemetry::init(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            Application::build(config)
                .await?
                .run_until_stopped(shutdown_signal())
                .await
        }
        Command::Worker => {
            Application::build_worker(config)
                .await?
                .run_worker(shutdown_signal())
                .await
        }
        Command::Migrate => {
            let store = open_store(&config).await?;
            tracing::info!(database = store.backend(), "migrations applied");
            Ok(())
        }
        Command::Backup { path } => {
            let summary = blu::backup::backup(&config, &path).await?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(())
        }
        Command::Restore { path, force } => {
            let summary = blu::backup::restore(&config, &path, force).await?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(())
        }
        Command::VerifyLedger { portfolio } => {
            let ok = blu::verify::run(&config, portfolio).await?;
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Operator { command } => blu::operators::run(&config, command).await,
        Command::Openapi => unreachable!("handled before configuration is read"),
    }
}
