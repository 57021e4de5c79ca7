//! CoinGecko simple price (business-rules §2.4): one call per tick for every CoinGecko asset,
//! `GET /api/v3/simple/price?ids=…&vs_currencies=usd&include_24hr_change=true`, optional
//! `x-cg-demo-api-key`, about 30 calls a minute. An id missing from the answer leaves its asset
//! stale (e.g. a MATIC id that stops updating); it is never mispriced.

use std::collections::BTreeMap;

use async_trait::async_trait;
use blu_app::Secret;
use blu_app::ports::{FetchedPrice, PriceSource, SourceError};
use blu_domain::AssetId;
use blu_domain::asset::PriceSource as Registry;
use serde_json::Value;

use super::provider_http::{ProviderHttp, RetryPolicy, TokenBucket, parse_body};
use super::{decimal_of, positive};

#[derive(Clone, Debug)]
pub struct CoinGeckoConfig {
    /// `https://api.coingecko.com` in production (`COINGECKO_BASE_URL`).
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// The CoinGecko id of MATIC (`MATIC_COINGECKO_ID`, default `matic-network`).
    pub matic_id: String,
    pub policy: RetryPolicy,
    pub calls_per_minute: u32,
}

impl CoinGeckoConfig {
    pub fn new(api_key: Option<Secret>) -> CoinGeckoConfig {
        CoinGeckoConfig {
            base_url: "https://api.coingecko.com".to_owned(),
            api_key,
            matic_id: "matic-network".to_owned(),
            policy: RetryPolicy::default(),
            calls_per_minute: 30,
        }
    }
}

pub struct CoinGecko {
    config: CoinGeckoConfig,
    http: ProviderHttp,
    /// (CoinGecko id, asset) of every asset priced here, in registry order.
    ids: Vec<(String, AssetId)>,
}

impl CoinGecko {
    pub fn new(config: CoinGeckoConfig) -> CoinGecko {
        let ids = AssetId::ALL
            .iter()
            .filter_map(|a| match a.asset().price_source {
                Registry::CoinGecko(_) if *a == AssetId::Matic => {
                    Some((config.matic_id.clone(), *a))
                }
                Registry::CoinGecko(id) => Some((id.to_owned(), *a)),
                _ => None,
            })
            .collect();
        let http = ProviderHttp::new(
            "coingecko",
            config.policy.clone(),
            TokenBucket::per_minute(config.calls_per_minute),
        );
        CoinGecko { config, http, ids }
    }
}

/// Reads `{"bitcoin":{"usd":97500,"usd_24h_change":2.5},…}`.
fn parse(body: &str, ids: &[(String, AssetId)]) -> Result<Vec<FetchedPrice>, SourceError> {
    let map: BTreeMap<String, Value> = parse_body(body)?;
    let mut prices = Vec::new();
    for (id, asset) in ids {
        let Some(entry) = map.get(id) else {
            tracing::warn!(%asset, id, "coingecko returned no price");
            continue;
        };
        let Some(price_usd) = entry.get("usd").and_then(decimal_of).and_then(positive) else {
            tracing::warn!(%asset, id, "coingecko price missing or not positive");
            continue;
        };
        let change_24h_pct = entry
            .get("usd_24h_change")
            .and_then(decimal_of)
            .map(|c| c.round_dp(6));
        prices.push(FetchedPrice {
            asset: *asset,
            price_usd,
            change_24h_pct,
        });
    }
    Ok(prices)
}

