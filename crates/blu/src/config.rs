//! Configuration from the environment (D34). The embedded default needs nothing: SQLite under
//! `DATA_DIR`, in-memory limits, generated secrets persisted in `DATA_DIR`. Production refuses
//! development conveniences unless each is explicitly allowed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use blu_app::Secret;

/// How the server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Where SMS codes go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmsProvider {
    /// Written to the log and the admin-only outbox (development).
    Log,
    Kavenegar {
        api_key: Secret,
        base_url: String,
    },
}

/// Where prices come from (`PRICE_SOURCE`): the simulated walk (development default), the live
/// providers (Bonbast + CoinGecko + Finnhub; production default), or a fixed JSON file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PriceSourceSetting {
    Simulated,
    Live,
    Fixed(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub port: u16,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub database_replica_url: Option<String>,
    /// PostgreSQL pool size and timeouts (`DATABASE_MAX_CONNECTIONS`,
    /// `DATABASE_ACQUIRE_TIMEOUT_MS`, `DATABASE_STATEMENT_TIMEOUT_MS`, `DATABASE_LOCK_TIMEOUT_MS`,
    /// `DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS`).
    pub database: blu_store::PgSettings,
    pub redis_url: Option<String>,
    /// Namespaces Redis keys so deployments (or tests) can share one Redis.
    pub redis_key_prefix: String,
    pub jwt_access_secret: Secret,
    pub jwt_refresh_secret: Secret,
    pub otp_key: Secret,
    /// True when any secret above was generated (development only).
    pub generated_secrets: bool,
    pub admin_token: Option<Secret>,
    pub metrics_token: Option<Secret>,
    pub sms: SmsProvider,
    pub price_source: PriceSourceSetting,
    pub coingecko_api_key: Option<Secret>,
    pub finnhub_api_key: Option<Secret>,
    pub fcm_server_key: Option<Secret>,
    /// Sentry (or compatible) project key: panics and 5xx responses are reported there.
    pub sentry_dsn: Option<crate::sentry::Dsn>,
    pub test_clock: bool,
    pub rate_limit_window: Duration,
    pub rate_limit_max_requests: u32,
    pub enable_price_websocket: bool,
    pub enable_push_notifications: bool,
    pub cors_origins: Vec<String>,
    pub trusted_proxy_header: Option<String>,
    pub docs_enabled: bool,
    pub log_format: LogFormat,
    /// Concurrent-refresh grace window (D32: 10 s); configurable so tests need not sleep.
    pub refresh_grace: Duration,
    /// Live sessions kept in memory and how long each is trusted (issue 12).
    pub session_cache: blu_app::auth::SessionCacheSettings,
    /// Prices or FX older than this block money movement (D17).
    pub price_max_age: Duration,
    /// LTV at which the loan-health job liquidates (D24, default 1.00).
    pub liquidation_ltv: rust_decimal::Decimal,
    /// Premium model of protection quotes (`PROTECTION_PRICING_MODEL`, D26).
    pub protection_pricing_model: blu_domain::protection::PricingModel,
    /// Provider endpoints and settings of the live price source.
    pub price_providers: PriceProviders,
    /// Cadence of the prices job (30 s).
    pub price_refresh_interval: Duration,
    /// `blu serve` also runs the job engine (exactly once per tick across processes either way).
    pub run_jobs: bool,
    /// HRAM preset of the rebalance intra-layer weights (business-rules §6.3.2).
    pub hram_preset: blu_domain::hram::HramPreset,
    /// Path of a Google service-account JSON for FCM (`FCM_SERVER_KEY` may hold the JSON inline).
    pub fcm_service_account_file: Option<PathBuf>,
    /// FCM endpoint (a local mock in tests).
    pub fcm_base_url: String,
    /// Job engine: a run's lease (a silent worker is presumed dead after it) and poll interval.
    pub job_lease: Duration,
    pub job_poll: Duration,
    /// The `probe` diagnostic job: (interval, how long each run works); off when unset.
    pub job_probe: Option<(Duration, Duration)>,
    /// `JOB_INTERVALS`: jobs run every N seconds instead of on their catalog schedule
    /// (operators and tests; e.g. `loan-health=2,reminders=3`).
    pub job_intervals: Vec<(String, Duration)>,
    /// `SHUTDOWN_GRACE_SECONDS`: after SIGTERM, how long in-flight requests and job runs may
    /// take to finish before the process exits anyway.
    pub shutdown_grace: Duration,
    /// `REQUEST_TIMEOUT_SECONDS`: a request still unanswered after this long gets 503; a money
    /// movement still running is rolled back (its idempotency key may be retried).
    pub request_timeout: Duration,
}

