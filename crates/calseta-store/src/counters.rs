//! Counters of the work a [`crate::Db`] asks of its database: every statement sent to the driver
//! (transaction control included), every round trip to it — on SQLite a hop to the connection's
//! thread and back, which costs more than most statements — every write transaction begun, and
//! every durable commit. Statements sent together in one command (a transaction's deferred writes)
//! are one round trip. On SQLite they also time the one write connection: how long units held it
//! (commits included), how long they waited for it, and how long its commits took — a pipeline
//! whose writer is held nearly all the time is bound by it, whatever the CPU says.
//!
//! They answer "how much database work does one alert cost" (`calseta bench` divides them by the
//! alerts it sent) and feed `/metrics`. Each [`crate::Db`] (and its clones) has its own, so
//! figures are exact for one process however many databases it opens.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The live counters of one database handle.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    statements: AtomicU64,
    round_trips: AtomicU64,
    write_transactions: AtomicU64,
    commits: AtomicU64,
    writer_held_micros: AtomicU64,
    writer_wait_micros: AtomicU64,
    commit_micros: AtomicU64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
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

    /// SQLite's write connection was held for `held` (by a unit, a commit or a migration).
    pub(crate) fn writer_held(&self, held: Duration) {
        self.writer_held_micros.fetch_add(micros(held), Ordering::Relaxed);
    }

    /// A caller waited `waited` for SQLite's write connection.
    pub(crate) fn writer_waited(&self, waited: Duration) {
        self.writer_wait_micros.fetch_add(micros(waited), Ordering::Relaxed);
    }

    /// A commit's statement took `took` (on SQLite with `synchronous=FULL`, the disk's flush).
    pub(crate) fn commit_took(&self, took: Duration) {
        self.commit_micros.fetch_add(micros(took), Ordering::Relaxed);
    }

    /// The counts so far.
    pub(crate) fn read(&self) -> DbWork {
        let time = |counter: &AtomicU64| Duration::from_micros(counter.load(Ordering::Relaxed));
        DbWork {
            statements: self.statements.load(Ordering::Relaxed),
            round_trips: self.round_trips.load(Ordering::Relaxed),
            write_transactions: self.write_transactions.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            writer_held: time(&self.writer_held_micros),
            writer_waited: time(&self.writer_wait_micros),
            committing: time(&self.commit_micros),
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
    /// How long SQLite's one write connection was held, commits included (zero on PostgreSQL).
    pub writer_held: Duration,
    /// How long write transactions waited for SQLite's write connection, summed over them (zero
    /// on PostgreSQL).
    pub writer_waited: Duration,
    /// How long SQLite's group commits took (zero on PostgreSQL).
    pub committing: Duration,
}

impl DbWork {
    /// The work done between `earlier` and this reading.
    pub fn since(self, earlier: DbWork) -> DbWork {
        DbWork {
            statements: self.statements.saturating_sub(earlier.statements),
            round_trips: self.round_trips.saturating_sub(earlier.round_trips),
            write_transactions: self.write_transactions.saturating_sub(earlier.write_transactions),
            commits: self.commits.saturating_sub(earlier.commits),
            writer_held: self.writer_held.saturating_sub(earlier.writer_held),
            writer_waited: self.writer_waited.saturating_sub(earlier.writer_waited),
            committing: self.committing.saturating_sub(earlier.committing),
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
        counters.writer_waited(Duration::from_micros(40));
        counters.writer_held(Duration::from_micros(700));
        counters.commit_took(Duration::from_micros(300));
        assert_eq!(
            counters.read().since(earlier),
            DbWork {
                statements: 4,
                round_trips: 2,
                write_transactions: 1,
                commits: 1,
                writer_held: Duration::from_micros(700),
                writer_waited: Duration::from_micros(40),
                committing: Duration::from_micros(300),
            }
        );
        assert_eq!(earlier.since(counters.read()), DbWork::default());
    }
}