#[async_trait]
impl PriceSource for CoinGecko {
    fn name(&self) -> &'static str {
        "coingecko"
    }

    async fn fetch_prices(&self) -> Result<Vec<FetchedPrice>, SourceError> {
        let url = format!(
            "{}/api/v3/simple/price",
            self.config.base_url.trim_end_matches('/')
        );
        let ids = self
            .ids
            .iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let body = self
            .http
            .fetch(|client| {
                let mut request = client.get(&url).query(&[
                    ("ids", ids.as_str()),
                    ("vs_currencies", "usd"),
                    ("include_24hr_change", "true"),
                ]);
                if let Some(key) = &self.config.api_key {
                    request = request.header("x-cg-demo-api-key", key.expose());
                }
                request
            })
            .await?;
        parse(&body, &self.ids)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::super::provider_http::mock::{self, fast, ok, slow, status};
    use super::*;

    const ANSWER: &str = r#"{"bitcoin":{"usd":97500.12,"usd_24h_change":2.512345678901},"ethereum":{"usd":3200,"usd_24h_change":-1.5},"tether":{"usd":1.0001,"usd_24h_change":null},"pol-ecosystem-token":{"usd":0.4512}}"#;

    fn client(base_url: String, key: Option<&str>) -> CoinGecko {
        CoinGecko::new(CoinGeckoConfig {
            base_url,
            api_key: key.map(Secret::new),
            matic_id: "pol-ecosystem-token".to_owned(),
            policy: fast(),
            calls_per_minute: 30,
        })
    }

    #[tokio::test]
    async fn a_simple_price_answer_prices_every_listed_asset_exactly() {
        let (url, log) = mock::serve(vec![ok(ANSWER)]).await;
        let prices = client(url, Some("CG-KEY")).fetch_prices().await.unwrap();
        let by_asset = |a| prices.iter().find(|p| p.asset == a).cloned().unwrap();
        assert_eq!(by_asset(AssetId::Btc).price_usd, dec!(97500.12));
        assert_eq!(by_asset(AssetId::Btc).change_24h_pct, Some(dec!(2.512346)));
        assert_eq!(by_asset(AssetId::Eth).change_24h_pct, Some(dec!(-1.5)));
        assert_eq!(by_asset(AssetId::Usdt).change_24h_pct, None);
        assert_eq!(by_asset(AssetId::Matic).price_usd, dec!(0.4512));
        // Assets the answer left out are not guessed.
        assert!(prices.iter().all(|p| p.asset != AssetId::Sol));
        let seen = log.lock().unwrap();
        assert!(
            seen[0]
                .uri
                .starts_with("/api/v3/simple/price?ids=tether%2Cpax-gold%2Cbitcoin")
        );
        assert!(seen[0].uri.contains("pol-ecosystem-token"));
        assert!(
            seen[0]
                .uri
                .contains("vs_currencies=usd&include_24hr_change=true")
        );
        assert_eq!(seen[0].headers["x-cg-demo-api-key"], "CG-KEY");
    }

    #[tokio::test]
    async fn without_a_key_no_key_header_is_sent() {
        let (url, log) = mock::serve(vec![ok(ANSWER)]).await;
        client(url, None).fetch_prices().await.unwrap();
        assert!(
            !log.lock().unwrap()[0]
                .headers
                .contains_key("x-cg-demo-api-key")
        );
    }

    #[tokio::test]
    async fn a_server_error_is_retried_and_then_succeeds() {
        let (url, log) = mock::serve(vec![
            status(500, r#"{"error":"internal"}"#),
            status(503, "upstream down"),
            ok(ANSWER),
        ])
        .await;
        let prices = client(url, None).fetch_prices().await.unwrap();
        assert_eq!(prices.len(), 4);
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn three_rate_limited_answers_are_a_rate_limit_failure() {
        let body = r#"{"status":{"error_code":429,"error_message":"You've exceeded the Rate Limit. Please visit https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits."}}"#;
        let (url, log) = mock::serve(vec![status(429, body)]).await;
        let err = client(url, None).fetch_prices().await.unwrap_err();
        assert_eq!(err, SourceError::RateLimited);
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_client_error_is_not_retried() {
        let body = r#"{"status":{"error_code":10002,"error_message":"API Key Missing"}}"#;
        let (url, log) = mock::serve(vec![status(401, body)]).await;
        let err = client(url, None).fetch_prices().await.unwrap_err();
        assert!(
            matches!(err, SourceError::Invalid(ref m) if m.contains("401")),
            "{err:?}"
        );
        assert_eq!(log.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_slow_provider_times_out_after_every_attempt() {
        let (url, log) = mock::serve(vec![slow(ANSWER)]).await;
        let err = client(url, None).fetch_prices().await.unwrap_err();
        assert!(matches!(err, SourceError::Unreachable(_)), "{err:?}");
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn a_malformed_body_is_refused() {
        let (url, _) = mock::serve(vec![ok("<html>Just a moment…</html>")]).await;
        let err = client(url, None).fetch_prices().await.unwrap_err();
        assert!(matches!(err, SourceError::Invalid(_)), "{err:?}");
    }

    #[tokio::test]
    async fn zero_or_negative_prices_are_dropped() {
        let (url, _) = mock::serve(vec![ok(
            r#"{"bitcoin":{"usd":0},"ethereum":{"usd":-3},"solana":{"usd":"185.5"}}"#,
        )])
        .await;
        let prices = client(url, None).fetch_prices().await.unwrap();
        assert_eq!(prices.len(), 1);
        assert_eq!(prices[0].asset, AssetId::Sol);
        assert_eq!(prices[0].price_usd, dec!(185.5));
    }

    #[tokio::test]
    async fn the_local_rate_limit_refuses_calls_beyond_the_budget() {
        let (url, log) = mock::serve(vec![ok(ANSWER)]).await;
        let mut config = CoinGeckoConfig::new(None);
        config.base_url = url;
        config.policy = fast();
        config.calls_per_minute = 1;
        let gecko = CoinGecko::new(config);
        gecko.fetch_prices().await.unwrap();
        assert_eq!(
            gecko.fetch_prices().await.unwrap_err(),
            SourceError::RateLimited
        );
        assert_eq!(log.lock().unwrap().len(), 1);
    }
}
