//! Ledger history, activity feeds, CSV export and verification (business-rules §9, api.md §11,
//! §13.3).

use blu_domain::ledger::verify;
use blu_domain::{Boundary, EntryType, Irr, LedgerEntry, Timestamp, VerificationReport};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::{RefOr, Schema};
use uuid::Uuid;

use super::{PortfolioError, PortfolioResult, PortfolioService, ts_millis};
use crate::ports::{ActivityRecord, LedgerQuery};

/// One page of `GET /history`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    /// Ledger entries in the summary form (or with snapshots when asked for).
    #[schema(value_type = Vec<LedgerEntrySummary>)]
    pub entries: Vec<Value>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// An activity entry (api.md §2.4).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityItem {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub boundary: Boundary,
    pub message: String,
    #[serde(with = "ts_millis")]
    pub timestamp: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_irr: Option<Irr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<blu_domain::AssetId>,
}

/// One page of the activity feed.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityPage {
    pub activities: Vec<ActivityItem>,
    pub has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The verification report of one portfolio (api.md §13.3).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub portfolio_id: Uuid,
    #[serde(flatten)]
    pub report: VerificationReport,
}

/// A failed portfolio in the all-portfolios report.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyFailure {
    pub portfolio_id: Uuid,
    pub chain_valid: bool,
    pub replay_matches: bool,
}

/// `GET /admin/v1/ledger/verify`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyAll {
    pub checked: usize,
    pub failed: Vec<VerifyFailure>,
}

/// Keys of the summary form of a ledger entry (api.md §2.5).
const SUMMARY_KEYS: [&str; 13] = [
    "id",
    "sequenceNumber",
    "entryType",
    "createdAt",
    "message",
    "boundary",
    "assetId",
    "quantity",
    "amountIrr",
    "priceIrr",
    "spreadIrr",
    "loanId",
    "protectionId",
];

/// The schema of the summary form: the full entry's schema cut to [`SUMMARY_KEYS`] and the two
/// snapshots (`snapshots=true`), so the summary is described from the same definition.
pub struct LedgerEntrySummary;

impl utoipa::PartialSchema for LedgerEntrySummary {
    fn schema() -> RefOr<Schema> {
        let mut schema = LedgerEntry::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            let kept = |k: &str| {
                SUMMARY_KEYS.contains(&k) || k == "beforeSnapshot" || k == "afterSnapshot"
            };
            object.properties.retain(|k, _| kept(k));
            object
                .required
                .retain(|k| SUMMARY_KEYS.contains(&k.as_str()));
            object.description = Some("A ledger entry in the summary form (api.md §2.5).".into());
        }
        schema
    }
}

impl utoipa::ToSchema for LedgerEntrySummary {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <LedgerEntry as utoipa::ToSchema>::schemas(schemas);
    }
}

/// The summary form, optionally with both snapshots.
pub fn summary(entry: &LedgerEntry, snapshots: bool) -> PortfolioResult<Value> {
    let Value::Object(full) = full_entry(entry)? else {
        unreachable!("a ledger entry serializes as an object")
    };
    let keep = |k: &str| {
        SUMMARY_KEYS.contains(&k) || (snapshots && (k == "beforeSnapshot" || k == "afterSnapshot"))
    };
    Ok(Value::Object(
        full.into_iter().filter(|(k, _)| keep(k)).collect(),
    ))
}

/// The full form (api.md §2.5).
pub fn full_entry(entry: &LedgerEntry) -> PortfolioResult<Value> {
    serde_json::to_value(entry).map_err(|e| PortfolioError::Store(anyhow::Error::from(e).into()))
}

/// An opaque, URL-safe cursor over an integer key (`[A-Za-z0-9_-]`, no padding).
pub fn encode_cursor(key: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.to_string())
}

/// Reads a cursor back; `None` when it is not one of ours. Key 0 (before every entry) is a
/// well-formed cursor of an empty page, so every string the documented pattern allows decodes.
pub fn decode_cursor(cursor: &str) -> Option<i64> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let key: i64 = std::str::from_utf8(&bytes).ok()?.parse().ok()?;
    (key >= 0).then_some(key)
}

fn activity_item(r: ActivityRecord) -> ActivityItem {
    let a = r.activity;
    ActivityItem {
        id: r.id,
        kind: a.action_type,
        boundary: a.boundary,
        message: a.message,
        timestamp: a.at,
        amount_irr: a.amount,
        asset_id: a.asset,
    }
}

