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
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx.conn() {
            $crate::db::TxConn::Sqlite($c) => $body,
            $crate::db::TxConn::Postgres($c) => $body,
        }
    };
}
