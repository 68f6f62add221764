//! Run one query body on whichever engine a pool or transaction holds.
//!
//! The body is expanded once per engine so it type-checks against each driver; rows decode through
//! `#[derive(sqlx::FromRow)]`, which is generic over the driver.

/// `on_pool!(db.read_pool(), p => sqlx::query(..).fetch_all(p).await)`
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::db::PoolRef::Sqlite($p) => $body,
            $crate::db::PoolRef::Postgres($p) => $body,
        }
    };
}

/// `on_tx!(tx, c => sqlx::query(..).execute(c).await)`
/// The transaction's deferred writes are sent first, so statements run in the order they were
/// asked for.
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx.flush_deferred().await {
            Ok(()) => match $tx.conn() {
                $crate::db::TxConn::Sqlite($c) => $body,
                $crate::db::TxConn::Postgres($c) => $body,
            },
            Err(e) => Err(e.into()),
        }
    };
}

/// A write: on SQLite a unit of the group-commit writer (so a statement that reads before it writes
/// cannot hit `SQLITE_BUSY_SNAPSHOT` when another process shares the file, and its commit is shared
/// with concurrent writes), on PostgreSQL in autocommit on the pool.
/// `on_write!(db, c => sqlx::query(..).execute(c).await)`
macro_rules! on_write {
    ($db:expr, $c:ident => $body:expr) => {
        match $db.autocommit_pool() {
            Some($c) => $body,
            None => {
                let mut tx = $db.begin().await?;
                match on_tx!(tx, $c => $body) {
                    Ok(value) => {
                        tx.commit().await?;
                        Ok(value)
                    }
                    Err(e) => Err(e),
                }
            }
        }
    };
}