/// Filters of `GET /history` as parsed by the HTTP layer.
#[derive(Clone, Debug, Default)]
pub struct HistoryFilter {
    pub entry_type: Option<EntryType>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub cursor: Option<i64>,
    pub limit: u32,
    pub snapshots: bool,
}

impl PortfolioService {
    async fn require_portfolio(&self, user_id: Uuid) -> PortfolioResult<()> {
        match self.reads.run(user_id).await? {
            Some(_) => Ok(()),
            None => Err(PortfolioError::NoPortfolio),
        }
    }

    /// `GET /history`: ledger entries newest first, keyset-paged on the sequence number.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn history(
        &self,
        user_id: Uuid,
        filter: &HistoryFilter,
    ) -> PortfolioResult<HistoryPage> {
        self.require_portfolio(user_id).await?;
        let query = LedgerQuery {
            entry_type: filter.entry_type,
            from: filter.from,
            to: filter.to,
            before_sequence: filter.cursor.map(|c| c as u64),
            limit: filter.limit + 1,
        };
        let mut entries = self.store.ledger_page(user_id, &query).await?;
        let has_more = entries.len() > filter.limit as usize;
        entries.truncate(filter.limit as usize);
        let next_cursor = has_more
            .then(|| {
                entries
                    .last()
                    .map(|e| encode_cursor(e.sequence_number as i64))
            })
            .flatten();
        Ok(HistoryPage {
            entries: entries
                .iter()
                .map(|e| summary(e, filter.snapshots))
                .collect::<PortfolioResult<_>>()?,
            has_more,
            next_cursor,
        })
    }

    /// `GET /history/:id`: the full entry, 404 when unknown or another user's.
    #[tracing::instrument(skip_all, fields(user_id = %user_id, entry_id = %id))]
    pub async fn history_entry(&self, user_id: Uuid, id: Uuid) -> PortfolioResult<Value> {
        let entry = self
            .store
            .ledger_entry(user_id, id)
            .await?
            .ok_or(PortfolioError::NotFound("ledger entry"))?;
        full_entry(&entry)
    }

    /// Every entry of the user's ledger in sequence order (CSV export), optionally bounded.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn export_entries(
        &self,
        user_id: Uuid,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> PortfolioResult<Vec<LedgerEntry>> {
        self.require_portfolio(user_id).await?;
        let query = LedgerQuery {
            entry_type: None,
            from,
            to,
            before_sequence: None,
            limit: u32::MAX >> 1,
        };
        let mut entries = self.store.ledger_page(user_id, &query).await?;
        entries.reverse();
        Ok(entries)
    }

    /// The activity feed, newest first, keyset-paged on the id.
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    pub async fn activity(
        &self,
        user_id: Uuid,
        cursor: Option<i64>,
        limit: u32,
    ) -> PortfolioResult<ActivityPage> {
        self.require_portfolio(user_id).await?;
        let mut rows = self.store.activity_page(user_id, cursor, limit + 1).await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = has_more
            .then(|| rows.last().map(|r| encode_cursor(r.id)))
            .flatten();
        Ok(ActivityPage {
            activities: rows.into_iter().map(activity_item).collect(),
            has_more,
            next_cursor,
        })
    }

    /// Recomputes the chain of one portfolio and replays it against its balances (D28).
    #[tracing::instrument(skip_all, fields(portfolio_id = %portfolio_id))]
    pub async fn verify_portfolio(&self, portfolio_id: Uuid) -> PortfolioResult<VerifyReport> {
        let (entries, state) = self
            .store
            .verification_input(portfolio_id)
            .await?
            .ok_or(PortfolioError::NotFound("portfolio"))?;
        let report = verify(&entries, &state);
        let result = if report.is_ok() { "ok" } else { "failed" };
        metrics::counter!("ledger_verifications_total", "result" => result).increment(1);
        Ok(VerifyReport {
            portfolio_id,
            report,
        })
    }

    /// Verifies every portfolio.
    #[tracing::instrument(skip_all)]
    pub async fn verify_all(&self) -> PortfolioResult<VerifyAll> {
        let ids = self.store.portfolio_ids().await?;
        let mut failed = Vec::new();
        for id in &ids {
            let report = self.verify_portfolio(*id).await?.report;
            if !report.is_ok() {
                failed.push(VerifyFailure {
                    portfolio_id: *id,
                    chain_valid: report.chain.valid,
                    replay_matches: report.replay.matches,
                });
            }
        }
        Ok(VerifyAll {
            checked: ids.len(),
            failed,
        })
    }
}
