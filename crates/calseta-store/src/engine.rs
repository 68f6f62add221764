//! The database engines a `Db` can talk to (shared by the handle and the migrations).

/// Which database engine a [`crate::Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Embedded SQLite file: zero setup, one machine.
    Sqlite,
    /// PostgreSQL: any number of API and worker processes.
    Postgres,
}

impl Engine {
    /// The engine's name in logs: `sqlite` or `postgresql`.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgresql",
        }
    }
}
