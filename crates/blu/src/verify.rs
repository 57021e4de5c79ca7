//! `blu verify-ledger [--portfolio <id>]`: recomputes the hash chain of every portfolio (or one)
//! and replays it against the stored balances (business-rules §9.5). Prints one JSON report
//! per portfolio and returns whether all passed.

use anyhow::Context;
use blu_domain::ledger::verify;
use uuid::Uuid;

use crate::config::Config;
use crate::startup::open_database;

pub async fn run(config: &Config, portfolio: Option<Uuid>) -> anyhow::Result<bool> {
    let store = open_database(config).await?.portfolio_store();
    let ids = match portfolio {
        Some(id) => vec![id],
        None => store.portfolio_ids().await?,
    };
    let mut all_ok = true;
    for id in ids {
        let (entries, state) = store
            .verification_input(id)
            .await?
            .with_context(|| format!("portfolio {id} not found"))?;
        let report = verify(&entries, &state);
        all_ok &= report.is_ok();
        let mut line = serde_json::to_value(&report)?;
        line["portfolioId"] = serde_json::Value::String(id.to_string());
        println!("{line}");
    }
    Ok(all_ok)
}
