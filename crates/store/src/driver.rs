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

use std::borrow::Cow;

use anyhow::{Context, anyhow};
use blu_app::ports::{StoreError, StoreResult};
use blu_domain::Timestamp;
use rust_decimal::Decimal;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, PgRow};
use sqlx::sqlite::{SqliteConnection, SqlitePool, SqliteRow};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, Column, Postgres, Sqlite, Transaction, TypeInfo};
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

/// Joined to the rows of an `INSERT INTO … SELECT v.* FROM (VALUES …) AS v`: on PostgreSQL the
/// statement's own transaction then commits without waiting for its WAL record to reach the
/// disk (`synchronous_commit = off` for that one transaction: `set_config(…, true)` lasts
/// until the commit, which reads it). Only for records that may be lost in a database *crash*
/// — never a money movement: a crash could forget the last fraction of a second of them, and
/// nothing else (no corruption, no partial row); everything committed after them, and every
/// replica, still sees them in commit order. (pgbench, one-row insert: 13.4k → 28.3k tps.)
macro_rules! no_flush_wait_join {
    () => {
        "CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush_wait"
    };
}
pub(crate) use no_flush_wait_join;
pub const NO_FLUSH_WAIT_JOIN: &str = no_flush_wait_join!();

/// `INSERT INTO … (<columns>)` of one row of `$values`, committed without a flush wait on
/// PostgreSQL ([`NO_FLUSH_WAIT_JOIN`]); `$tail` follows (e.g. `ON CONFLICT … DO NOTHING`).
macro_rules! insert_without_flush_wait {
    ($insert:expr, $values:expr, $tail:expr) => {
        $crate::driver::Sql {
            postgres: concat!(
                $insert,
                " SELECT v.* FROM (VALUES (",
                $values,
                ")) AS v ",
                $crate::driver::no_flush_wait_join!(),
                " ",
                $tail
            ),
            sqlite: concat!($insert, " VALUES (", $values, ") ", $tail),
        }
    };
}
pub(crate) use insert_without_flush_wait;

/// `($1, …, $columns), ($columns+1, …), …`: the placeholders of a multi-row `VALUES`.
pub fn values_rows(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", numbered(r * columns + 1, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$1, $2, …, $n` (an `IN` list).
pub fn placeholders(n: usize) -> String {
    numbered(1, n)
}

fn numbered(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|k| format!("${k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

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
            Pool::Postgres(pool) => {
                Tx::Postgres(pool.begin().await.map_err(map_sqlx)?, Role::Owner)
            }
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
                let mut tx = Tx::Postgres(pool.begin().await.map_err(map_sqlx)?, Role::Owner);
                query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(&mut tx)
                    .await?;
                Ok(tx)
            }
            Pool::Sqlite(pool) => Ok(Tx::Sqlite(pool.begin().await.map_err(map_sqlx)?)),
        }
    }
}

/// The PostgreSQL role a transaction's statements run as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The connecting (owning) role: no row-level security.
    Owner,
    /// `blu_app` with `app.user_id` set (`Database::begin_as_user`): row-level security.
    Tenant,
}

