//! Bonbast USD rate (business-rules §2.4): `GET https://bonbast.amirhn.com/latest`; the value is
//! in toman, ×10 gives rial. Takes `usd.sell`, else `usd` when it is a plain value; strings and
//! numbers are both accepted; a non-positive or missing rate is refused (the last good FX stays).

use async_trait::async_trait;
use blu_app::ports::{FxSource, SourceError};
use rust_decimal::Decimal;
use serde_json::Value;

use super::provider_http::{ProviderHttp, RetryPolicy, TokenBucket, parse_body};
use super::{decimal_of, positive};

#[derive(Clone, Debug)]
pub struct BonbastConfig {
    /// The full URL (`BONBAST_URL`).
    pub url: String,
    pub policy: RetryPolicy,
    pub calls_per_minute: u32,
}

impl Default for BonbastConfig {
    fn default() -> BonbastConfig {
        BonbastConfig {
            url: "https://bonbast.amirhn.com/latest".to_owned(),
            policy: RetryPolicy::default(),
            calls_per_minute: 10,
        }
    }
}

pub struct Bonbast {
    url: String,
    http: ProviderHttp,
}

impl Bonbast {
    pub fn new(config: BonbastConfig) -> Bonbast {
        let http = ProviderHttp::new(
            "bonbast",
            config.policy,
            TokenBucket::per_minute(config.calls_per_minute),
        );
        Bonbast {
            url: config.url,
            http,
        }
    }
}

/// Rials per dollar from a Bonbast body.
fn parse(body: &str) -> Result<Decimal, SourceError> {
    let value: Value = parse_body(body)?;
    let usd = value
        .get("usd")
        .ok_or_else(|| SourceError::Invalid("no usd field".into()))?;
    let toman = match usd {
        Value::Object(fields) => fields.get("sell").and_then(decimal_of),
        other => decimal_of(other),
    };
    toman
        .and_then(positive)
        .map(|t| t * Decimal::TEN)
        .ok_or_else(|| SourceError::Invalid("usd rate missing or not positive".into()))
}

#[async_trait]
impl FxSource for Bonbast {
    fn name(&self) -> &'static str {
        "bonbast"
    }

    async fn fetch_usd_irr(&self) -> Result<Decimal, SourceError> {
        let body = self.http.fetch(|client| client.get(&self.url)).await?;
        parse(&body)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::super::provider_http::mock::{self, fast, ok, slow, status};
    use super::*;

    fn client(url: String) -> Bonbast {
        Bonbast::new(BonbastConfig {
            url: format!("{url}/latest"),
            policy: fast(),
            calls_per_minute: 10,
        })
    }

    #[tokio::test]
    async fn the_sell_rate_in_toman_becomes_rials() {
        let body = r#"{"usd":{"sell":"145600","buy":"145400"},"eur":{"sell":"158000","buy":"157800"},"last_modified":"2026-01-20 12:00"}"#;
        let (url, log) = mock::serve(vec![ok(body)]).await;
        assert_eq!(client(url).fetch_usd_irr().await.unwrap(), dec!(1456000));
        assert_eq!(log.lock().unwrap()[0].uri, "/latest");
    }

    #[tokio::test]
    async fn numeric_sell_and_a_plain_usd_value_are_accepted() {
        let (url, _) = mock::serve(vec![ok(r#"{"usd":{"sell":145650,"buy":145500}}"#)]).await;
        assert_eq!(client(url).fetch_usd_irr().await.unwrap(), dec!(1456500));
        let (url, _) = mock::serve(vec![ok(r#"{"usd":"145600"}"#)]).await;
        assert_eq!(client(url).fetch_usd_irr().await.unwrap(), dec!(1456000));
    }

    #[tokio::test]
    async fn a_zero_missing_or_malformed_rate_is_refused() {
        for body in [
            r#"{"usd":{"sell":"0","buy":"0"}}"#,
            r#"{"usd":{"buy":"145400"}}"#,
            r#"{"eur":{"sell":"158000"}}"#,
            r#"{"usd":{"sell":"-5"}}"#,
            "not json",
        ] {
            let (url, _) = mock::serve(vec![ok(body)]).await;
            let err = client(url).fetch_usd_irr().await.unwrap_err();
            assert!(matches!(err, SourceError::Invalid(_)), "{body}: {err:?}");
        }
    }

    #[tokio::test]
    async fn outages_and_rate_limits_are_retried_then_reported() {
        let (url, log) = mock::serve(vec![status(503, "<html>down</html>")]).await;
        assert!(matches!(
            client(url).fetch_usd_irr().await.unwrap_err(),
            SourceError::Unreachable(_)
        ));
        assert_eq!(log.lock().unwrap().len(), 3);
        let (url, _) = mock::serve(vec![slow(r#"{"usd":{"sell":"145600"}}"#)]).await;
        assert!(matches!(
            client(url).fetch_usd_irr().await.unwrap_err(),
            SourceError::Unreachable(_)
        ));
        let (url, _) = mock::serve(vec![status(429, "Too Many Requests")]).await;
        assert_eq!(
            client(url).fetch_usd_irr().await.unwrap_err(),
            SourceError::RateLimited
        );
    }
}
