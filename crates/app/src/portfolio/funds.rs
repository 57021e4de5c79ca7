//! `POST /portfolio/add-funds` (D9, business-rules §3.5).

use blu_domain::construction::add_funds;
use blu_domain::{Boundary, EntryType, Irr, activity};
use serde::Serialize;
use uuid::Uuid;

use super::{
    Movement, PortfolioError, PortfolioResult, PortfolioService, Prepared, Replied, Reply,
    change_set, target_of,
};

/// The body of add-funds (no `holdings`: the app would read it as a whole portfolio).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FundsAdded {
    pub new_cash_irr: Irr,
    pub previous_cash_irr: Irr,
    pub amount_added: Irr,
    pub ledger_entry_id: String,
}

impl PortfolioService {
    /// Adds cash on the locked portfolio and writes ADD_FUNDS (SAFE).
    pub async fn add_funds(
        &self,
        user_id: Uuid,
        amount: Irr,
        reply: Reply,
    ) -> PortfolioResult<Replied> {
        let tx = self.lock(user_id).await?;
        let record = tx.portfolio().cloned().ok_or(PortfolioError::NoPortfolio)?;
        let target = target_of(&record)?;
        let state = record.state();
        let added = add_funds(&state, amount)?;
        let now = self.now();
        let book = Self::valuation_book(&self.prices.snapshot());
        let movement = Movement {
            portfolio_id: record.id,
            entry_type: EntryType::AddFunds,
            boundary: Boundary::Safe,
            message: activity::funds_added(amount),
            before: (&state, &book),
            after: (&added.state, &book),
            target: &target,
            now,
        };
        let (mut entry, after) = movement.entry();
        entry.amount_irr = Some(amount);
        let activity = movement.activity(Some(amount), None);
        let change = change_set(
            Some(&record),
            record.id,
            entry,
            &after,
            &added.state,
            activity,
            now,
        )?;
        let outcome = FundsAdded {
            new_cash_irr: added.new_cash,
            previous_cash_irr: added.previous_cash,
            amount_added: added.amount_added,
            ledger_entry_id: change.entry.id.to_string(),
        };
        Prepared {
            tx,
            change,
            outcome,
        }
        .reply(reply)
        .await
    }
}