/// Jobs whose schedule `JOB_INTERVALS` may replace. `prices` and `probe` have their own
/// settings (`PRICE_REFRESH_SECONDS`, `JOB_PROBE_SECONDS`).
pub const INTERVAL_JOBS: [&str; 6] = [
    "cleanup",
    "loan-health",
    "notifications",
    "protection-expiry",
    "reminders",
    "status-refresh",
];

/// Parses `JOB_INTERVALS`: comma-separated `name=seconds`, each name once, seconds > 0.
fn job_intervals(env: &dyn Source) -> anyhow::Result<Vec<(String, Duration)>> {
    let Some(text) = env.get("JOB_INTERVALS") else {
        return Ok(Vec::new());
    };
    let mut intervals: Vec<(String, Duration)> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((name, seconds)) = item.split_once('=') else {
            bail!("JOB_INTERVALS entries are name=seconds, not {item:?}");
        };
        let name = name.trim();
        match name {
            "prices" => bail!("JOB_INTERVALS cannot set prices; use PRICE_REFRESH_SECONDS"),
            "probe" => bail!("JOB_INTERVALS cannot set probe; use JOB_PROBE_SECONDS"),
            _ if !INTERVAL_JOBS.contains(&name) => bail!(
                "JOB_INTERVALS names an unknown job {name:?} (known: {})",
                INTERVAL_JOBS.join(", ")
            ),
            _ => {}
        }
        let seconds: u64 = seconds.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "JOB_INTERVALS: {name} must be a whole number of seconds, not {seconds:?}"
            )
        })?;
        if seconds == 0 {
            bail!("JOB_INTERVALS: {name} must be at least 1 second");
        }
        if intervals.iter().any(|(n, _)| n == name) {
            bail!("JOB_INTERVALS names {name} twice");
        }
        intervals.push((name.to_owned(), Duration::from_secs(seconds)));
    }
    Ok(intervals)
}

/// Endpoints of the live price providers (overridable for tests and proxies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceProviders {
    pub coingecko_base_url: String,
    pub finnhub_base_url: String,
    pub bonbast_url: String,
    /// CoinGecko id of MATIC (Polygon migrated to POL).
    pub matic_coingecko_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogFormat {
    /// `LOG_FORMAT` when set; otherwise pretty text for a person at a terminal and JSON lines
    /// for everything else (containers, files, log shippers).
    pub fn resolve(setting: Option<&str>, stdout_is_terminal: bool) -> anyhow::Result<LogFormat> {
        match setting.map(str::trim) {
            Some("pretty") => Ok(LogFormat::Pretty),
            Some("json") => Ok(LogFormat::Json),
            None if stdout_is_terminal => Ok(LogFormat::Pretty),
            None => Ok(LogFormat::Json),
            Some(other) => bail!("LOG_FORMAT must be json or pretty, not {other:?}"),
        }
    }
}

/// Settings that may instead name a file holding the value (`NAME_FILE`, the Docker and
/// Kubernetes secrets convention). Setting both the variable and its file is refused.
pub const FILE_SETTINGS: [&str; 13] = [
    "JWT_ACCESS_SECRET",
    "JWT_REFRESH_SECRET",
    "OTP_SECRET",
    "ADMIN_TOKEN",
    "METRICS_TOKEN",
    "KAVENEGAR_API_KEY",
    "COINGECKO_API_KEY",
    "FINNHUB_API_KEY",
    "FCM_SERVER_KEY",
    "SENTRY_DSN",
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "REDIS_URL",
];

/// The environment with every `NAME_FILE` read into `NAME` (one trailing newline dropped).
struct WithSecretFiles<'a> {
    env: &'a dyn Source,
    from_files: std::collections::HashMap<&'static str, String>,
}

impl<'a> WithSecretFiles<'a> {
    fn read(env: &'a dyn Source) -> anyhow::Result<WithSecretFiles<'a>> {
        let mut from_files = std::collections::HashMap::new();
        for name in FILE_SETTINGS {
            let file_var = format!("{name}_FILE");
            let Some(path) = env.get(&file_var) else {
                continue;
            };
            if env.get(name).is_some() {
                bail!("both {name} and {file_var} are set; set only one");
            }
            // The error names the variable and the path, never the contents.
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{file_var}: cannot read {path}"))?;
            let value = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            if value.trim().is_empty() {
                bail!("{file_var}: {path} is empty");
            }
            from_files.insert(name, value.to_owned());
        }
        Ok(WithSecretFiles { env, from_files })
    }
}

impl Source for WithSecretFiles<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.from_files
            .get(name)
            .cloned()
            .or_else(|| self.env.get(name))
    }
}

