//! `blu serve` (API; in the embedded default also jobs and the price feed), `blu migrate`,
//! `blu openapi`, `blu verify-ledger [--portfolio <id>]`.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

use blu::config::Config;
use blu::startup::{Application, open_store, shutdown_signal};

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
    VerifyLedger {
        /// Only this portfolio.
        #[arg(long)]
        portfolio: Option<uuid::Uuid>,
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
        Command::VerifyLedger { portfolio } => {
            let ok = blu::verify::run(&config, portfolio).await?;
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Openapi => unreachable!("handled before configuration is read"),
    }
}
