//! The portfolio port (api.md §4–§7, business-rules §2–§5): the locked portfolio of a money
//! movement (`movement`), reads of the portfolio, its ledger and activity (`rows`), trade
//! quotes, the risk profile and settings, and idempotency claims.

pub mod codec;
mod movement;
mod quotes;
mod rows;

use async_trait::async_trait;
use blu_app::ports::{
    ActivityRecord, IdempotencyClaim, IdempotencyCompletion, IdempotencyRequest, LedgerQuery,
    LoanRecord, NewActivity, OnboardingRecord, PortfolioRecord, PortfolioStore, PortfolioTx,
    ProfileRecord, RiskUpdate, Settings, SettingsUpdate, StoreResult, TradeQuote,
};
use blu_domain::{LedgerEntry, PortfolioState, Timestamp};
use uuid::Uuid;

use self::movement::LockedPortfolio;
use self::rows::{
    LedgerRow, ONBOARDING_SELECT, QUOTE_SELECT, entries, ledger_columns, load_holdings,
    load_portfolios, lock_portfolio, target_row,
};
use crate::driver::{FromRow, Row, query};
use crate::{Database, biometric, idempotency, loans};

pub(crate) use self::movement::insert_activity;

impl FromRow for ProfileRecord {
    fn from_row(r: Row) -> anyhow::Result<ProfileRecord> {
        Ok(ProfileRecord {
            id: r.uuid("id")?,
            phone: r.text("phone")?,
            created_at: r.ts("created_at")?,
            last_login_at: r.opt_ts("last_login_at")?,
            risk_score: codec::score(r.opt_int("risk_score")?)?,
            target: target_row(&r)?,
            consent_risk: r.bool("consent_risk")?,
            consent_loss: r.bool("consent_loss")?,
            consent_no_guarantee: r.bool("consent_no_guarantee")?,
            consented_at: r.opt_ts("consent_at")?,
            has_portfolio: r.bool("has_portfolio")?,
            settings: rows::settings(&r)?,
        })
    }
}

/// One id column.
struct IdOf(Uuid);

impl FromRow for IdOf {
    fn from_row(r: Row) -> anyhow::Result<IdOf> {
        Ok(IdOf(r.uuid("id")?))
    }
}

#[async_trait]
impl PortfolioStore for Database {
    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    async fn lock(&self, user_id: Uuid) -> StoreResult<Option<Box<dyn PortfolioTx>>> {
        let mut tx = self.begin_as_user(user_id).await?;
        let portfolio = lock_portfolio(&mut tx, user_id).await?;
        let onboarding = match &portfolio {
            Some(p) => OnboardingRecord {
                risk_score: p.risk_score,
                target: p.target,
                consents_given: true,
            },
            None => {
                let found: Option<OnboardingRecord> = query(tx.dialect().pick(&ONBOARDING_SELECT))
                    .bind(user_id)
                    .fetch_optional(&mut tx)
                    .await?;
                let Some(found) = found else { return Ok(None) };
                found
            }
        };
        Ok(Some(Box::new(LockedPortfolio {
            tx,
            user_id,
            onboarding,
            portfolio,
        })))
    }

    async fn portfolios(&self, user_ids: &[Uuid]) -> StoreResult<Vec<Option<PortfolioRecord>>> {
        let mut conn = self.pool().acquire().await?;
        load_portfolios(&mut conn, user_ids).await
    }

