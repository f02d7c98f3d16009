//! A database on each backend for the store tests: SQLite (a file) and
//! PostgreSQL (a private server from test-support, one per test). A test
//! body takes a [`Db`] and opens a store on it (again, to play a restart);
//! [`on_both_backends!`] runs it as `NAME::sqlite` and `NAME::postgres`.

#![allow(dead_code)]

use slipway_store::{PgStore, SqliteStore, Store};
use slipway_test_support::Postgres;
use std::path::PathBuf;

pub const KEY: [u8; 32] = [7; 32];

pub enum Db {
    Sqlite(tempfile::TempDir, PathBuf),
    Postgres(Postgres, String),
}

impl Db {
    pub fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("db.sqlite");
        Db::Sqlite(dir, file)
    }

    pub fn postgres() -> Db {
        let pg = Postgres::start();
        let url = pg.create_database("t");
        Db::Postgres(pg, url)
    }

    /// A fresh database of the same backend.
    pub fn another(&self) -> Db {
        match self {
            Db::Sqlite(..) => Db::sqlite(),
            Db::Postgres(..) => Db::postgres(),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Db::Sqlite(..) => "sqlite",
            Db::Postgres(..) => "postgres",
        }
    }

    /// A store on the database: a server starting (again).
    pub async fn open(&self) -> Box<dyn Store> {
        match self {
            Db::Sqlite(_, file) => {
                Box::new(SqliteStore::open_sealed(file, Some(&KEY)).await.unwrap())
            }
            Db::Postgres(_, url) => Box::new(PgStore::open(url, Some(&KEY)).await.unwrap()),
        }
    }

    /// The PostgreSQL store itself, for what only it has.
    pub async fn open_pg(&self) -> PgStore {
        match self {
            Db::Postgres(_, url) => PgStore::open(url, Some(&KEY)).await.unwrap(),
            Db::Sqlite(..) => panic!("not a PostgreSQL database"),
        }
    }
}

/// A module per test body (`async fn NAME(db: &Db)`) with a test per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            #[tokio::test]
            async fn sqlite() {
                super::$body(&$crate::common::Db::sqlite()).await;
            }

            #[tokio::test]
            async fn postgres() {
                super::$body(&$crate::common::Db::postgres()).await;
            }
        }
    )*};
}
