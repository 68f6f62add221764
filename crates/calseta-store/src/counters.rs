//! Counters of the work a [`crate::Db`] asks of its database: every statement sent to the driver
//! (transaction control included), every round trip to it — on SQLite a hop to the connection's
//! thread and back, which costs more than most statements — every write transaction begun, and
//! every durable commit. Statements sent together in one command (a transaction's deferred writes)
//! are one round trip.
//!
//! They answer "how much database work does one alert cost" (`calseta bench` divides them by the
//! alerts it sent) and feed `/metrics`. Each [`crate::Db`] (and its clones) has its own, so
//! figures are exact for one process however many databases it opens.

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters of one database handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    statements: AtomicU64,
    round_trips: AtomicU64,
    write_transactions: AtomicU64,
    commits: AtomicU64,
}

impl Counters {
    /// One statement sent, in a round trip of its own.
    pub(crate) fn statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// `statements` sent together, in one round trip.
    pub(crate) fn statements_together(&self, statements: usize) {
        self.statements.fetch_add(u64::try_from(statements).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// One write transaction begun (on SQLite: a unit of the group-commit writer).
    pub(crate) fn write_transaction(&self) {
        self.write_transactions.fetch_add(1, Ordering::Relaxed);
    }

    /// One commit made durable (on SQLite: one group commit, however many units it holds).
    pub(crate) fn commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn read(&self) -> DbWork {
        DbWork {
            statements: self.statements.load(Ordering::Relaxed),
            round_trips: self.round_trips.load(Ordering::Relaxed),
            write_transactions: self.write_transactions.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }
}

/// How much work a database handle has asked of its database since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbWork {
    /// Statements sent to the driver, `BEGIN`, `SAVEPOINT` and `COMMIT` included.
    pub statements: u64,
    /// Round trips to the driver: a statement alone is one, and so are statements sent together.
    pub round_trips: u64,
    /// Write transactions begun: [`crate::Db::begin`] and each autocommit write.
    pub write_transactions: u64,
    /// Commits made durable: on SQLite one per group commit, on PostgreSQL one per write.
    pub commits: u64,
}

impl DbWork {
    /// The work done between `earlier` and this reading.
    pub fn since(self, earlier: DbWork) -> DbWork {
        DbWork {
            statements: self.statements.saturating_sub(earlier.statements),
            round_trips: self.round_trips.saturating_sub(earlier.round_trips),
            write_transactions: self.write_transactions.saturating_sub(earlier.write_transactions),
            commits: self.commits.saturating_sub(earlier.commits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_minus_an_earlier_one_is_the_work_between() {
        let counters = Counters::default();
        counters.statement();
        let earlier = counters.read();
        counters.statement();
        counters.statements_together(3);
        counters.write_transaction();
        counters.commit();
        assert_eq!(
            counters.read().since(earlier),
            DbWork { statements: 4, round_trips: 2, write_transactions: 1, commits: 1 }
        );
        assert_eq!(earlier.since(counters.read()), DbWork::default());
    }
}
