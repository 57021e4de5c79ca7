//! What the use-case spans carry (architecture.md "Observability"; issue 13). Every use-case
//! entry point is `#[tracing::instrument(skip_all, fields(...))]`, so a trace shows the path of a
//! request through the layers, with the ids that say whose request it is (user, portfolio, loan,
//! protection) and what it does (asset, action) — never a phone number, a code, a token or a
//! secret. A field only known once the request is parsed or the portfolio is locked is declared
//! `Empty` on the span and filled in with [`record`].

/// Fills `field` of the current span; a span that did not declare it is left as it is.
pub(crate) fn record(field: &'static str, value: impl std::fmt::Display) {
    tracing::Span::current().record(field, tracing::field::display(value));
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::record;

    /// A log sink the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_declared_field_is_filled_once_known_and_an_undeclared_one_is_ignored() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("execute_trade", asset = tracing::field::Empty);
            let _entered = span.enter();
            record("asset", "BTC");
            record("undeclared", "ignored");
            tracing::info!("traded");
        });
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("execute_trade{asset=BTC}"), "{log}");
        assert!(!log.contains("undeclared"), "{log}");
    }
}