/// Reads variables through a function so tests can pass a map instead of the process env.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }
}

impl<const N: usize> Source for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

fn flag(env: &dyn Source, name: &str, default: bool) -> anyhow::Result<bool> {
    match env
        .get(name)
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => bail!("{name} must be true or false, not {other:?}"),
    }
}

fn protection_pricing_model(
    env: &dyn Source,
) -> anyhow::Result<blu_domain::protection::PricingModel> {
    use blu_domain::protection::PricingModel;
    match env
        .get("PROTECTION_PRICING_MODEL")
        .as_deref()
        .map(str::trim)
    {
        None | Some("") | Some("LAYER_RATE") => Ok(PricingModel::LayerRate),
        Some("BLACK_SCHOLES") => Ok(PricingModel::BlackScholes),
        Some(other) => {
            bail!("PROTECTION_PRICING_MODEL must be LAYER_RATE or BLACK_SCHOLES, not {other:?}")
        }
    }
}

fn number<T: std::str::FromStr>(env: &dyn Source, name: &str, default: T) -> anyhow::Result<T> {
    match env.get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name} must be a number, not {v:?}")),
    }
}

/// The PostgreSQL pool size and its bounds (issue 10); every timeout must be positive.
fn database_settings(env: &dyn Source) -> anyhow::Result<blu_store::PgSettings> {
    use blu_store::PgSettings;
    let millis = |name: &str, default: Duration| -> anyhow::Result<Duration> {
        // PostgreSQL takes these settings as a 32-bit count of milliseconds.
        match number(env, name, default.as_millis() as u64)? {
            0 => bail!("{name} must be positive"),
            ms if ms > i32::MAX as u64 => bail!("{name} must be at most {}", i32::MAX),
            ms => Ok(Duration::from_millis(ms)),
        }
    };
    Ok(PgSettings {
        max_connections: number(env, "DATABASE_MAX_CONNECTIONS", 20)?,
        acquire_timeout: millis(
            "DATABASE_ACQUIRE_TIMEOUT_MS",
            PgSettings::DEFAULT_ACQUIRE_TIMEOUT,
        )?,
        statement_timeout: millis(
            "DATABASE_STATEMENT_TIMEOUT_MS",
            PgSettings::DEFAULT_STATEMENT_TIMEOUT,
        )?,
        lock_timeout: millis("DATABASE_LOCK_TIMEOUT_MS", PgSettings::DEFAULT_LOCK_TIMEOUT)?,
        idle_in_transaction_timeout: millis(
            "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS",
            PgSettings::DEFAULT_IDLE_IN_TRANSACTION_TIMEOUT,
        )?,
    })
}

/// `LIQUIDATION_LTV`: a fraction in (0, 2]; default 1.00 (D24).
fn liquidation_ltv(env: &dyn Source) -> anyhow::Result<rust_decimal::Decimal> {
    let ltv = number(
        env,
        "LIQUIDATION_LTV",
        blu_domain::loan::DEFAULT_LIQUIDATION_LTV,
    )?;
    if ltv <= rust_decimal::Decimal::ZERO || ltv > rust_decimal::Decimal::TWO {
        anyhow::bail!("LIQUIDATION_LTV must be a fraction above 0 and at most 2, not {ltv}");
    }
    Ok(ltv)
}

/// Secrets generated for the embedded default, persisted so restarts keep sessions valid.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GeneratedSecrets {
    jwt_access_secret: String,
    jwt_refresh_secret: String,
    otp_key: String,
    admin_token: String,
}

fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn load_or_create_secrets(data_dir: &Path) -> anyhow::Result<GeneratedSecrets> {
    let path = data_dir.join("secrets.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()));
    }
    let secrets = GeneratedSecrets {
        jwt_access_secret: random_secret(),
        jwt_refresh_secret: random_secret(),
        otp_key: random_secret(),
        admin_token: random_secret(),
    };
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    write_private(&path, &serde_json::to_string_pretty(&secrets)?)?;
    write_private(&data_dir.join("admin-token"), &secrets.admin_token)?;
    Ok(secrets)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

impl Config {
    pub fn from_env() -> anyhow::Result<Config> {
        Config::from_source(&ProcessEnv)
    }

    pub fn from_source(env: &dyn Source) -> anyhow::Result<Config> {
        let with_files = WithSecretFiles::read(env)?;
        let env: &dyn Source = &with_files;
        let environment = match env
            .get("APP_ENV")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("development" | "dev" | "test") => Environment::Development,
            Some("production" | "prod") => Environment::Production,
            Some(other) => bail!("APP_ENV must be development or production, not {other:?}"),
        };
        let production = environment == Environment::Production;
        let data_dir = PathBuf::from(env.get("DATA_DIR").unwrap_or_else(|| "./data".to_owned()));

        let explicit = |name: &str| env.get(name).map(Secret::new);
        let (access, refresh, otp) = (
            explicit("JWT_ACCESS_SECRET"),
            explicit("JWT_REFRESH_SECRET"),
            explicit("OTP_SECRET"),
        );
        let needs_generated = access.is_none() || refresh.is_none() || otp.is_none();
        let generated = if needs_generated {
            Some(load_or_create_secrets(&data_dir)?)
        } else {
            None
        };
        let pick = |given: Option<Secret>, fallback: fn(&GeneratedSecrets) -> &String| {
            given.unwrap_or_else(|| {
                Secret::new(fallback(generated.as_ref().expect("generated when missing")).clone())
            })
        };
        let jwt_access_secret = pick(access, |g| &g.jwt_access_secret);
        let jwt_refresh_secret = pick(refresh, |g| &g.jwt_refresh_secret);
        let otp_key = pick(otp, |g| &g.otp_key);
        for (name, secret) in [
            ("JWT_ACCESS_SECRET", &jwt_access_secret),
            ("JWT_REFRESH_SECRET", &jwt_refresh_secret),
        ] {
            if secret.expose().len() < 32 {
                bail!("{name} must be at least 32 bytes");
            }
        }
        if jwt_access_secret == jwt_refresh_secret {
            bail!("JWT_ACCESS_SECRET and JWT_REFRESH_SECRET must differ");
        }
        let admin_token = match env.get("ADMIN_TOKEN") {
            Some(token) => Some(Secret::new(token)),
            // The embedded default enables the operator API with a generated token (the
            // development SMS outbox is read there); production needs an explicit one.
            None if !production => {
                Some(Secret::new(load_or_create_secrets(&data_dir)?.admin_token))
            }
            None => None,
        };

        let sms = match env
            .get("SMS_PROVIDER")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None if production => SmsProvider::Kavenegar {
                api_key: explicit("KAVENEGAR_API_KEY")
                    .context("KAVENEGAR_API_KEY is required in production")?,
                base_url: env
                    .get("KAVENEGAR_BASE_URL")
                    .unwrap_or_else(|| "https://api.kavenegar.com".to_owned()),
            },
            None | Some("log") => SmsProvider::Log,
            Some("kavenegar") => SmsProvider::Kavenegar {
                api_key: explicit("KAVENEGAR_API_KEY")
                    .context("SMS_PROVIDER=kavenegar needs KAVENEGAR_API_KEY")?,
                base_url: env
                    .get("KAVENEGAR_BASE_URL")
                    .unwrap_or_else(|| "https://api.kavenegar.com".to_owned()),
            },
            Some(other) => bail!("SMS_PROVIDER must be log or kavenegar, not {other:?}"),
        };
        let price_source = match env.get("PRICE_SOURCE") {
            None if production => PriceSourceSetting::Live,
            None => PriceSourceSetting::Simulated,
            Some(v) if v.eq_ignore_ascii_case("simulated") => PriceSourceSetting::Simulated,
            Some(v) if v.eq_ignore_ascii_case("live") => PriceSourceSetting::Live,
            Some(v) => match v.strip_prefix("fixed:") {
                Some(path) if !path.is_empty() => PriceSourceSetting::Fixed(PathBuf::from(path)),
                _ => bail!("PRICE_SOURCE must be simulated, live or fixed:<path>, not {v:?}"),
            },
        };
        let test_clock = flag(env, "TEST_CLOCK", false)?;

        if production {
            if generated.is_some() && !flag(env, "ALLOW_GENERATED_SECRETS_IN_PRODUCTION", false)? {
                bail!(
                    "production needs JWT_ACCESS_SECRET, JWT_REFRESH_SECRET and OTP_SECRET (or ALLOW_GENERATED_SECRETS_IN_PRODUCTION=true)"
                );
            }
            if sms == SmsProvider::Log && !flag(env, "ALLOW_LOG_SMS_IN_PRODUCTION", false)? {
                bail!(
                    "production refuses SMS_PROVIDER=log (set ALLOW_LOG_SMS_IN_PRODUCTION=true to override)"
                );
            }
            if price_source == PriceSourceSetting::Simulated
                && !flag(env, "ALLOW_SIMULATED_PRICES_IN_PRODUCTION", false)?
            {
                bail!(
                    "production refuses PRICE_SOURCE=simulated (set ALLOW_SIMULATED_PRICES_IN_PRODUCTION=true to override)"
                );
            }
            if test_clock {
                bail!("TEST_CLOCK cannot be enabled in production");
            }
        }

        let window_ms: u64 = number(env, "RATE_LIMIT_WINDOW_MS", 60_000)?;
        let max_requests: u32 = number(env, "RATE_LIMIT_MAX_REQUESTS", 100)?;
        if window_ms == 0 || max_requests == 0 {
            bail!("RATE_LIMIT_WINDOW_MS and RATE_LIMIT_MAX_REQUESTS must be positive");
        }
        let log_format = LogFormat::resolve(
            env.get("LOG_FORMAT").as_deref(),
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
        )?;
        Ok(Config {
            environment,
            port: number(env, "PORT", 3000)?,
            data_dir,
            database_url: env.get("DATABASE_URL"),
            database_replica_url: env.get("DATABASE_REPLICA_URL"),
            database: database_settings(env)?,
            redis_url: env.get("REDIS_URL"),
            redis_key_prefix: env
                .get("REDIS_KEY_PREFIX")
                .unwrap_or_else(|| "blu:".to_owned()),
            generated_secrets: generated.is_some(),
            jwt_access_secret,
            jwt_refresh_secret,
            otp_key,
            admin_token,
            metrics_token: explicit("METRICS_TOKEN"),
            sms,
            price_source,
            coingecko_api_key: explicit("COINGECKO_API_KEY"),
            finnhub_api_key: explicit("FINNHUB_API_KEY"),
            fcm_server_key: explicit("FCM_SERVER_KEY"),
            sentry_dsn: match explicit("SENTRY_DSN") {
                Some(dsn) => Some(
                    crate::sentry::Dsn::parse(dsn.expose())
                        .context("SENTRY_DSN must look like https://<key>@<host>/<project>")?,
                ),
                None => None,
            },
            test_clock,
            rate_limit_window: Duration::from_millis(window_ms),
            rate_limit_max_requests: max_requests,
            enable_price_websocket: flag(env, "ENABLE_PRICE_WEBSOCKET", true)?,
            enable_push_notifications: flag(env, "ENABLE_PUSH_NOTIFICATIONS", production)?,
            cors_origins: env
                .get("CORS_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            trusted_proxy_header: env
                .get("TRUSTED_PROXY_HEADER")
                .map(|h| h.to_ascii_lowercase()),
            docs_enabled: flag(env, "ENABLE_DOCS", true)?,
            log_format,
            refresh_grace: Duration::from_millis(number(env, "REFRESH_GRACE_MS", 10_000)?),
            session_cache: blu_app::auth::SessionCacheSettings {
                capacity: number(env, "SESSION_CACHE_CAPACITY", 100_000)?,
                max_age: Duration::from_millis(number(env, "SESSION_CACHE_MAX_AGE_MS", 5_000)?),
            },
            price_max_age: Duration::from_secs(number(env, "PRICE_MAX_AGE_SECONDS", 120)?),
            liquidation_ltv: liquidation_ltv(env)?,
            protection_pricing_model: protection_pricing_model(env)?,
            run_jobs: flag(env, "RUN_JOBS", true)?,
            hram_preset: match env.get("HRAM_PRESET") {
                None => blu_domain::hram::HramPreset::default(),
                Some(p) => p.parse().map_err(|_| {
                    anyhow::anyhow!("HRAM_PRESET must be one of EQUAL_WEIGHT, RISK_PARITY, MOMENTUM_TILT, MAX_DIVERSIFICATION, BALANCED, CONSERVATIVE, AGGRESSIVE, not {p:?}")
                })?,
            },
            price_providers: PriceProviders {
                coingecko_base_url: env
                    .get("COINGECKO_BASE_URL")
                    .unwrap_or_else(|| "https://api.coingecko.com".to_owned()),
                finnhub_base_url: env
                    .get("FINNHUB_BASE_URL")
                    .unwrap_or_else(|| "https://finnhub.io".to_owned()),
                bonbast_url: env
                    .get("BONBAST_URL")
                    .unwrap_or_else(|| "https://bonbast.amirhn.com/latest".to_owned()),
                matic_coingecko_id: env
                    .get("MATIC_COINGECKO_ID")
                    .unwrap_or_else(|| "matic-network".to_owned()),
            },
            price_refresh_interval: match number(env, "PRICE_REFRESH_SECONDS", 30_u64)? {
                0 => bail!("PRICE_REFRESH_SECONDS must be positive"),
                seconds => Duration::from_secs(seconds),
            },
            fcm_service_account_file: env.get("FCM_SERVICE_ACCOUNT_FILE").map(PathBuf::from),
            fcm_base_url: env
                .get("FCM_BASE_URL")
                .unwrap_or_else(|| "https://fcm.googleapis.com".to_owned()),
            job_lease: match number(env, "JOB_LEASE_SECONDS", 60_u64)? {
                0 => bail!("JOB_LEASE_SECONDS must be positive"),
                seconds => Duration::from_secs(seconds),
            },
            job_poll: Duration::from_millis(number(env, "JOB_POLL_MS", 1000_u64)?.max(10)),
            job_probe: match number(env, "JOB_PROBE_SECONDS", 0_u64)? {
                0 => None,
                seconds => Some((
                    Duration::from_secs(seconds),
                    Duration::from_millis(number(env, "JOB_PROBE_WORK_MS", 0_u64)?),
                )),
            },
            job_intervals: job_intervals(env)?,
            shutdown_grace: Duration::from_secs(number(env, "SHUTDOWN_GRACE_SECONDS", 30)?),
            request_timeout: match number(env, "REQUEST_TIMEOUT_SECONDS", 30_u64)? {
                0 => bail!("REQUEST_TIMEOUT_SECONDS must be positive"),
                seconds => Duration::from_secs(seconds),
            },
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> String {
        let dir = std::env::temp_dir().join(format!("blu-config-{}", rand::random::<u64>()));
        dir.to_string_lossy().into_owned()
    }

    #[test]
    fn the_embedded_default_needs_nothing_and_persists_its_secrets() {
        let dir = temp_dir();
        let first = Config::from_source(&[("DATA_DIR", dir.as_str())]).unwrap();
        let second = Config::from_source(&[("DATA_DIR", dir.as_str())]).unwrap();
        assert!(first.generated_secrets);
        assert_eq!(first.jwt_access_secret, second.jwt_access_secret);
        assert_ne!(first.jwt_access_secret, first.jwt_refresh_secret);
        assert_eq!(first.sms, SmsProvider::Log);
        assert_eq!(first.price_source, PriceSourceSetting::Simulated);
        assert!(first.admin_token.is_some());
        assert_eq!(first.port, 3000);
    }

    #[test]
    fn database_timeouts_default_and_must_fit_postgresql() {
        let dir = temp_dir();
        let defaults = Config::from_source(&[("DATA_DIR", dir.as_str())]).unwrap();
        assert_eq!(defaults.database, blu_store::PgSettings::from(20));
        assert_eq!(defaults.request_timeout, Duration::from_secs(30));
        assert_eq!(defaults.shutdown_grace, Duration::from_secs(30));
        for (name, value, expected) in [
            ("DATABASE_STATEMENT_TIMEOUT_MS", "0", "must be positive"),
            (
                "DATABASE_LOCK_TIMEOUT_MS",
                "2147483648",
                "at most 2147483647",
            ),
            ("DATABASE_ACQUIRE_TIMEOUT_MS", "soon", "must be a number"),
            ("REQUEST_TIMEOUT_SECONDS", "0", "must be positive"),
        ] {
            let err = Config::from_source(&[("DATA_DIR", dir.as_str()), (name, value)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{name}={value}: {err}");
        }
    }

    #[test]
    fn production_refuses_development_conveniences() {
        let dir = temp_dir();
        let err = Config::from_source(&[("DATA_DIR", dir.as_str()), ("APP_ENV", "production")])
            .unwrap_err();
        assert!(err.to_string().contains("KAVENEGAR_API_KEY"), "{err}");
        let base = [
            ("DATA_DIR", dir.as_str()),
            ("APP_ENV", "production"),
            ("SMS_PROVIDER", "log"),
            ("PRICE_SOURCE", "live"),
            (
                "JWT_ACCESS_SECRET",
                "a-very-long-access-secret-of-32-bytes!",
            ),
            (
                "JWT_REFRESH_SECRET",
                "a-very-long-refresh-secret-of-32-bytes",
            ),
            ("OTP_SECRET", "otp-secret"),
        ];
        let err = Config::from_source(&base).unwrap_err();
        assert!(err.to_string().contains("SMS_PROVIDER=log"), "{err}");
        let without_secrets = [
            ("DATA_DIR", dir.as_str()),
            ("APP_ENV", "production"),
            ("SMS_PROVIDER", "kavenegar"),
            ("KAVENEGAR_API_KEY", "k"),
            ("PRICE_SOURCE", "live"),
        ];
        let err = Config::from_source(&without_secrets).unwrap_err();
        assert!(err.to_string().contains("JWT_ACCESS_SECRET"), "{err}");
        let simulated = [
            ("DATA_DIR", dir.as_str()),
            ("APP_ENV", "production"),
            ("SMS_PROVIDER", "kavenegar"),
            ("KAVENEGAR_API_KEY", "k"),
            ("PRICE_SOURCE", "simulated"),
            (
                "JWT_ACCESS_SECRET",
                "a-very-long-access-secret-of-32-bytes!",
            ),
            (
                "JWT_REFRESH_SECRET",
                "a-very-long-refresh-secret-of-32-bytes",
            ),
            ("OTP_SECRET", "otp-secret"),
        ];
        let err = Config::from_source(&simulated).unwrap_err();
        assert!(err.to_string().contains("PRICE_SOURCE=simulated"), "{err}");
    }

    #[test]
    fn short_or_identical_jwt_secrets_are_refused() {
        let dir = temp_dir();
        let short = [
            ("DATA_DIR", dir.as_str()),
            ("JWT_ACCESS_SECRET", "short"),
            ("JWT_REFRESH_SECRET", "x".repeat(40).leak() as &str),
            ("OTP_SECRET", "o"),
        ];
        assert!(Config::from_source(&short).is_err());
        let same = [
            ("DATA_DIR", dir.as_str()),
            ("JWT_ACCESS_SECRET", "y".repeat(40).leak() as &str),
            ("JWT_REFRESH_SECRET", "y".repeat(40).leak() as &str),
            ("OTP_SECRET", "o"),
        ];
        assert!(Config::from_source(&same).is_err());
    }

    #[test]
    fn job_intervals_replace_named_schedules_and_refuse_unknown_jobs_and_zero() {
        let dir = temp_dir();
        let parse = |value: &str| {
            Config::from_source(&[("DATA_DIR", dir.as_str()), ("JOB_INTERVALS", value)])
        };
        let config =
            parse("loan-health=2, protection-expiry=2,notifications=2,reminders=3").unwrap();
        assert_eq!(
            config.job_intervals,
            vec![
                ("loan-health".to_owned(), Duration::from_secs(2)),
                ("protection-expiry".to_owned(), Duration::from_secs(2)),
                ("notifications".to_owned(), Duration::from_secs(2)),
                ("reminders".to_owned(), Duration::from_secs(3)),
            ]
        );
        assert!(
            Config::from_source(&[("DATA_DIR", dir.as_str())])
                .unwrap()
                .job_intervals
                .is_empty()
        );
        for (value, expected) in [
            ("loan-helth=2", "unknown job \"loan-helth\""),
            ("reminders=0", "reminders must be at least 1 second"),
            ("reminders=-1", "whole number of seconds"),
            ("reminders=1.5", "whole number of seconds"),
            ("reminders", "name=seconds"),
            ("reminders=2,reminders=3", "names reminders twice"),
            ("prices=2", "PRICE_REFRESH_SECONDS"),
            ("probe=2", "JOB_PROBE_SECONDS"),
        ] {
            let err = parse(value).unwrap_err().to_string();
            assert!(err.contains("JOB_INTERVALS"), "{value}: {err}");
            assert!(err.contains(expected), "{value}: {err}");
        }
    }

    #[test]
    fn malformed_values_are_reported_by_name() {
        let dir = temp_dir();
        let err =
            Config::from_source(&[("DATA_DIR", dir.as_str()), ("PORT", "eighty")]).unwrap_err();
        assert!(err.to_string().contains("PORT"));
        let err = Config::from_source(&[("DATA_DIR", dir.as_str()), ("PRICE_SOURCE", "fixed:")])
            .unwrap_err();
        assert!(err.to_string().contains("PRICE_SOURCE"));
    }

    #[test]
    fn secrets_can_come_from_files_with_the_trailing_newline_dropped() {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, value: &str| {
            let path = Path::new(&dir).join(name);
            std::fs::write(&path, value).unwrap();
            path.to_string_lossy().into_owned()
        };
        let access = write("access", &format!("{}\n", "a".repeat(40)));
        let refresh = write("refresh", &format!("{}\r\n", "r".repeat(40)));
        let otp = write("otp", "otp-from-file");
        let admin = write("admin", "admin-from-file\n");
        let metrics = write("metrics", "metrics-from-file");
        let dsn = write("dsn", "http://public@127.0.0.1:9/42\n");
        let config = Config::from_source(&[
            ("DATA_DIR", dir.as_str()),
            ("JWT_ACCESS_SECRET_FILE", access.as_str()),
            ("JWT_REFRESH_SECRET_FILE", refresh.as_str()),
            ("OTP_SECRET_FILE", otp.as_str()),
            ("ADMIN_TOKEN_FILE", admin.as_str()),
            ("METRICS_TOKEN_FILE", metrics.as_str()),
            ("SENTRY_DSN_FILE", dsn.as_str()),
        ])
        .unwrap();
        assert!(!config.generated_secrets);
        assert_eq!(config.jwt_access_secret.expose(), "a".repeat(40));
        assert_eq!(config.jwt_refresh_secret.expose(), "r".repeat(40));
        assert_eq!(config.otp_key.expose(), "otp-from-file");
        assert_eq!(
            config.admin_token.as_ref().map(Secret::expose),
            Some("admin-from-file")
        );
        assert_eq!(
            config.metrics_token.as_ref().map(Secret::expose),
            Some("metrics-from-file")
        );
        assert!(config.sentry_dsn.is_some());
    }

    #[test]
    fn a_setting_given_both_as_a_variable_and_as_a_file_is_refused() {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = Path::new(&dir).join("key");
        std::fs::write(&path, "file-value-that-must-not-leak").unwrap();
        let path = path.to_string_lossy().into_owned();
        for name in FILE_SETTINGS {
            let file_var = format!("{name}_FILE");
            let err = Config::from_source(&[
                ("DATA_DIR", dir.as_str()),
                (name, "variable-value-that-must-not-leak"),
                (file_var.as_str(), path.as_str()),
            ])
            .unwrap_err()
            .to_string();
            assert!(err.contains(name) && err.contains(&file_var), "{err}");
            assert!(!err.contains("must-not-leak"), "{err}");
        }
    }

    #[test]
    fn a_missing_or_empty_secret_file_is_reported_without_its_contents() {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let err = Config::from_source(&[
            ("DATA_DIR", dir.as_str()),
            ("KAVENEGAR_API_KEY_FILE", "/nonexistent/kavenegar"),
        ])
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("KAVENEGAR_API_KEY_FILE"),
            "{err:#}"
        );
        let empty = Path::new(&dir).join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = Config::from_source(&[
            ("DATA_DIR", dir.as_str()),
            ("ADMIN_TOKEN_FILE", empty.to_str().unwrap()),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
    }

    #[test]
    fn logs_are_pretty_at_a_terminal_and_json_elsewhere_unless_log_format_says() {
        assert_eq!(LogFormat::resolve(None, true).unwrap(), LogFormat::Pretty);
        assert_eq!(LogFormat::resolve(None, false).unwrap(), LogFormat::Json);
        assert_eq!(
            LogFormat::resolve(Some("json"), true).unwrap(),
            LogFormat::Json
        );
        assert_eq!(
            LogFormat::resolve(Some("pretty"), false).unwrap(),
            LogFormat::Pretty
        );
        assert!(LogFormat::resolve(Some("xml"), false).is_err());
    }

    #[test]
    fn a_malformed_sentry_dsn_is_refused() {
        let dir = temp_dir();
        let err = Config::from_source(&[("DATA_DIR", dir.as_str()), ("SENTRY_DSN", "nonsense")])
            .unwrap_err();
        assert!(err.to_string().contains("SENTRY_DSN"), "{err}");
    }
}
