//! HTTP integration tests against a real server bound to port 0: on SQLite always, and on
//! PostgreSQL + Redis when `DATABASE_URL` / `REDIS_URL` are set (CI runs both).

mod auth;
mod backup;
mod basics;
mod biometric;
mod clock;
mod console_browser;
mod edges;
mod error_reporting;
mod faults;
mod fixtures;
mod helpers;
mod history;
mod hostile;
mod instances;
mod jobs;
mod loans;
mod monitoring;
mod notifications;
mod openapi;
mod operators;
mod portfolio;
mod price_service;
mod prices;
mod protection;
mod rebalance;
mod replica;
mod sessions;
mod stream;
mod trade;
