//! Wire forms of the streams: raw WebSocket messages (api.md §12.3) and Socket.IO payloads
//! (§12.4). Numbers are exact JSON numbers; optional fields are omitted, never `null`.

use std::collections::BTreeSet;

use axum::extract::ws::Utf8Bytes;
use blu_app::ports::{FxQuote, PriceQuote, PriceSnapshot, PriceTick};
use blu_domain::{AssetId, Timestamp};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// IRR amounts are whole rials, half-up (api.md §1.3).
fn whole_rials(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
}

/// One price as the raw WebSocket sends it (inside `prices.data` and as a `price` message).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceItem {
    pub asset_id: &'static str,
    #[serde(with = "blu_domain::num")]
    pub price_usd: Decimal,
    #[serde(with = "blu_domain::num")]
    pub price_irr: Decimal,
    #[serde(
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub change_24h_pct: Option<Decimal>,
    pub source: String,
    pub timestamp: String,
}

impl From<&PriceQuote> for PriceItem {
    fn from(q: &PriceQuote) -> Self {
        PriceItem {
            asset_id: q.asset.as_str(),
            price_usd: q.price_usd,
            price_irr: whole_rials(q.price_irr),
            change_24h_pct: q.change_24h_pct,
            source: q.source.clone(),
            timestamp: q.fetched_at.to_rfc3339_millis(),
        }
    }
}

/// The asset set of `subscribed` / `unsubscribed`: `"all"` or a list of ids.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Assets {
    All(&'static str),
    List(Vec<&'static str>),
}

impl Assets {
    pub fn all() -> Assets {
        Assets::All("all")
    }

    pub fn list(ids: impl IntoIterator<Item = AssetId>) -> Assets {
        Assets::List(ids.into_iter().map(AssetId::as_str).collect())
    }
}

/// Server → client messages of the raw WebSocket.
#[derive(Debug, Serialize)]
#[serde(
    tag = "type",
    rename_all = "lowercase",
    rename_all_fields = "camelCase"
)]
pub enum ServerMessage {
    Connected {
        message: &'static str,
        timestamp: String,
    },
    Prices {
        data: Vec<PriceItem>,
        timestamp: String,
    },
    Fx {
        #[serde(with = "blu_domain::num")]
        usd_irr: Decimal,
        source: String,
        timestamp: String,
    },
    Price(PriceItem),
    Subscribed {
        assets: Assets,
    },
    Unsubscribed {
        assets: Assets,
    },
    Error {
        message: &'static str,
        code: &'static str,
    },
}

impl ServerMessage {
    pub fn fx(fx: &FxQuote) -> ServerMessage {
        ServerMessage::Fx {
            usd_irr: whole_rials(fx.usd_irr),
            source: fx.source.clone(),
            timestamp: fx.fetched_at.to_rfc3339_millis(),
        }
    }

    pub fn invalid() -> ServerMessage {
        ServerMessage::Error {
            message: "Invalid message format",
            code: "VALIDATION_ERROR",
        }
    }

    pub fn rate_limited() -> ServerMessage {
        ServerMessage::Error {
            message: "Rate limit exceeded, slow down",
            code: "RATE_LIMITED",
        }
    }

    pub fn text(&self) -> Utf8Bytes {
        Utf8Bytes::from(serde_json::to_string(self).unwrap_or_default())
    }
}

/// The snapshot sent right after `connected`: `prices` (when any exist) then `fx`.
pub fn snapshot_messages(snapshot: &PriceSnapshot) -> Vec<Utf8Bytes> {
    let quotes: Vec<&PriceQuote> = snapshot.prices.iter().flatten().collect();
    let mut out = Vec::new();
    if let Some(newest) = quotes.iter().map(|q| q.fetched_at).max() {
        out.push(
            ServerMessage::Prices {
                data: quotes.iter().map(|q| PriceItem::from(*q)).collect(),
                timestamp: newest.to_rfc3339_millis(),
            }
            .text(),
        );
    }
    if let Some(fx) = &snapshot.fx {
        out.push(ServerMessage::fx(fx).text());
    }
    out
}

/// One tick rendered once for every raw-WebSocket client of the process.
#[derive(Debug)]
pub struct TickFrames {
    prices: Vec<(AssetId, Utf8Bytes)>,
    fx: Option<Utf8Bytes>,
    all: Option<Utf8Bytes>,
}