    async fn save_quotes(&self, quotes: &[TradeQuote]) -> StoreResult<()> {
        if quotes.is_empty() {
            return Ok(());
        }
        quotes::insert(self.dialect(), quotes)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn quote(&self, user_id: Uuid, id: &str) -> StoreResult<Option<TradeQuote>> {
        query(QUOTE_SELECT)
            .bind(id)
            .bind(user_id)
            .fetch_optional(self.pool())
            .await
    }

    async fn ledger_page(
        &self,
        user_id: Uuid,
        query_: &LedgerQuery,
    ) -> StoreResult<Vec<LedgerEntry>> {
        let before = query_
            .before_sequence
            .map(|s| i64::try_from(s).unwrap_or(i64::MAX));
        let rows: Vec<LedgerRow> = query(concat!(
            "SELECT ",
            ledger_columns!(),
            " FROM ledger WHERE portfolio_id = (SELECT id FROM portfolios WHERE user_id = $1) \
             AND ($2 IS NULL OR entry_type = $2) \
             AND ($3 IS NULL OR created_at >= $3) \
             AND ($4 IS NULL OR created_at <= $4) \
             AND ($5 IS NULL OR sequence_number < $5) \
             ORDER BY sequence_number DESC LIMIT $6"
        ))
        .bind(user_id)
        .bind(query_.entry_type.map(|t| t.as_str()))
        .bind(query_.from)
        .bind(query_.to)
        .bind(before)
        .bind(i64::from(query_.limit))
        .fetch_all(self.read_pool())
        .await?;
        Ok(entries(rows))
    }

    async fn ledger_entry(&self, user_id: Uuid, id: Uuid) -> StoreResult<Option<LedgerEntry>> {
        let row: Option<LedgerRow> = query(concat!(
            "SELECT ",
            ledger_columns!(),
            " FROM ledger WHERE id = $2 \
             AND portfolio_id = (SELECT id FROM portfolios WHERE user_id = $1)"
        ))
        .bind(user_id)
        .bind(id)
        .fetch_optional(self.read_pool())
        .await?;
        Ok(row.map(|LedgerRow(e)| e))
    }

    async fn verification_input(
        &self,
        portfolio_id: Uuid,
    ) -> StoreResult<Option<(Vec<LedgerEntry>, PortfolioState)>> {
        // One snapshot of the ledger and the balances, so a movement committing in between
        // cannot show up as a difference; on the read replica when there is one (a standby's
        // snapshot is as consistent).
        let mut tx = self.read_pool().begin_snapshot().await?;
        let cash: Option<Row> = query("SELECT cash_irr FROM portfolios WHERE id = $1")
            .bind(portfolio_id)
            .fetch_optional(&mut tx)
            .await?;
        let Some(cash) = cash else { return Ok(None) };
        let cash = codec::irr(cash.dec("cash_irr")?)?;
        let holdings = load_holdings(&mut tx, portfolio_id).await?;
        let rows: Vec<LedgerRow> = query(concat!(
            "SELECT ",
            ledger_columns!(),
            " FROM ledger WHERE portfolio_id = $1 ORDER BY sequence_number"
        ))
        .bind(portfolio_id)
        .fetch_all(&mut tx)
        .await?;
        tx.commit().await?;
        let state = PortfolioState {
            cash,
            holdings: holdings
                .into_iter()
                .map(|h| blu_domain::Holding {
                    asset: h.asset,
                    quantity: h.quantity,
                    frozen: h.frozen,
                    lots: h.lots,
                })
                .collect(),
        };
        Ok(Some((entries(rows), state)))
    }

    async fn portfolio_ids(&self) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<IdOf> = query("SELECT id FROM portfolios ORDER BY created_at, id")
            .fetch_all(self.read_pool())
            .await?;
        Ok(ids.into_iter().map(|IdOf(id)| id).collect())
    }

