//! SMS gateways: Kavenegar in production, the log gateway with an admin-only outbox in
//! development.

mod kavenegar;
mod log;

pub use kavenegar::{KavenegarConfig, KavenegarGateway};
pub use log::LogSmsGateway;

/// The local `09…` form Iranian SMS gateways expect for `+989…` numbers.
pub fn local_receptor(phone: &str) -> String {
    match phone.strip_prefix("+98") {
        Some(rest) => format!("0{rest}"),
        None => phone.to_owned(),
    }
}

/// The text of a login code message.
pub fn otp_text(code: &str) -> String {
    format!("Blu Markets login code: {code}")
}
