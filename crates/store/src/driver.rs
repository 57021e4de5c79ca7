//! The one file that knows the two drivers (issue 13): every port in this crate is written once,
//! over the types here, and runs on PostgreSQL and on SQLite.
//!
//! - [`Arg`]: a bound value, typed the way the domain thinks of it (uuid, decimal, instant,
//!   JSON document…). PostgreSQL receives the native type (`UUID`, `NUMERIC`, `TIMESTAMPTZ`,
//!   `JSONB`); SQLite receives the canonical text forms of [`crate::codec`].
//! - [`Row`]: a result row with typed getters doing the reverse mapping.
//! - [`Pool`] / [`Tx`]: where a statement runs; [`On`] is either.
//! - [`query`]: a statement written once with `$1…$n` placeholders (both SQLite and PostgreSQL
//!   accept them), and [`Sql`] for the few statements whose text truly differs.
//!
//! Not sqlx's `Any` driver: it has no decimal, uuid or timestamp types.

use anyhow::{Context, anyhow};
use blu_app::ports::{StoreError, StoreResult};
use blu_domain::Timestamp;
use rust_decimal::Decimal;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::types::Json;
use sqlx::{Column, Postgres, Sqlite, Transaction, TypeInfo};
use uuid::Uuid;

use crate::codec::{
    dec_text, from_datetime, parse_dec_text, parse_ts_text, parse_uuid_text, to_datetime, ts_text,
    uuid_text,
};
use crate::error::map_sqlx;

/// Which database a statement goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    Sqlite,
}

impl Dialect {
    /// The text of `sql` for this database.
    pub fn pick(self, sql: &Sql) -> &'static str {
        match self {
            Dialect::Postgres => sql.postgres,
            Dialect::Sqlite => sql.sqlite,
        }
    }
}

/// A statement whose text differs between the databases (row locks, `LATERAL`, arithmetic on
/// decimals, `pg_locks`). Everything else is one literal.
#[derive(Clone, Copy, Debug)]
pub struct Sql {
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

/// `SELECT … FOR UPDATE` on PostgreSQL; the same select on SQLite, where the write transaction
/// (`BEGIN IMMEDIATE`) already holds the database's one write lock.
macro_rules! for_update {
    ($select:expr) => {
        $crate::driver::Sql {
            postgres: concat!($select, " FOR UPDATE"),
            sqlite: $select,
        }
    };
}
pub(crate) use for_update;

/// A bound value. Every variant carries an `Option` so a NULL keeps its type (PostgreSQL infers
/// parameter types from what is bound).
#[derive(Clone, Debug)]
pub enum Arg {
    Text(Option<String>),
    I16(Option<i16>),
    I32(Option<i32>),
    I64(Option<i64>),
    Bool(Option<bool>),
    Uuid(Option<Uuid>),
    Dec(Option<Decimal>),
    Ts(Option<Timestamp>),
    Json(Option<serde_json::Value>),
    Bytes(Option<Vec<u8>>),
}

macro_rules! arg_from {
    ($variant:ident, $ty:ty) => {
        impl From<$ty> for Arg {
            fn from(v: $ty) -> Arg {
                Arg::$variant(Some(v.into()))
            }
        }
        impl From<Option<$ty>> for Arg {
            fn from(v: Option<$ty>) -> Arg {
                Arg::$variant(v.map(Into::into))
            }
        }
    };
}

arg_from!(Text, String);
arg_from!(Text, &str);
arg_from!(Text, &String);
arg_from!(I16, i16);
arg_from!(I32, i32);
arg_from!(I64, i64);
arg_from!(Bool, bool);
arg_from!(Uuid, Uuid);
arg_from!(Dec, Decimal);
arg_from!(Ts, Timestamp);
arg_from!(Json, serde_json::Value);
arg_from!(Bytes, Vec<u8>);

impl From<&serde_json::Value> for Arg {
    fn from(v: &serde_json::Value) -> Arg {
        Arg::Json(Some(v.clone()))
    }
}

/// A pool of either database.
#[derive(Clone, Copy, Debug)]
pub enum Pool<'a> {
    Postgres(&'a PgPool),
    Sqlite(&'a SqlitePool),
}

impl Pool<'_> {
    pub fn dialect(self) -> Dialect {
        match self {
            Pool::Postgres(_) => Dialect::Postgres,
            Pool::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// A connection for a few statements in a row (no transaction).
    pub async fn acquire(self) -> StoreResult<Conn> {
        Ok(match self {
            Pool::Postgres(pool) => Conn::Postgres(pool.acquire().await.map_err(map_sqlx)?),
            Pool::Sqlite(pool) => Conn::Sqlite(pool.acquire().await.map_err(map_sqlx)?),
        })
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later could
    /// fail to upgrade instead of waiting its turn.
    pub async fn begin_write(self) -> StoreResult<Tx> {
        Ok(match self {
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await.map_err(map_sqlx)?),
            Pool::Sqlite(pool) => {
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_sqlx)?)
            }
        })
    }

    /// A read-only transaction over one consistent snapshot (PostgreSQL: REPEATABLE READ;
    /// SQLite: a WAL read transaction is a snapshot from its first read).
    pub async fn begin_snapshot(self) -> StoreResult<Tx> {
        match self {
            Pool::Postgres(pool) => {
                let mut tx = Tx::Postgres(pool.begin().await.map_err(map_sqlx)?);
                query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut tx)
                    .await?;
                Ok(tx)
            }
            Pool::Sqlite(pool) => Ok(Tx::Sqlite(pool.begin().await.map_err(map_sqlx)?)),
        }
    }
}