    async fn activity_page(
        &self,
        user_id: Uuid,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<ActivityRecord>> {
        query(
            "SELECT id, action_type, boundary, message, amount_irr, asset_id, created_at \
             FROM action_log WHERE portfolio_id = (SELECT id FROM portfolios WHERE user_id = $1) \
             AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(user_id)
        .bind(before_id)
        .bind(i64::from(limit))
        .fetch_all(self.read_pool())
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    async fn save_risk(
        &self,
        user_id: Uuid,
        update: &RiskUpdate,
        activity: &NewActivity,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_as_user(user_id).await?;
        let [f, g, u] = update.target.values();
        query(
            "UPDATE users SET risk_score = $2, risk_tier = $3, risk_profile_name = $4, \
             target_foundation = $5, target_growth = $6, target_upside = $7, \
             questionnaire_version = $8, questionnaire_answers = $9, risk_breakdown = $10, \
             risk_scored_at = $11, updated_at = $11 WHERE id = $1",
        )
        .bind(user_id)
        .bind(i32::from(update.score))
        .bind(&update.tier)
        .bind(&update.profile_name)
        .bind(f)
        .bind(g)
        .bind(u)
        .bind(&update.version)
        .bind(&update.answers)
        .bind(&update.breakdown)
        .bind(update.at)
        .execute(&mut tx)
        .await?;
        let portfolio: Option<IdOf> = query("SELECT id FROM portfolios WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut tx)
            .await?;
        if let Some(IdOf(portfolio_id)) = portfolio {
            insert_activity(&mut tx, portfolio_id, activity).await?;
        }
        tx.commit().await?;
        Ok(portfolio.is_some())
    }

    async fn save_consent(&self, user_id: Uuid, now: Timestamp) -> StoreResult<Option<Timestamp>> {
        let row: Option<Row> = query(
            "UPDATE users SET consent_risk = TRUE, consent_loss = TRUE, \
             consent_no_guarantee = TRUE, consent_at = COALESCE(consent_at, $2), updated_at = $2 \
             WHERE id = $1 AND risk_score IS NOT NULL AND deleted_at IS NULL RETURNING consent_at",
        )
        .bind(user_id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.ts("consent_at")).transpose()?)
    }

    async fn profile(&self, user_id: Uuid) -> StoreResult<Option<ProfileRecord>> {
        query(
            "SELECT u.id, u.phone, u.created_at, u.last_login_at, u.risk_score, \
             u.target_foundation, u.target_growth, u.target_upside, u.consent_risk, u.consent_loss, \
             u.consent_no_guarantee, u.consent_at, u.language, u.notifications_enabled, \
             u.notification_token, \
             EXISTS (SELECT 1 FROM biometric_devices b WHERE b.user_id = u.id) AS biometric_enabled, \
             EXISTS (SELECT 1 FROM portfolios p WHERE p.user_id = u.id) AS has_portfolio \
             FROM users u WHERE u.id = $1 AND u.deleted_at IS NULL",
        )
        .bind(user_id)
        .fetch_optional(self.pool())
        .await
    }

    #[tracing::instrument(skip_all, fields(user_id = %user_id))]
    async fn update_settings(
        &self,
        user_id: Uuid,
        update: &SettingsUpdate,
        now: Timestamp,
    ) -> StoreResult<Option<Settings>> {
        let mut tx = self.pool().begin_write().await?;
        let updated = query(biometric::UPDATE_USER_SETTINGS)
            .bind(user_id)
            .bind(update.language.as_deref())
            .bind(update.notifications_enabled)
            .bind(update.notification_token.as_deref())
            .bind(now)
            .execute(&mut tx)
            .await?;
        if updated == 0 {
            return Ok(None);
        }
        if update.remove_biometrics {
            query(biometric::REMOVE_USER_DEVICES)
                .bind(user_id)
                .execute(&mut tx)
                .await?;
        }
        if let Some(device) = &update.biometric {
            query(biometric::DROP_DEVICE_CHALLENGES)
                .bind(user_id)
                .bind(&device.device_id)
                .execute(&mut tx)
                .await?;
            query(biometric::ENROL)
                .bind(Uuid::new_v4())
                .bind(user_id)
                .bind(&device.device_id)
                .bind(&device.public_key)
                .bind(now)
                .execute(&mut tx)
                .await?;
        }
        let settings: Settings = query(biometric::SETTINGS)
            .bind(user_id)
            .fetch_one(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(Some(settings))
    }

    async fn claim_idempotency(
        &self,
        request: &IdempotencyRequest,
    ) -> StoreResult<IdempotencyClaim> {
        idempotency::claim(self, request).await
    }

    async fn complete_idempotency(
        &self,
        completion: &IdempotencyCompletion,
        now: Timestamp,
    ) -> StoreResult<()> {
        idempotency::complete(self.pool(), completion, now).await
    }

    async fn loans(&self, user_id: Uuid) -> StoreResult<Vec<LoanRecord>> {
        loans::user_loans(self, user_id).await
    }

    async fn active_loan_users(&self) -> StoreResult<Vec<Uuid>> {
        loans::active_loan_users(self).await
    }

    async fn release_idempotency(&self, user_id: Uuid, key: &str, claim: Uuid) -> StoreResult<()> {
        idempotency::release(self, user_id, key, claim).await
    }

    async fn release_abandoned_idempotency(&self) -> StoreResult<u64> {
        idempotency::release_abandoned(self).await
    }
}
