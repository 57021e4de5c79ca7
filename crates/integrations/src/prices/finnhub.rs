//! Finnhub quote (business-rules §2.4): `GET /api/v1/quote?symbol=QQQ` with `X-Finnhub-Token`,
//! 60 calls a minute. price = `c`; change24hPct = (c − pc) / pc × 100.

use async_trait::async_trait;
use blu_app::Secret;
use blu_app::ports::{FetchedPrice, PriceSource, SourceError};
use blu_domain::AssetId;
use blu_domain::asset::PriceSource as Registry;
use rust_decimal::Decimal;
use serde_json::Value;

use super::provider_http::{ProviderHttp, RetryPolicy, TokenBucket, parse_body};
use super::{decimal_of, positive};

#[derive(Clone, Debug)]
pub struct FinnhubConfig {
    /// `https://finnhub.io` in production (`FINNHUB_BASE_URL`).
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub policy: RetryPolicy,
    pub calls_per_minute: u32,
}

impl FinnhubConfig {
    pub fn new(api_key: Option<Secret>) -> FinnhubConfig {
        FinnhubConfig {
            base_url: "https://finnhub.io".to_owned(),
            api_key,
            policy: RetryPolicy::default(),
            calls_per_minute: 60,
        }
    }
}

pub struct Finnhub {
    config: FinnhubConfig,
    http: ProviderHttp,
    symbols: Vec<(&'static str, AssetId)>,
}

impl Finnhub {
    pub fn new(config: FinnhubConfig) -> Finnhub {
        let symbols = AssetId::ALL
            .iter()
            .filter_map(|a| match a.asset().price_source {
                Registry::Finnhub(symbol) => Some((symbol, *a)),
                _ => None,
            })
            .collect();
        let http = ProviderHttp::new(
            "finnhub",
            config.policy.clone(),
            TokenBucket::per_minute(config.calls_per_minute),
        );
        Finnhub {
            config,
            http,
            symbols,
        }
    }

    async fn quote(&self, symbol: &str, asset: AssetId) -> Result<FetchedPrice, SourceError> {
        let url = format!(
            "{}/api/v1/quote",
            self.config.base_url.trim_end_matches('/')
        );
        let body = self
            .http
            .fetch(|client| {
                let mut request = client.get(&url).query(&[("symbol", symbol)]);
                if let Some(key) = &self.config.api_key {
                    request = request.header("X-Finnhub-Token", key.expose());
                }
                request
            })
            .await?;
        parse(&body, asset)
    }
}

/// Reads `{"c":521.3,"d":6.3,"dp":1.2233,"h":…,"l":…,"o":…,"pc":515,"t":…}`. Finnhub answers an
/// unknown symbol with zeros: refused.
fn parse(body: &str, asset: AssetId) -> Result<FetchedPrice, SourceError> {
    let quote: Value = parse_body(body)?;
    let price_usd = quote
        .get("c")
        .and_then(decimal_of)
        .and_then(positive)
        .ok_or_else(|| SourceError::Invalid("quote without a positive current price".into()))?;
    let change_24h_pct = quote
        .get("pc")
        .and_then(decimal_of)
        .and_then(positive)
        .map(|pc| ((price_usd - pc) / pc * Decimal::ONE_HUNDRED).round_dp(6));
    Ok(FetchedPrice {
        asset,
        price_usd,
        change_24h_pct,
    })
}

#[async_trait]
impl PriceSource for Finnhub {
    fn name(&self) -> &'static str {
        "finnhub"
    }

    async fn fetch_prices(&self) -> Result<Vec<FetchedPrice>, SourceError> {
        let mut prices = Vec::new();
        let mut last_error = None;
        for (symbol, asset) in &self.symbols {
            match self.quote(symbol, *asset).await {
                Ok(p) => prices.push(p),
                Err(e) => last_error = Some(e),
            }
        }
        match last_error {
            Some(e) if prices.is_empty() => Err(e),
            _ => Ok(prices),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::super::provider_http::mock::{self, fast, ok, slow, status};
    use super::*;

    const QUOTE: &str =
        r#"{"c":521.3,"d":6.3,"dp":1.2233,"h":523.1,"l":514.2,"o":515.5,"pc":515,"t":1768910400}"#;

    fn client(base_url: String) -> Finnhub {
        Finnhub::new(FinnhubConfig {
            base_url,
            api_key: Some(Secret::new("FH-KEY")),
            policy: fast(),
            calls_per_minute: 60,
        })
    }

    #[tokio::test]
    async fn a_quote_gives_the_current_price_and_the_change_against_the_previous_close() {
        let (url, log) = mock::serve(vec![ok(QUOTE)]).await;
        let prices = client(url).fetch_prices().await.unwrap();
        assert_eq!(prices[0].asset, AssetId::Qqq);
        assert_eq!(prices[0].price_usd, dec!(521.3));
        // (521.3 − 515) / 515 × 100 = 1.223300…
        assert_eq!(prices[0].change_24h_pct, Some(dec!(1.223301)));
        let seen = log.lock().unwrap();
        assert_eq!(seen[0].uri, "/api/v1/quote?symbol=QQQ");
        assert_eq!(seen[0].headers["x-finnhub-token"], "FH-KEY");
    }

    #[tokio::test]
    async fn an_unknown_symbol_answer_of_zeros_is_refused() {
        let (url, _) = mock::serve(vec![ok(
            r#"{"c":0,"d":null,"dp":null,"h":0,"l":0,"o":0,"pc":0,"t":0}"#,
        )])
        .await;
        let err = client(url).fetch_prices().await.unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_bad_token_is_a_final_refusal() {
        let (url, log) = mock::serve(vec![status(401, r#"{"error":"Invalid API key"}"#)]).await;
        let err = client(url).fetch_prices().await.unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)), "{err:?}");
        assert_eq!(log.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn rate_limited_then_ok_succeeds_on_a_retry() {
        let (url, log) = mock::serve(vec![
            status(
                429,
                r#"{"error":"API limit reached. Please try again later. Remaining Limit: 0"}"#,
            ),
            ok(QUOTE),
        ])
        .await;
        assert_eq!(client(url).fetch_prices().await.unwrap().len(), 1);
        assert_eq!(log.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn server_errors_and_timeouts_exhaust_the_attempts() {
        let (url, log) = mock::serve(vec![status(502, "bad gateway"), slow(QUOTE)]).await;
        let err = client(url).fetch_prices().await.unwrap_err();
        assert!(matches!(err, SourceError::Unreachable(_)), "{err:?}");
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_malformed_body_is_refused() {
        let (url, _) = mock::serve(vec![ok(r#"{"c":"#)]).await;
        assert!(matches!(
            client(url).fetch_prices().await.unwrap_err(),
            SourceError::Invalid(_)
        ));
    }
}
