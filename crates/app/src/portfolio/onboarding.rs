//! Onboarding: questionnaire (first time and retake, D7), consent, initial funding (D8).

use blu_domain::construction::{initial_funding, validate_initial_funding_amount};
use blu_domain::ledger::{Leg, LegSide};
use blu_domain::questionnaire::QUESTIONNAIRE_VERSION;
use blu_domain::{
    Allocation, AnswerItem, Boundary, EntryType, ErrorCode, Irr, PortfolioState, RiskTier,
    RuleViolation, Timestamp, activity, assess, parse_answers,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::view::{HoldingView, PortfolioView, build};
use super::{
    Movement, PortfolioError, PortfolioResult, PortfolioService, Prepared, Replied, Reply,
    change_set, portfolio_exists, ts_millis,
};
use crate::ports::{NewActivity, RiskUpdate};

/// The body of `POST /onboarding/questionnaire` (api.md §5).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiskResult {
    pub risk_score: u8,
    pub risk_tier: RiskTier,
    pub profile_name: &'static str,
    pub profile_name_fa: &'static str,
    pub target_allocation: Allocation,
}

/// The body of `POST /onboarding/consent`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentResult {
    pub success: bool,
    #[serde(with = "ts_millis")]
    pub consented_at: Timestamp,
}

/// The body of `POST /onboarding/initial-funding` (201): the portfolio view plus the new ids
/// and holdings.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FundingResult {
    #[serde(flatten)]
    pub portfolio: PortfolioView,
    pub portfolio_id: Uuid,
    pub holdings: Vec<HoldingView>,
    pub ledger_entry_id: String,
}

fn onboarding_incomplete(missing: &str, message: &str) -> PortfolioError {
    RuleViolation::new(ErrorCode::OnboardingIncomplete, message)
        .with("missing", [missing])
        .into()
}

impl PortfolioService {
    /// Scores the answers (D4–D6) and stores the result; with a portfolio this is a retake and
    /// writes a `RISK_PROFILE_UPDATED` activity entry (D7). Never trades.
    pub async fn submit_questionnaire(
        &self,
        user_id: Uuid,
        answers: &[AnswerItem],
    ) -> PortfolioResult<RiskResult> {
        let parsed = parse_answers(answers)?;
        let assessment = assess(&parsed);
        let now = self.now();
        let update = RiskUpdate {
            score: assessment.risk_score,
            tier: assessment.risk_tier.as_str().to_owned(),
            profile_name: assessment.profile_name.to_owned(),
            target: assessment.target_allocation,
            version: QUESTIONNAIRE_VERSION.to_owned(),
            answers: serde_json::to_value(parsed.records())
                .map_err(|e| PortfolioError::Store(anyhow::Error::from(e).into()))?,
            breakdown: serde_json::to_value(&assessment.breakdown)
                .map_err(|e| PortfolioError::Store(anyhow::Error::from(e).into()))?,
            at: now,
        };
        let activity = NewActivity {
            action_type: "RISK_PROFILE_UPDATED".to_owned(),
            boundary: Boundary::Safe,
            message: activity::risk_profile_updated(assessment.profile_name, assessment.risk_score),
            amount: None,
            asset: None,
            at: now,
        };
        self.store.save_risk(user_id, &update, &activity).await?;
        Ok(RiskResult {
            risk_score: assessment.risk_score,
            risk_tier: assessment.risk_tier,
            profile_name: assessment.profile_name,
            profile_name_fa: assessment.profile_name_fa,
            target_allocation: assessment.target_allocation,
        })
    }

    /// Records the three consents (business-rules §1.7).
    pub async fn consent(&self, user_id: Uuid) -> PortfolioResult<ConsentResult> {
        let consented_at = self
            .store
            .save_consent(user_id, self.now())
            .await?
            .ok_or_else(|| {
                onboarding_incomplete(
                    "questionnaire",
                    "Please complete the risk questionnaire first",
                )
            })?;
        Ok(ConsentResult {
            success: true,
            consented_at,
        })
    }

