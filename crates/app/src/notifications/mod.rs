//! Notifications: delivering the outbox through the push port (at most once per key) and the
//! daily reminders (business-rules §10). Copy follows the Communication Doctrine (§9.6):
//! concise, state-focused, concrete dates, no forbidden words.

mod status;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

pub use status::{RefreshReport, StatusRefresh};

use crate::ports::{
    Clock, DueItem, NewNotification, NotificationStore, PushError, PushMessage, PushSender,
    StoreResult,
};
use crate::prices::utc_day;

/// Rows claimed per batch, and batches per run (a run delivers at most 1,000 rows). A batch is
/// sent one row at a time, so it must finish well within the claim: 20 sends at the push
/// client's 5 s timeout take under two minutes.
const BATCH: u32 = 20;
const MAX_BATCHES: usize = 50;
/// How long a claimed row stays with its sender; a row whose send never started (the sender
/// crashed first) is due again after it.
pub const CLAIM_LEASE: Duration = Duration::from_secs(600);
/// Attempts before a row is abandoned (provider unavailable each time).
pub const MAX_ATTEMPTS: i32 = 5;
/// First retry delay; doubles per further attempt.
const RETRY_BASE: Duration = Duration::from_secs(60);
/// Reminder windows (§10).
pub const INSTALLMENT_WINDOW: Duration = Duration::from_secs(3 * 86_400);
pub const PROTECTION_WINDOW: Duration = Duration::from_secs(7 * 86_400);

pub const KIND_INSTALLMENT_DUE: &str = "INSTALLMENT_DUE";
pub const KIND_PROTECTION_EXPIRING: &str = "PROTECTION_EXPIRING";

/// What one delivery run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryReport {
    pub delivered: u32,
    pub skipped: u32,
    pub failed: u32,
}

/// What one reminders run enqueued (already-notified items are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReminderReport {
    pub installments: u32,
    pub protections: u32,
}

pub struct NotificationService {
    store: Arc<dyn NotificationStore>,
    push: Arc<dyn PushSender>,
    clock: Arc<dyn Clock>,
}

impl NotificationService {
    pub fn new(
        store: Arc<dyn NotificationStore>,
        push: Arc<dyn PushSender>,
        clock: Arc<dyn Clock>,
    ) -> NotificationService {
        NotificationService { store, push, clock }
    }

    /// Delivers the due outbox rows. Users with notifications off or without a device token
    /// have their rows closed as skipped; an UNREGISTERED token is forgotten.
    #[tracing::instrument(skip_all)]
    pub async fn deliver_due(&self) -> StoreResult<DeliveryReport> {
        let mut report = DeliveryReport::default();
        for _ in 0..MAX_BATCHES {
            let now = self.clock.now();
            let batch = self
                .store
                .claim_due(now, BATCH, MAX_ATTEMPTS, now.plus_duration(CLAIM_LEASE))
                .await?;
            if batch.is_empty() {
                break;
            }
            for row in batch {
                let token = match (&row.device_token, row.notifications_enabled) {
                    (_, false) => {
                        self.skip(&mut report, &row.id, "notifications disabled")
                            .await?;
                        continue;
                    }
                    (None, true) => {
                        self.skip(&mut report, &row.id, "no device token").await?;
                        continue;
                    }
                    (Some(token), true) => token.clone(),
                };
                let message = PushMessage {
                    device_token: token.clone(),
                    title: row.title.clone(),
                    body: row.body.clone(),
                    data: row.data.clone(),
                };
                let now = self.clock.now();
                self.store.mark_sending(row.id).await?;
                match self.push.send(&message).await {
                    Ok(()) => {
                        self.store.mark_delivered(row.id, now).await?;
                        report.delivered += 1;
                    }
                    Err(PushError::Unregistered) => {
                        self.store.clear_device_token(row.user_id, &token).await?;
                        self.skip(&mut report, &row.id, "device token unregistered")
                            .await?;
                    }
                    Err(PushError::Rejected(reason)) => {
                        tracing::warn!(kind = %row.kind, %reason, "push rejected");
                        self.skip(&mut report, &row.id, "rejected by the provider")
                            .await?;
                    }
                    Err(PushError::Unavailable(reason)) => {
                        let next = now.plus_duration(retry_delay(row.attempts));
                        self.store.mark_failed(row.id, &reason, next).await?;
                        report.failed += 1;
                    }
                }
            }
        }
        Ok(report)
    }

