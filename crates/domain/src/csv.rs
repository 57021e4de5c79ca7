//! The server's CSV export of the ledger (business-rules §9.7, api.md §11
//! `GET /history/export`): UTF-8 with a BOM (so spreadsheet apps detect the encoding), one row
//! per entry in sequence order, RFC 4180 quoting and CRLF line breaks, numbers in plain decimal
//! notation.
//!
//! The API streams [`BOM`], [`header_line`] and one [`row`] per entry; [`render`] builds a whole
//! file for small exports and tests.

use std::borrow::Cow;

use crate::ledger::LedgerEntry;
use crate::num;
use crate::time::Timestamp;

/// The UTF-8 byte-order mark written before the header.
pub const BOM: &str = "\u{feff}";

/// RFC 4180 record separator.
pub const LINE_END: &str = "\r\n";

/// The export's columns, in order (§9.7).
pub const COLUMNS: [&str; 11] = [
    "sequenceNumber",
    "createdAt",
    "entryType",
    "assetId",
    "quantity",
    "amountIrr",
    "priceIrr",
    "spreadIrr",
    "boundary",
    "message",
    "entryHash",
];

/// The `Content-Type` of the export.
pub const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// Quotes one field per RFC 4180: a value containing a comma, a double quote, CR or LF is
/// wrapped in double quotes with inner quotes doubled; anything else is written as is.
pub fn quote_field(value: &str) -> Cow<'_, str> {
    if value.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

/// Joins already-rendered values into one record, CRLF-terminated.
fn record<'a>(values: impl IntoIterator<Item = Cow<'a, str>>) -> String {
    let mut line = values
        .into_iter()
        .map(|v| quote_field(&v).into_owned())
        .collect::<Vec<_>>()
        .join(",");
    line.push_str(LINE_END);
    line
}

/// One record of plain text values (other exports: the operator audit trail). A value that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is prefixed with `'`.
pub fn text_record<S: AsRef<str>>(values: &[S]) -> String {
    record(values.iter().map(|v| {
        let v = v.as_ref();
        if v.starts_with(['=', '+', '-', '@']) {
            Cow::Owned(format!("'{v}"))
        } else {
            Cow::Borrowed(v)
        }
    }))
}

/// The header record.
pub fn header_line() -> String {
    record(COLUMNS.iter().map(|c| Cow::Borrowed(*c)))
}

/// One entry as a record. Absent optional values are empty fields. `createdAt` uses the API's
/// millisecond RFC 3339 form (api.md §1.6), like every other timestamp a user sees.
pub fn row(entry: &LedgerEntry) -> String {
    let decimal = |d: Option<rust_decimal::Decimal>| -> Cow<'_, str> {
        d.map_or(Cow::Borrowed(""), |d| Cow::Owned(num::canonical(d)))
    };
    record([
        Cow::Owned(entry.sequence_number.to_string()),
        Cow::Owned(entry.created_at.to_rfc3339_millis()),
        Cow::Borrowed(entry.entry_type.as_str()),
        Cow::Borrowed(entry.asset_id.map_or("", |a| a.as_str())),
        decimal(entry.quantity.map(|q| q.value())),
        decimal(entry.amount_irr.map(|a| a.value())),
        decimal(entry.price_irr),
        decimal(entry.spread_irr.map(|s| s.value())),
        Cow::Borrowed(entry.boundary.as_str()),
        Cow::Borrowed(entry.message.as_str()),
        Cow::Borrowed(entry.entry_hash.as_str()),
    ])
}

/// A complete export: BOM, header, then the entries in the order given (sequence order).
pub fn render(entries: &[LedgerEntry]) -> String {
    let mut out = String::from(BOM);
    out.push_str(&header_line());
    for entry in entries {
        out.push_str(&row(entry));
    }
    out
}

/// `blu-history-YYYYMMDD.csv`, dated by the UTC day of `at` (the export instant).
pub fn export_file_name(at: Timestamp) -> String {
    let iso = at.to_rfc3339_micros();
    let date: String = iso[..10].chars().filter(|c| *c != '-').collect();
    format!("blu-history-{date}.csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_or_line_breaks_are_quoted_and_quotes_doubled() {
        assert_eq!(quote_field("plain text"), "plain text");
        assert_eq!(quote_field(""), "");
        assert_eq!(quote_field("a,b"), "\"a,b\"");
        assert_eq!(quote_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote_field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(quote_field("carriage\rreturn"), "\"carriage\rreturn\"");
        assert_eq!(
            quote_field("Bought BTC (5.4M IRR)"),
            "Bought BTC (5.4M IRR)"
        );
    }

    #[test]
    fn the_header_lists_the_eleven_columns_of_business_rules_9_7() {
        assert_eq!(
            header_line(),
            "sequenceNumber,createdAt,entryType,assetId,quantity,amountIrr,priceIrr,spreadIrr,boundary,message,entryHash\r\n"
        );
    }

    #[test]
    fn the_file_name_carries_the_utc_date_of_the_export() {
        let at = Timestamp::parse_rfc3339("2026-01-20T23:59:59.999999Z").unwrap();
        assert_eq!(export_file_name(at), "blu-history-20260120.csv");
        let at = Timestamp::parse_rfc3339("2026-01-21T02:00:00+03:30").unwrap();
        assert_eq!(export_file_name(at), "blu-history-20260120.csv");
    }
}