    /// Creates the portfolio (D8, business-rules §3.1–3.2): 100 % invested at the static layer
    /// weights at fresh prices, residue to cash, PORTFOLIO_CREATED at sequence 1. Nothing is
    /// created when prices are stale.
    pub async fn initial_funding(
        &self,
        user_id: Uuid,
        amount: Irr,
        reply: Reply,
    ) -> PortfolioResult<Replied> {
        let tx = self.lock(user_id).await?;
        let onboarding = tx.onboarding().clone();
        let (Some(score), Some(target)) = (onboarding.risk_score, onboarding.target) else {
            return Err(onboarding_incomplete(
                "questionnaire",
                "Please complete the risk questionnaire first",
            ));
        };
        if !onboarding.consents_given {
            return Err(onboarding_incomplete(
                "consent",
                "Please confirm the risk statements first",
            ));
        }
        if tx.portfolio().is_some() {
            return Err(portfolio_exists().into());
        }
        validate_initial_funding_amount(amount)?;
        let now = self.now();
        let snapshot = self.prices.snapshot();
        let book = self.fresh_book(&snapshot, now, &[])?;
        let funding = initial_funding(amount, &target, &book, now)?;
        let portfolio_id = Uuid::now_v7();
        let empty = PortfolioState::default();
        let movement = Movement {
            portfolio_id,
            entry_type: EntryType::PortfolioCreated,
            boundary: Boundary::Safe,
            message: activity::portfolio_created(amount),
            before: (&empty, &book),
            after: (&funding.state, &book),
            target: &target,
            now,
        };
        let (mut entry, after) = movement.entry();
        entry.before_snapshot = blu_domain::Snapshot::empty();
        entry.amount_irr = Some(amount);
        entry.legs = Some(
            funding
                .legs
                .iter()
                .map(|l| Leg {
                    side: LegSide::Buy,
                    asset_id: l.asset_id,
                    layer: None,
                    quantity: l.quantity,
                    price_irr: l.price_irr,
                    amount_irr: l.amount_irr,
                    spread_irr: l.spread_irr,
                })
                .collect(),
        );
        let mut metadata = Map::new();
        metadata.insert("fxRate".into(), super::trade::number(book.fx_rate));
        metadata.insert("riskScore".into(), json!(score));
        metadata.insert(
            "targetAllocation".into(),
            serde_json::to_value(target).unwrap_or(Value::Null),
        );
        entry.metadata = Some(metadata);
        let activity = movement.activity(Some(amount), None);
        let change = change_set(
            None,
            portfolio_id,
            entry,
            &after,
            &funding.state,
            activity,
            now,
        )?;
        let ledger_entry_id = change.entry.id.to_string();
        // The response describes the portfolio as it will be once committed.
        let record = crate::ports::PortfolioRecord {
            id: portfolio_id,
            user_id,
            cash: funding.state.cash,
            last_rebalance_at: None,
            created_at: now,
            risk_score: Some(score),
            target: Some(target),
            holdings: funding
                .state
                .holdings
                .iter()
                .map(|h| crate::ports::HoldingRecord {
                    id: crate::ports::new_holding_id(portfolio_id, h.asset),
                    asset: h.asset,
                    quantity: h.quantity,
                    frozen: h.frozen,
                    first_purchased_at: Some(now),
                    lots: h.lots.clone(),
                })
                .collect(),
            head: None,
            active_loans: 0,
            active_protections: 0,
            outstanding_loan_principal: Irr::ZERO,
        };
        let status = snapshot.status(now, self.price_max_age).as_str();
        let valuation_book = Self::valuation_book(&snapshot);
        let (portfolio, holdings) = build(&record, &snapshot, &valuation_book, now, status)?;
        Prepared {
            tx,
            change,
            outcome: FundingResult {
                portfolio,
                portfolio_id,
                holdings,
                ledger_entry_id,
            },
        }
        .reply(reply)
        .await
    }
}