impl TickFrames {
    pub fn render(tick: &PriceTick) -> TickFrames {
        let prices = tick
            .prices
            .iter()
            .map(|q| (q.asset, ServerMessage::Price(PriceItem::from(q)).text()))
            .collect();
        let all = (!tick.prices.is_empty()).then(|| {
            ServerMessage::Prices {
                data: tick.prices.iter().map(PriceItem::from).collect(),
                timestamp: tick.at.to_rfc3339_millis(),
            }
            .text()
        });
        TickFrames {
            prices,
            fx: tick.fx.as_ref().map(|fx| ServerMessage::fx(fx).text()),
            all,
        }
    }

    /// Per tick: the `price` messages the client subscribes to, then `fx`, then `prices` for
    /// subscribe-all clients (api.md §12.3).
    pub fn for_subscription<'a>(
        &'a self,
        subscription: &'a Subscription,
    ) -> impl Iterator<Item = &'a Utf8Bytes> + 'a {
        let prices = self
            .prices
            .iter()
            .filter(|(asset, _)| subscription.wants(*asset))
            .map(|(_, text)| text);
        let all = self
            .all
            .iter()
            .filter(|_| matches!(subscription, Subscription::All));
        prices.chain(self.fx.iter()).chain(all)
    }
}

/// What a raw-WebSocket client receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// The default of a new connection.
    All,
    Only(BTreeSet<AssetId>),
}

impl Subscription {
    pub fn wants(&self, asset: AssetId) -> bool {
        match self {
            Subscription::All => true,
            Subscription::Only(set) => set.contains(&asset),
        }
    }

    /// `subscribe`: no ids = all; ids = add them and leave subscribe-all. Unknown ids are
    /// ignored. Returns the effective set.
    pub fn subscribe(&mut self, ids: Option<&[String]>) -> Assets {
        let Some(ids) = ids else {
            *self = Subscription::All;
            return Assets::all();
        };
        let mut set = match self {
            Subscription::All => BTreeSet::new(),
            Subscription::Only(set) => std::mem::take(set),
        };
        set.extend(known(ids));
        let reply = Assets::list(set.iter().copied());
        *self = Subscription::Only(set);
        reply
    }

    /// `unsubscribe`: no ids = everything; ids = remove those. Returns what was removed.
    pub fn unsubscribe(&mut self, ids: Option<&[String]>) -> Assets {
        let Some(ids) = ids else {
            *self = Subscription::Only(BTreeSet::new());
            return Assets::all();
        };
        let mut set = match self {
            Subscription::All => AssetId::ALL.into_iter().collect(),
            Subscription::Only(set) => std::mem::take(set),
        };
        let removed: BTreeSet<AssetId> = known(ids).filter(|a| set.remove(a)).collect();
        *self = Subscription::Only(set);
        Assets::list(removed)
    }
}

/// The registry ids among `ids` (case-insensitive), in order, unknown ones dropped.
pub fn known(ids: &[String]) -> impl Iterator<Item = AssetId> + '_ {
    ids.iter()
        .filter_map(|id| id.trim().to_ascii_uppercase().parse().ok())
}

/// Client → server messages of the raw WebSocket.
#[derive(Debug, Deserialize)]
pub struct ClientMessage {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub assets: Option<Vec<String>>,
}

/// Socket.IO `price:update`: the plan's field names (api.md §1.2).
#[derive(Debug, Serialize)]
pub struct SioPriceUpdate {
    #[serde(rename = "assetId")]
    pub asset_id: &'static str,
    #[serde(rename = "priceUSD", with = "blu_domain::num")]
    pub price_usd: Decimal,
    #[serde(rename = "priceIRR", with = "blu_domain::num")]
    pub price_irr: Decimal,
    #[serde(
        rename = "change24h",
        with = "blu_domain::num::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub change_24h: Option<Decimal>,
    pub timestamp: String,
}

impl From<&PriceQuote> for SioPriceUpdate {
    fn from(q: &PriceQuote) -> Self {
        SioPriceUpdate {
            asset_id: q.asset.as_str(),
            price_usd: q.price_usd,
            price_irr: whole_rials(q.price_irr),
            change_24h: q.change_24h_pct,
            timestamp: q.fetched_at.to_rfc3339_millis(),
        }
    }
}

