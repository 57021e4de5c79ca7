//! Monitoring (issue 14 §3): `/metrics` exports what the alert rules and the Grafana dashboard
//! of `deploy/monitoring/` query, the database gauges among them; the dashboard JSON has the
//! shape Grafana provisions. `promtool check config/rules` runs in `.ci/run`
//! (`deploy/monitoring/check`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use blu::config::Config;
use reqwest::StatusCode;
use serde_json::Value;

use crate::fixtures::priced_vars;
use crate::helpers::spawn_from;

fn monitoring_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/monitoring")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Metric names referenced by a PromQL expression: identifiers that are not functions,
/// keywords, label names (inside `{…}` or `by (…)`), durations (`[…]`) or strings.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 23] = [
        "by",
        "without",
        "and",
        "or",
        "unless",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "topk",
        "bottomk",
        "stddev",
        "stdvar",
        "quantile",
        "count_values",
        "group",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |i: &mut usize, close: char| {
        while *i < chars.len() && chars[*i] != close {
            *i += 1;
        }
        *i += 1;
    };
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            skip_to(&mut i, c);
        } else if c == '{' {
            skip_to(&mut i, '}');
        } else if c == '[' {
            skip_to(&mut i, ']');
        } else if c == '(' && after_grouping {
            skip_to(&mut i, ')');
            after_grouping = false;
        } else if c.is_ascii_digit() {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || (matches!(chars[i], '-' | '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '_' | ':'))
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            let is_function = next < chars.len() && chars[next] == '(';
            if matches!(word.as_str(), "by" | "without" | "on" | "ignoring") {
                after_grouping = true;
            } else if !is_function && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The `expr:` of every rule in a Prometheus rules file (single line or `|` block).
fn rule_expressions(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut exprs = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(at) = line.find("expr:") {
            let rest = line[at + 5..].trim();
            if rest == "|" || rest == ">" {
                let indent = at;
                let mut block = String::new();
                i += 1;
                while i < lines.len()
                    && (lines[i].trim().is_empty()
                        || lines[i].len() - lines[i].trim_start().len() > indent)
                {
                    block.push_str(lines[i].trim());
                    block.push(' ');
                    i += 1;
                }
                exprs.push(block);
                continue;
            }
            exprs.push(rest.to_owned());
        }
        i += 1;
    }
    exprs
}

/// Names in the Prometheus text format (histograms' `_bucket`/`_sum`/`_count` included).
fn exported_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route!~"/x"}[5m]))) > 1e-9 and time() - max by (job) (job_last_success_timestamp_seconds{job="prices"}) > 180"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec![
            "http_request_duration_seconds_bucket",
            "job_last_success_timestamp_seconds"
        ]
    );
}

#[test]
fn the_dashboard_has_the_shape_grafana_provisions() {
    let dashboard: Value =
        serde_json::from_str(&monitoring_file("grafana/dashboards/blu-overview.json"))
            .expect("the dashboard is JSON");
    assert_eq!(dashboard["uid"], "blu-overview");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    let datasource = monitoring_file("grafana/provisioning/datasources/prometheus.yml");
    assert!(datasource.contains("uid: prometheus"));
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().expect("every panel has a title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("numeric id")),
            "{title}: id reused"
        );
        assert_eq!(panel["type"], "timeseries", "{title}");
        assert_eq!(panel["datasource"]["uid"], "prometheus", "{title}");
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(
            x + w <= 24 && grid["h"].as_u64().unwrap() > 0,
            "{title}: gridPos"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}");
        for target in targets {
            assert!(target["refId"].is_string(), "{title}");
            assert!(
                target["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{title}"
            );
        }
    }
    let titles: String = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap().to_lowercase())
        .collect::<Vec<_>>()
        .join("|");
    for topic in [
        "requests",
        "latency",
        "5xx",
        "job",
        "price age",
        "websocket",
        "database pool",
    ] {
        assert!(titles.contains(topic), "no panel on {topic}: {titles}");
    }
}

#[tokio::test]
async fn every_metric_the_alerts_and_the_dashboard_query_is_exported() {
    let vars = priced_vars().await;
    let app = spawn_from(vars.clone()).await;
    // Traffic, a login, a job run and a ledger verification make the lazy series appear.
    let (_, portfolio) = app.funded(5_000_000).await;
    assert_eq!(app.run_job("cleanup").await.status(), StatusCode::OK);
    app.verify_ledger(&portfolio).await;
    let config = Config::from_source(&vars).unwrap();
    let database = blu::startup::open_database(&config).await.unwrap();
    blu::ops_metrics::sample(&database, false).await.unwrap();
    let text = app.get("/metrics").await.text().await.unwrap();
    let exported = exported_names(&text);
    // Present only with a replica configured, once a stream client connected, or made by
    // Prometheus itself.
    let conditional = ["db_replica_lag_seconds", "ws_connections", "up"];

    let mut referenced = BTreeSet::new();
    for expr in rule_expressions(&monitoring_file("alerts.yml")) {
        referenced.extend(metric_names(&expr));
    }
    let dashboard: Value =
        serde_json::from_str(&monitoring_file("grafana/dashboards/blu-overview.json")).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            referenced.extend(metric_names(target["expr"].as_str().unwrap()));
        }
    }
    assert!(referenced.len() >= 15, "{referenced:?}");
    let missing: Vec<&String> = referenced
        .iter()
        .filter(|name| !exported.contains(*name) && !conditional.contains(&name.as_str()))
        .collect();
    assert!(missing.is_empty(), "not exported: {missing:?}\n{text}");
    for gauge in [
        "db_pool_connections",
        "db_pool_max_connections",
        "notifications_pending",
        "job_last_success_timestamp_seconds",
        "ledger_verifications_total",
    ] {
        assert!(exported.contains(gauge), "{gauge} missing");
    }
}