/// A transaction on either database. Dropped without `commit`, it rolls back.
#[derive(Debug)]
pub enum Tx {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(Transaction<'static, Sqlite>),
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Postgres(_) => Dialect::Postgres,
            Tx::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Ends the tenant role of a `Database::begin_as_user` transaction for the statements that
    /// follow (tables outside row-level security, e.g. `sessions`). Nothing to do on SQLite.
    pub async fn leave_tenant_role(&mut self) -> StoreResult<()> {
        match self {
            Tx::Postgres(_) => query("RESET ROLE").execute(self).await.map(drop),
            Tx::Sqlite(_) => Ok(()),
        }
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Postgres(tx) => tx.commit().await,
            Tx::Sqlite(tx) => tx.commit().await,
        }
        .map_err(map_sqlx)
    }
}

/// Where a statement runs: a pool (one statement, its own implicit transaction), or a
/// connection (pooled or inside a transaction) of either database.
pub enum On<'a> {
    Pool(Pool<'a>),
    Postgres(&'a mut PgConnection),
    Sqlite(&'a mut SqliteConnection),
}

impl<'a> From<Pool<'a>> for On<'a> {
    fn from(pool: Pool<'a>) -> On<'a> {
        On::Pool(pool)
    }
}

impl<'a, E: Exec> From<&'a mut E> for On<'a> {
    fn from(exec: &'a mut E) -> On<'a> {
        exec.on()
    }
}

/// Something several statements can run on in turn: a transaction or a pooled connection.
pub trait Exec: Send {
    fn on(&mut self) -> On<'_>;
    fn dialect(&self) -> Dialect;
}

impl Exec for Tx {
    fn on(&mut self) -> On<'_> {
        match self {
            Tx::Postgres(tx) => On::Postgres(tx),
            Tx::Sqlite(tx) => On::Sqlite(tx),
        }
    }

    fn dialect(&self) -> Dialect {
        Tx::dialect(self)
    }
}

/// A connection borrowed from a pool, for a few reads that need no transaction.
pub enum Conn {
    Postgres(PoolConnection<Postgres>),
    Sqlite(PoolConnection<Sqlite>),
}

impl Exec for Conn {
    fn on(&mut self) -> On<'_> {
        match self {
            Conn::Postgres(c) => On::Postgres(c),
            Conn::Sqlite(c) => On::Sqlite(c),
        }
    }

    fn dialect(&self) -> Dialect {
        match self {
            Conn::Postgres(_) => Dialect::Postgres,
            Conn::Sqlite(_) => Dialect::Sqlite,
        }
    }
}

/// A statement and its arguments.
#[must_use = "a query does nothing until it is executed or fetched"]
pub struct Query {
    sql: &'static str,
    args: Vec<Arg>,
}

/// A statement written once for both databases.
pub fn query(sql: &'static str) -> Query {
    Query {
        sql,
        args: Vec::new(),
    }
}

impl Query {
    pub fn bind(mut self, value: impl Into<Arg>) -> Query {
        self.args.push(value.into());
        self
    }

