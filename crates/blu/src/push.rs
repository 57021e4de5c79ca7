//! The push sender of this process: FCM HTTP v1 when push is enabled and a service account is
//! configured (`FCM_SERVICE_ACCOUNT_FILE`, or the JSON inline in `FCM_SERVER_KEY`), else the
//! development log sender.

use std::sync::Arc;

use anyhow::{Context, bail};
use blu_app::ports::PushSender;
use blu_integrations::push::{FcmConfig, FcmSender, LogPushSender};

use crate::config::Config;

pub fn sender(config: &Config) -> anyhow::Result<Arc<dyn PushSender>> {
    if !config.enable_push_notifications {
        return Ok(Arc::new(LogPushSender));
    }
    let json = match (&config.fcm_service_account_file, &config.fcm_server_key) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("reading FCM_SERVICE_ACCOUNT_FILE {}", path.display()))?,
        (None, Some(inline)) => inline.expose().to_owned(),
        (None, None) if config.is_production() => bail!(
            "ENABLE_PUSH_NOTIFICATIONS is on but neither FCM_SERVICE_ACCOUNT_FILE nor \
             FCM_SERVER_KEY is set (set one, or ENABLE_PUSH_NOTIFICATIONS=false)"
        ),
        (None, None) => {
            tracing::warn!("push enabled without FCM credentials: notifications are only logged");
            return Ok(Arc::new(LogPushSender));
        }
    };
    let mut fcm = FcmConfig::from_service_account_json(&json)
        .context("FCM service account (FCM_SERVICE_ACCOUNT_FILE / FCM_SERVER_KEY)")?;
    fcm.api_base_url = config.fcm_base_url.clone();
    Ok(Arc::new(FcmSender::new(fcm)?))
}
