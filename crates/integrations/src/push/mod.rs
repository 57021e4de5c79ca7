//! Push senders: Firebase Cloud Messaging (HTTP v1) in production, the log in development.

mod fcm;
mod log;

pub use fcm::{FcmConfig, FcmSender, ServiceAccount};
pub use log::LogPushSender;
