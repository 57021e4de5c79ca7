//! The development SMS gateway: writes each message to the server log and keeps the last 1,000
//! in memory for `GET /admin/v1/sms-outbox`. Never used in production unless explicitly allowed.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use blu_app::mask_phone;
use blu_app::ports::{OutboxMessage, SmsError, SmsGateway, real_now};

const OUTBOX_CAPACITY: usize = 1_000;

#[derive(Default)]
pub struct LogSmsGateway {
    outbox: Mutex<VecDeque<OutboxMessage>>,
}

impl LogSmsGateway {
    pub fn new() -> LogSmsGateway {
        LogSmsGateway::default()
    }
}

#[async_trait]
impl SmsGateway for LogSmsGateway {
    async fn send_otp(&self, phone: &str, code: &str) -> Result<(), SmsError> {
        // Development only: the code appears in the log so a developer can log in.
        tracing::info!(phone = %mask_phone(phone), code, "development sms gateway: login code");
        let message = OutboxMessage {
            phone: phone.to_owned(),
            text: super::otp_text(code),
            code: code.to_owned(),
            sent_at: real_now().to_rfc3339_millis(),
        };
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        if outbox.len() == OUTBOX_CAPACITY {
            outbox.pop_back();
        }
        outbox.push_front(message);
        Ok(())
    }

    fn outbox(&self, phone: Option<&str>, limit: usize) -> Option<Vec<OutboxMessage>> {
        let outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            outbox
                .iter()
                .filter(|m| phone.is_none_or(|p| m.phone == p))
                .take(limit)
                .cloned()
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_outbox_keeps_messages_newest_first_and_filters_by_phone() {
        let gw = LogSmsGateway::new();
        gw.send_otp("+989121111111", "111111").await.unwrap();
        gw.send_otp("+989122222222", "222222").await.unwrap();
        gw.send_otp("+989121111111", "333333").await.unwrap();
        let all = gw.outbox(None, 10).unwrap();
        assert_eq!(
            all.iter().map(|m| m.code.as_str()).collect::<Vec<_>>(),
            ["333333", "222222", "111111"]
        );
        let one = gw.outbox(Some("+989121111111"), 1).unwrap();
        assert_eq!(one[0].code, "333333");
    }
}
