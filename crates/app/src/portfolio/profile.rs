//! `GET /profile`, `PUT /profile/settings`, `DELETE /profile` (api.md §11).

use blu_domain::protection::ProtectionStatus;
use blu_domain::{Allocation, ErrorCode, RiskTier, RuleViolation, Timestamp, risk_profile};
use serde::Serialize;
use uuid::Uuid;

use super::{PortfolioError, PortfolioResult, PortfolioService, opt_millis, ts_millis};
use crate::auth::biometric;
use crate::ports::{AccountClosure, Revocation, Settings, SettingsUpdate};
use crate::protection::cancellation;

/// The user's consents.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentsView {
    pub risk: bool,
    pub loss: bool,
    pub no_guarantee: bool,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub consented_at: Option<Timestamp>,
}

/// `settings` of the profile.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    pub language: String,
    pub notifications_enabled: bool,
    pub biometric_enabled: bool,
}

impl From<Settings> for SettingsView {
    fn from(s: Settings) -> SettingsView {
        SettingsView {
            language: s.language,
            notifications_enabled: s.notifications_enabled,
            biometric_enabled: s.biometric_enabled,
        }
    }
}

/// The body of `GET /profile`; risk fields are omitted until the questionnaire is scored.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    pub id: Uuid,
    pub phone: String,
    #[serde(with = "ts_millis")]
    pub created_at: Timestamp,
    #[serde(with = "opt_millis", skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_score: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub risk_tier: Option<RiskTier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_name_fa: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_allocation: Option<Allocation>,
    pub consents: ConsentsView,
    pub onboarding_complete: bool,
    pub settings: SettingsView,
}

/// The body of `DELETE /profile`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deleted {
    pub success: bool,
    #[serde(with = "ts_millis")]
    pub deleted_at: Timestamp,
}

impl PortfolioService {
    pub async fn profile(&self, user_id: Uuid) -> PortfolioResult<ProfileView> {
        let p = self
            .store
            .profile(user_id)
            .await?
            .ok_or(PortfolioError::NotFound("user"))?;
        let profile = p.risk_score.and_then(risk_profile);
        let complete = p.risk_score.is_some()
            && p.consent_risk
            && p.consent_loss
            && p.consent_no_guarantee
            && p.has_portfolio;
        Ok(ProfileView {
            id: p.id,
            phone: p.phone,
            created_at: p.created_at,
            last_login_at: p.last_login_at,
            risk_score: p.risk_score,
            risk_tier: p.risk_score.map(RiskTier::for_score),
            profile_name: profile.map(|x| x.kind.name_en()),
            profile_name_fa: profile.map(|x| x.kind.name_fa()),
            target_allocation: p.target,
            consents: ConsentsView {
                risk: p.consent_risk,
                loss: p.consent_loss,
                no_guarantee: p.consent_no_guarantee,
                consented_at: p.consented_at,
            },
            onboarding_complete: complete,
            settings: p.settings.into(),
        })
    }

    pub async fn update_settings(
        &self,
        user_id: Uuid,
        update: &SettingsUpdate,
    ) -> PortfolioResult<SettingsView> {
        if let Some(language) = &update.language
            && language != "fa"
            && language != "en"
        {
            return Err(RuleViolation::invalid_field("language", "must be fa or en").into());
        }
        if update
            .notification_token
            .as_ref()
            .is_some_and(|t| t.chars().count() > 512)
        {
            return Err(RuleViolation::invalid_field(
                "notificationToken",
                "must be at most 512 characters",
            )
            .into());
        }
        if let Some(enrolment) = &update.biometric {
            if update.remove_biometrics {
                return Err(RuleViolation::invalid_field(
                    "biometricEnabled",
                    "cannot be false while enrolling a device",
                )
                .into());
            }
            if !biometric::is_valid_device_id(&enrolment.device_id) {
                return Err(RuleViolation::invalid_field(
                    "biometric.deviceId",
                    "must be 1-255 printable characters",
                )
                .into());
            }
            if biometric::parse_public_key(&enrolment.public_key).is_none() {
                return Err(RuleViolation::invalid_field(
                    "biometric.publicKey",
                    "must be the base64 SPKI of a P-256 public key",
                )
                .into());
            }
        }
        let settings = self
            .store
            .update_settings(user_id, update, self.now())
            .await?
            .ok_or(PortfolioError::NotFound("user"))?;
        Ok(settings.into())
    }

    /// Closes the account (api.md §11 `DELETE /profile`) in one transaction under the portfolio
    /// lock: refused with `ACTIVE_LOANS_EXIST` while a loan is ACTIVE (nothing changes);
    /// otherwise every ACTIVE protection is cancelled exactly as `DELETE /protection/:id` does
    /// (PROTECTION_CANCEL ledger entry + activity row, chained one after the other), then the
    /// user is anonymised and their sessions revoked — and the revocation announced, so every
    /// instance refuses them at once (issue 12). A user without a portfolio has nothing to
    /// cancel and is closed the same way.
    pub async fn delete_account(&self, user_id: Uuid) -> PortfolioResult<Deleted> {
        let mut tx = self.lock(user_id).await?;
        let now = self.now();
        let mut cancellations = Vec::new();
        if let Some(mut record) = tx.portfolio().cloned() {
            if record.active_loans > 0 {
                return Err(RuleViolation::new(
                    ErrorCode::ActiveLoansExist,
                    "Please settle your active loans before closing the account",
                )
                .into());
            }
            let book = Self::valuation_book(&self.prices.snapshot());
            let mut active: Vec<_> = tx
                .protections()
                .await?
                .into_iter()
                .filter(|p| p.protection.status == ProtectionStatus::Active)
                .collect();
            // Oldest first, so the ledger reads in purchase order.
            active.reverse();
            for mut found in active {
                let change = cancellation(&record, &mut found, &book, now)?;
                // The next entry is sealed after this one: the same transaction commits both.
                record.head = Some(change.entry.head());
                cancellations.push(change);
            }
        }
        tx.close_account(AccountClosure {
            cancellations,
            anonymised_phone: format!("deleted:{}", user_id.simple()),
            now,
        })
        .await?;
        if let Some(revocations) = &self.revocations {
            revocations
                .notify(Revocation {
                    user_id,
                    session_id: None,
                })
                .await;
        }
        Ok(Deleted {
            success: true,
            deleted_at: now,
        })
    }
}