/// Socket.IO `fx:update`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SioFxUpdate {
    #[serde(with = "blu_domain::num")]
    pub usd_irr: Decimal,
    pub source: String,
    pub timestamp: String,
}

impl From<&FxQuote> for SioFxUpdate {
    fn from(fx: &FxQuote) -> Self {
        SioFxUpdate {
            usd_irr: whole_rials(fx.usd_irr),
            source: fx.source.clone(),
            timestamp: fx.fetched_at.to_rfc3339_millis(),
        }
    }
}

/// `connected.timestamp` is the send time.
pub fn connected(now: Timestamp) -> Utf8Bytes {
    ServerMessage::Connected {
        message: "Connected to price stream",
        timestamp: now.to_rfc3339_millis(),
    }
    .text()
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn quote(asset: AssetId, change: Option<Decimal>) -> PriceQuote {
        PriceQuote {
            asset,
            price_usd: dec!(97500.50),
            price_irr: dec!(141960728000.4),
            change_24h_pct: change,
            source: "coingecko".into(),
            fetched_at: Timestamp::from_micros(1_768_910_400_000_000),
        }
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_price_message_has_number_fields_and_omits_an_unknown_change() {
        let text = ServerMessage::Price(PriceItem::from(&quote(AssetId::Btc, None))).text();
        assert_eq!(
            text.as_str(),
            r#"{"type":"price","assetId":"BTC","priceUsd":97500.5,"priceIrr":141960728000,"source":"coingecko","timestamp":"2026-01-20T12:00:00.000Z"}"#
        );
    }

    #[test]
    fn the_socketio_update_uses_the_plan_names() {
        let update = SioPriceUpdate::from(&quote(AssetId::Btc, Some(dec!(2.5))));
        assert_eq!(
            serde_json::to_string(&update).unwrap(),
            r#"{"assetId":"BTC","priceUSD":97500.5,"priceIRR":141960728000,"change24h":2.5,"timestamp":"2026-01-20T12:00:00.000Z"}"#
        );
    }

    #[test]
    fn subscribing_to_ids_leaves_subscribe_all_and_ignores_unknown_ids() {
        let mut subscription = Subscription::All;
        let reply = subscription.subscribe(Some(&ids(&["ETH", "FOO", "btc"])));
        assert_eq!(serde_json::to_string(&reply).unwrap(), r#"["BTC","ETH"]"#);
        assert!(subscription.wants(AssetId::Btc));
        assert!(!subscription.wants(AssetId::Sol));
    }

    #[test]
    fn unsubscribing_from_all_keeps_every_other_asset() {
        let mut subscription = Subscription::All;
        let reply = subscription.unsubscribe(Some(&ids(&["BTC"])));
        assert_eq!(serde_json::to_string(&reply).unwrap(), r#"["BTC"]"#);
        assert!(!subscription.wants(AssetId::Btc));
        assert!(subscription.wants(AssetId::Eth));
        assert_eq!(
            serde_json::to_string(&subscription.unsubscribe(None)).unwrap(),
            r#""all""#
        );
        assert!(!subscription.wants(AssetId::Eth));
    }

    #[test]
    fn a_tick_sends_subscribed_prices_then_fx_then_prices_to_subscribe_all_only() {
        let tick = PriceTick {
            prices: vec![quote(AssetId::Btc, None), quote(AssetId::Eth, None)],
            fx: Some(FxQuote {
                usd_irr: dec!(1456000),
                source: "bonbast".into(),
                fetched_at: Timestamp::from_micros(1_768_910_400_000_000),
            }),
            at: Timestamp::from_micros(1_768_910_405_000_000),
        };
        let frames = TickFrames::render(&tick);
        let types = |s: &Subscription| -> Vec<String> {
            frames
                .for_subscription(s)
                .map(|t| {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                    format!(
                        "{}{}",
                        v["type"].as_str().unwrap(),
                        v["assetId"].as_str().unwrap_or("")
                    )
                })
                .collect()
        };
        assert_eq!(
            types(&Subscription::All),
            ["priceBTC", "priceETH", "fx", "prices"]
        );
        let only_eth = Subscription::Only([AssetId::Eth].into_iter().collect());
        assert_eq!(types(&only_eth), ["priceETH", "fx"]);
    }
}