    /// Runs the statement; the number of rows it changed.
    pub async fn execute<'a>(self, on: impl Into<On<'a>>) -> StoreResult<u64> {
        let done = match on.into() {
            On::Pool(Pool::Postgres(pool)) => self
                .postgres()?
                .execute(pool)
                .await
                .map(|d| d.rows_affected()),
            On::Postgres(conn) => self
                .postgres()?
                .execute(conn)
                .await
                .map(|d| d.rows_affected()),
            On::Pool(Pool::Sqlite(pool)) => {
                self.sqlite().execute(pool).await.map(|d| d.rows_affected())
            }
            On::Sqlite(conn) => self.sqlite().execute(conn).await.map(|d| d.rows_affected()),
        };
        done.map_err(map_sqlx)
    }

    /// Every row the statement returns, mapped.
    pub async fn fetch_all<'a, T: FromRow>(self, on: impl Into<On<'a>>) -> StoreResult<Vec<T>> {
        let rows: Vec<Row> = match on.into() {
            On::Pool(Pool::Postgres(pool)) => rows(self.postgres()?.fetch_all(pool).await)?,
            On::Postgres(conn) => rows(self.postgres()?.fetch_all(conn).await)?,
            On::Pool(Pool::Sqlite(pool)) => rows(self.sqlite().fetch_all(pool).await)?,
            On::Sqlite(conn) => rows(self.sqlite().fetch_all(conn).await)?,
        };
        rows.into_iter()
            .map(|r| T::from_row(r).map_err(StoreError::Other))
            .collect()
    }

    /// The first row, if any, mapped. Meant for statements that return at most one row.
    pub async fn fetch_optional<'a, T: FromRow>(
        self,
        on: impl Into<On<'a>>,
    ) -> StoreResult<Option<T>> {
        let row: Option<Row> = match on.into() {
            On::Pool(Pool::Postgres(pool)) => self
                .postgres()?
                .fetch_optional(pool)
                .await
                .map(|r| r.map(Row::Postgres)),
            On::Postgres(conn) => self
                .postgres()?
                .fetch_optional(conn)
                .await
                .map(|r| r.map(Row::Postgres)),
            On::Pool(Pool::Sqlite(pool)) => self
                .sqlite()
                .fetch_optional(pool)
                .await
                .map(|r| r.map(Row::Sqlite)),
            On::Sqlite(conn) => self
                .sqlite()
                .fetch_optional(conn)
                .await
                .map(|r| r.map(Row::Sqlite)),
        }
        .map_err(map_sqlx)?;
        row.map(|r| T::from_row(r).map_err(StoreError::Other))
            .transpose()
    }

    /// Exactly one row, mapped; none is an error (a bug, not a business outcome).
    pub async fn fetch_one<'a, T: FromRow>(self, on: impl Into<On<'a>>) -> StoreResult<T> {
        let sql = self.sql;
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| StoreError::Other(anyhow!("no row returned by {sql:?}")))
    }

    fn postgres(
        self,
    ) -> StoreResult<sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments>> {
        let mut q = sqlx::query(self.sql);
        for arg in self.args {
            q = match arg {
                Arg::Text(v) => q.bind(v),
                Arg::I16(v) => q.bind(v),
                Arg::I32(v) => q.bind(v),
                Arg::I64(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Uuid(v) => q.bind(v),
                Arg::Dec(v) => q.bind(v),
                Arg::Ts(v) => q.bind(v.map(to_datetime).transpose().map_err(StoreError::Other)?),
                Arg::Json(v) => q.bind(v.map(Json)),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        Ok(q)
    }

    fn sqlite(self) -> sqlx::query::Query<'static, Sqlite, sqlx::sqlite::SqliteArguments> {
        let mut q = sqlx::query(self.sql);
        for arg in self.args {
            q = match arg {
                Arg::Text(v) => q.bind(v),
                Arg::I16(v) => q.bind(v),
                Arg::I32(v) => q.bind(v),
                Arg::I64(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Uuid(v) => q.bind(v.map(uuid_text)),
                Arg::Dec(v) => q.bind(v.map(dec_text)),
                Arg::Ts(v) => q.bind(v.map(ts_text)),
                Arg::Json(v) => q.bind(v.map(|v| v.to_string())),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }
}

fn rows<R: Into<Row>>(fetched: Result<Vec<R>, sqlx::Error>) -> StoreResult<Vec<Row>> {
    Ok(fetched
        .map_err(map_sqlx)?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// A result row of either database.
pub enum Row {
    Postgres(PgRow),
    Sqlite(SqliteRow),
}

impl From<PgRow> for Row {
    fn from(row: PgRow) -> Row {
        Row::Postgres(row)
    }
}

impl From<SqliteRow> for Row {
    fn from(row: SqliteRow) -> Row {
        Row::Sqlite(row)
    }
}

/// A named conversion from a result row (the row mappers of each port).
pub trait FromRow: Sized {
    fn from_row(row: Row) -> anyhow::Result<Self>;
}

/// The raw row, for statements read column by column at the call site.
impl FromRow for Row {
    fn from_row(row: Row) -> anyhow::Result<Row> {
        Ok(row)
    }
}

fn pg<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
    r: &'r PgRow,
    c: &str,
) -> anyhow::Result<T> {
    sqlx::Row::try_get(r, c).with_context(|| c.to_owned())
}

fn lite<'r, T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>>(
    r: &'r SqliteRow,
    c: &str,
) -> anyhow::Result<T> {
    sqlx::Row::try_get(r, c).with_context(|| c.to_owned())
}

/// A SQLite TEXT column in one of the canonical forms of `codec`, parsed.
fn lite_parsed<T>(
    r: &SqliteRow,
    c: &str,
    parse: fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    lite::<Option<String>>(r, c)?
        .as_deref()
        .map(parse)
        .transpose()
}

/// Reads column `$c` as `$ty` from either row (a type both drivers decode).
macro_rules! get {
    ($row:expr, $c:expr, $ty:ty) => {
        match $row {
            Row::Postgres(r) => pg::<$ty>(r, $c),
            Row::Sqlite(r) => lite::<$ty>(r, $c),
        }
    };
}

impl Row {
    pub fn text(&self, c: &str) -> anyhow::Result<String> {
        get!(self, c, String)
    }

    pub fn opt_text(&self, c: &str) -> anyhow::Result<Option<String>> {
        get!(self, c, Option<String>)
    }

    pub fn bool(&self, c: &str) -> anyhow::Result<bool> {
        get!(self, c, bool)
    }

    /// Any integer column (PostgreSQL `SMALLINT`, `INTEGER`, `BIGINT`, `count(*)`; SQLite
    /// `INTEGER`).
    pub fn int(&self, c: &str) -> anyhow::Result<i64> {
        self.opt_int(c)?.with_context(|| format!("{c} is NULL"))
    }

    pub fn opt_int(&self, c: &str) -> anyhow::Result<Option<i64>> {
        match self {
            Row::Sqlite(r) => lite(r, c),
            Row::Postgres(r) => {
                let column = sqlx::Row::try_column(r, c).with_context(|| c.to_owned())?;
                match column.type_info().name() {
                    "INT2" => Ok(pg::<Option<i16>>(r, c)?.map(i64::from)),
                    "INT4" => Ok(pg::<Option<i32>>(r, c)?.map(i64::from)),
                    _ => pg(r, c),
                }
            }
        }
    }

    /// An integer column that must fit `T` (e.g. `i32` counters).
    pub fn int_as<T: TryFrom<i64>>(&self, c: &str) -> anyhow::Result<T>
    where
        T::Error: std::error::Error + Send + Sync + 'static,
    {
        T::try_from(self.int(c)?).with_context(|| c.to_owned())
    }

    pub fn opt_int_as<T: TryFrom<i64>>(&self, c: &str) -> anyhow::Result<Option<T>>
    where
        T::Error: std::error::Error + Send + Sync + 'static,
    {
        self.opt_int(c)?
            .map(|v| T::try_from(v).with_context(|| c.to_owned()))
            .transpose()
    }

    pub fn uuid(&self, c: &str) -> anyhow::Result<Uuid> {
        self.opt_uuid(c)?.with_context(|| format!("{c} is NULL"))
    }

    pub fn opt_uuid(&self, c: &str) -> anyhow::Result<Option<Uuid>> {
        match self {
            Row::Postgres(r) => pg(r, c),
            Row::Sqlite(r) => lite_parsed(r, c, parse_uuid_text),
        }
    }

    /// A decimal, normalized: `NUMERIC(p,s)` pads the scale and the ledger hashes decimal text.
    pub fn dec(&self, c: &str) -> anyhow::Result<Decimal> {
        self.opt_dec(c)?.with_context(|| format!("{c} is NULL"))
    }

    pub fn opt_dec(&self, c: &str) -> anyhow::Result<Option<Decimal>> {
        match self {
            Row::Postgres(r) => Ok(pg::<Option<Decimal>>(r, c)?.map(|d| d.normalize())),
            Row::Sqlite(r) => lite_parsed(r, c, parse_dec_text),
        }
    }

    pub fn ts(&self, c: &str) -> anyhow::Result<Timestamp> {
        self.opt_ts(c)?.with_context(|| format!("{c} is NULL"))
    }

    pub fn opt_ts(&self, c: &str) -> anyhow::Result<Option<Timestamp>> {
        match self {
            Row::Postgres(r) => {
                Ok(pg::<Option<chrono::DateTime<chrono::Utc>>>(r, c)?.map(from_datetime))
            }
            Row::Sqlite(r) => lite_parsed(r, c, parse_ts_text),
        }
    }

    pub fn json(&self, c: &str) -> anyhow::Result<serde_json::Value> {
        self.opt_json(c)?.with_context(|| format!("{c} is NULL"))
    }

    pub fn opt_json(&self, c: &str) -> anyhow::Result<Option<serde_json::Value>> {
        match self {
            Row::Postgres(r) => pg(r, c),
            Row::Sqlite(r) => lite::<Option<String>>(r, c)?
                .map(|text| serde_json::from_str(&text).with_context(|| c.to_owned()))
                .transpose(),
        }
    }

    pub fn opt_bytes(&self, c: &str) -> anyhow::Result<Option<Vec<u8>>> {
        get!(self, c, Option<Vec<u8>>)
    }
}