/// A transaction on either database. Dropped without `commit`, it rolls back.
#[derive(Debug)]
pub enum Tx {
    Postgres(Transaction<'static, Postgres>, Role),
    Sqlite(Transaction<'static, Sqlite>),
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Postgres(..) => Dialect::Postgres,
            Tx::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Ends the tenant role of a `Database::begin_as_user` transaction for the statements that
    /// follow (tables outside row-level security, e.g. `sessions`). Nothing to do on SQLite.
    pub async fn leave_tenant_role(&mut self) -> StoreResult<()> {
        match self {
            Tx::Postgres(_, Role::Owner) => Ok(()),
            Tx::Postgres(_, Role::Tenant) => {
                query("RESET ROLE").execute(&mut *self).await?;
                if let Tx::Postgres(_, role) = self {
                    *role = Role::Owner;
                }
                Ok(())
            }
            Tx::Sqlite(_) => Ok(()),
        }
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Postgres(tx, _) => tx.commit().await,
            Tx::Sqlite(tx) => tx.commit().await,
        }
        .map_err(map_sqlx)
    }
}

/// Where a statement runs: a pool (one statement, its own implicit transaction), or a
/// connection (pooled or inside a transaction) of either database.
pub enum On<'a> {
    Pool(Pool<'a>),
    Postgres(&'a mut PgConnection, Role),
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
            Tx::Postgres(tx, role) => On::Postgres(tx, *role),
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
            Conn::Postgres(c) => On::Postgres(c, Role::Owner),
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
    /// A literal, except the statements [`Batch`] composes.
    sql: Cow<'static, str>,
    args: Vec<Arg>,
}

/// A statement whose text is built at run time (a multi-row `INSERT`): only from constants
/// and placeholders, never from a value.
pub fn query_text(sql: String) -> Query {
    Query {
        sql: Cow::Owned(sql),
        args: Vec::new(),
    }
}

/// A statement written once for both databases.
pub fn query(sql: &'static str) -> Query {
    Query {
        sql: Cow::Borrowed(sql),
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
            On::Postgres(conn, role) => self
                .for_role(role)
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
            On::Postgres(conn, role) => {
                rows(self.for_role(role).postgres()?.fetch_all(conn).await)?
            }
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
            On::Postgres(conn, role) => self
                .for_role(role)
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
        let sql = self.sql.clone();
        self.fetch_optional(on)
            .await?
            .ok_or_else(|| StoreError::Other(anyhow!("no row returned by {sql:?}")))
    }

    /// The statement as `role` runs it. A connection's prepared statements are keyed by their
    /// text, and PostgreSQL plans a statement under row-level security for one role: a text run
    /// in turn by the owner and by `blu_app` on one pooled connection would be planned again at
    /// every switch (0.7–3.7 ms each, docs/benchmarks.md). So the tenant's statements get a
    /// text of their own.
    fn for_role(self, role: Role) -> Query {
        match role {
            Role::Owner => self,
            Role::Tenant => Query {
                sql: Cow::Owned(format!("/* tenant */ {}", self.sql)),
                args: self.args,
            },
        }
    }

    fn postgres(
        self,
    ) -> StoreResult<sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments>> {
        let mut q = sqlx::query(AssertSqlSafe(self.sql));
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
        let mut q = sqlx::query(AssertSqlSafe(self.sql));
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

/// Several writes of one transaction sent as one (issue 12: round trips), each of which must
/// change exactly one row. PostgreSQL receives a single statement — each write a
/// data-modifying `WITH` part — so the batch costs one round trip whatever its size; SQLite runs
/// the writes in turn (in-process: there is no round trip to save).
///
/// Only for writes to distinct rows: PostgreSQL runs the parts of one statement on one
/// snapshot, and a second change to a row that the same statement already changed would be
/// skipped — which the count check then turns into that write's refusal, never a lost write.
#[must_use = "a batch does nothing until it is executed"]
#[derive(Default)]
pub struct Batch {
    /// Each `INSERT`, `UPDATE` or `DELETE` (without `RETURNING`) and what it means when it
    /// did not change exactly one row.
    writes: Vec<(Query, fn() -> StoreError)>,
}

impl Batch {
    pub fn push_one(&mut self, write: Query, refusal: fn() -> StoreError) {
        self.writes.push((write, refusal));
    }

    /// Runs the writes; the refusal of the first that did not change exactly one row.
    pub async fn execute(self, tx: &mut Tx) -> StoreResult<()> {
        let refusals: Vec<fn() -> StoreError> = self.writes.iter().map(|(_, r)| *r).collect();
        let changed = if self.writes.len() < 2 || tx.dialect() == Dialect::Sqlite {
            let mut changed = Vec::with_capacity(self.writes.len());
            for (write, _) in self.writes {
                changed.push(write.execute(&mut *tx).await?);
            }
            changed
        } else {
            let parts = self.writes.len();
            let counts: Row = self.into_one_statement().fetch_one(tx).await?;
            (0..parts)
                .map(|i| {
                    let n = counts.int(&format!("n{i}"))?;
                    u64::try_from(n).map_err(anyhow::Error::from)
                })
                .collect::<anyhow::Result<Vec<u64>>>()
                .map_err(StoreError::Other)?
        };
        match changed
            .into_iter()
            .zip(refusals)
            .find(|(rows, _)| *rows != 1)
        {
            Some((_, refusal)) => Err(refusal()),
            None => Ok(()),
        }
    }

    /// `WITH w0 AS (<write 0> RETURNING 1), w1 AS (…) SELECT (SELECT count(*) FROM w0) AS n0, …`
    /// with each write's placeholders shifted past the arguments of the writes before it.
    fn into_one_statement(self) -> Query {
        let parts = self.writes.len();
        let mut sql = String::from("WITH ");
        let mut args = Vec::new();
        for (i, (write, _)) in self.writes.into_iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("w{i} AS ("));
            shift_placeholders(&write.sql, args.len(), &mut sql);
            sql.push_str(" RETURNING 1)");
            args.extend(write.args);
        }
        sql.push_str(" SELECT ");
        let counts: Vec<String> = (0..parts)
            .map(|i| format!("(SELECT count(*) FROM w{i}) AS n{i}"))
            .collect();
        sql.push_str(&counts.join(", "));
        Query {
            sql: Cow::Owned(sql),
            args,
        }
    }
}

/// Copies `sql` to `out` with every placeholder `$k` written as `$(k + by)`. The statements
/// batched hold no `$` anywhere else (no dollar-quoted strings).
fn shift_placeholders(sql: &str, by: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        // A number too long for `usize` is no placeholder of ours: copied as it is, the
        // database refuses the statement rather than bind a wrong value.
        if let Ok(k) = rest[..digits].parse::<usize>() {
            out.push_str(&(k + by).to_string());
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_shifted_past_the_arguments_of_earlier_writes() {
        let mut out = String::new();
        shift_placeholders("UPDATE t SET a = $1, b = $12 WHERE id = $2", 3, &mut out);
        assert_eq!(out, "UPDATE t SET a = $4, b = $15 WHERE id = $5");
        let mut unchanged = String::new();
        shift_placeholders("DELETE FROM t WHERE note = 'x'", 9, &mut unchanged);
        assert_eq!(unchanged, "DELETE FROM t WHERE note = 'x'");
    }

    #[test]
    fn multi_row_values_number_their_placeholders_row_after_row() {
        assert_eq!(values_rows(1, 2), "($1, $2)");
        assert_eq!(values_rows(3, 2), "($1, $2), ($3, $4), ($5, $6)");
        assert_eq!(placeholders(3), "$1, $2, $3");
    }

    #[test]
    fn a_batch_is_one_statement_counting_the_rows_each_write_changed() {
        let refused = || StoreError::Other(anyhow!("not written"));
        let mut batch = Batch::default();
        batch.push_one(
            query("UPDATE a SET x = $2 WHERE id = $1")
                .bind(1_i64)
                .bind(2_i64),
            refused,
        );
        batch.push_one(query("INSERT INTO b (y) VALUES ($1)").bind(3_i64), refused);
        let one = batch.into_one_statement();
        assert_eq!(
            one.sql,
            "WITH w0 AS (UPDATE a SET x = $2 WHERE id = $1 RETURNING 1), \
             w1 AS (INSERT INTO b (y) VALUES ($3) RETURNING 1) \
             SELECT (SELECT count(*) FROM w0) AS n0, (SELECT count(*) FROM w1) AS n1"
        );
        let bound: Vec<Option<i64>> = one
            .args
            .iter()
            .map(|a| match a {
                Arg::I64(v) => *v,
                _ => None,
            })
            .collect();
        assert_eq!(bound, [Some(1), Some(2), Some(3)]);
    }
}