    async fn skip(
        &self,
        report: &mut DeliveryReport,
        id: &uuid::Uuid,
        reason: &str,
    ) -> StoreResult<()> {
        self.store
            .mark_skipped(*id, reason, self.clock.now())
            .await?;
        report.skipped += 1;
        Ok(())
    }

    /// Enqueues one reminder per installment due within 3 days and per protection expiring
    /// within 7 days; the outbox's unique key makes each a one-time notice.
    #[tracing::instrument(skip_all)]
    pub async fn remind(&self) -> StoreResult<ReminderReport> {
        let now = self.clock.now();
        let mut report = ReminderReport::default();
        let installments = self
            .store
            .installments_due(now, now.plus_duration(INSTALLMENT_WINDOW))
            .await?;
        for item in &installments {
            if self.store.enqueue(&installment_notice(item), now).await? {
                report.installments += 1;
            }
        }
        let protections = self
            .store
            .protections_expiring(now, now.plus_duration(PROTECTION_WINDOW))
            .await?;
        for item in &protections {
            if self.store.enqueue(&protection_notice(item), now).await? {
                report.protections += 1;
            }
        }
        Ok(report)
    }
}

/// 1 min, 2 min, 4 min, … after attempt 1, 2, 3, …
fn retry_delay(attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(10);
    RETRY_BASE * 2u32.pow(doublings)
}

fn notice(kind: &str, item: &DueItem, title: &str, body: String) -> NewNotification {
    let entity_id = item.id.to_string();
    NewNotification {
        user_id: item.user_id,
        kind: kind.to_owned(),
        entity_id: entity_id.clone(),
        dedupe_key: entity_id.clone(),
        title: title.to_owned(),
        body,
        data: [
            ("type".to_owned(), kind.to_owned()),
            ("entityId".to_owned(), entity_id),
            ("dueAt".to_owned(), item.due_at.to_rfc3339_millis()),
        ]
        .into(),
    }
}

/// "Installment 2 of your loan is due on 2026-02-03."
pub fn installment_notice(item: &DueItem) -> NewNotification {
    notice(
        KIND_INSTALLMENT_DUE,
        item,
        "Installment due",
        format!(
            "Installment {} of your loan is due on {}.",
            item.label,
            utc_day(item.due_at)
        ),
    )
}

/// "Your BTC protection ends on 2026-02-03."
pub fn protection_notice(item: &DueItem) -> NewNotification {
    notice(
        KIND_PROTECTION_EXPIRING,
        item,
        "Protection ending",
        format!(
            "Your {} protection ends on {}.",
            item.label,
            utc_day(item.due_at)
        ),
    )
}

#[cfg(test)]
mod tests {
    use blu_domain::Timestamp;

    use super::*;

    fn item(label: &str) -> DueItem {
        DueItem {
            id: uuid::Uuid::nil(),
            user_id: uuid::Uuid::nil(),
            due_at: Timestamp::parse_rfc3339("2026-02-03T05:30:00Z").unwrap(),
            label: label.to_owned(),
        }
    }

    #[test]
    fn reminder_copy_names_the_concrete_date_and_is_keyed_by_the_item() {
        let n = installment_notice(&item("2"));
        assert_eq!(n.body, "Installment 2 of your loan is due on 2026-02-03.");
        assert_eq!(n.dedupe_key, uuid::Uuid::nil().to_string());
        let p = protection_notice(&item("BTC"));
        assert_eq!(p.body, "Your BTC protection ends on 2026-02-03.");
        assert_eq!(p.kind, "PROTECTION_EXPIRING");
    }

    #[test]
    fn reminder_copy_avoids_the_forbidden_words() {
        for n in [
            installment_notice(&item("2")),
            protection_notice(&item("BTC")),
        ] {
            let text = format!("{} {}", n.title, n.body).to_lowercase();
            for word in [
                "now",
                "urgent",
                "immediately",
                "you must",
                "you need to",
                "hurry",
            ] {
                assert!(!text.contains(word), "{text:?} contains {word:?}");
            }
        }
    }

    #[test]
    fn retries_back_off_exponentially_from_one_minute() {
        assert_eq!(retry_delay(1), Duration::from_secs(60));
        assert_eq!(retry_delay(2), Duration::from_secs(120));
        assert_eq!(retry_delay(4), Duration::from_secs(480));
    }
}
