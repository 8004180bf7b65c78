//! A fresh, empty database per test, on either backend: a SQLite file in the temp dir,
//! or — when `HARU_TEST_DATABASE_URL` names a PostgreSQL server (the test script starts
//! one on 127.0.0.1) — a new database created on that server. So one test suite runs
//! against both backends.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

use crate::{Backend, Result, SqlStore};

/// The variable naming the PostgreSQL server the tests may create databases on.
pub const TEST_DATABASE_URL: &str = "HARU_TEST_DATABASE_URL";

pub struct TestDb {
    /// The URL of this test's database.
    pub url: String,
    path: Option<PathBuf>,
}

fn unique(name: &str) -> String {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    format!(
        "haru_t_{clean}_{}_{nanos}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestDb {
    /// A new empty database named after `name` (not yet migrated: [`TestDb::open`] does).
    pub async fn new(name: &str) -> Result<TestDb> {
        let db = unique(name);
        match std::env::var(TEST_DATABASE_URL)
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(server) if Backend::of_url(&server) == Some(Backend::Postgres) => {
                sqlx::any::install_default_drivers();
                let mut conn = sqlx::AnyConnection::connect(&server).await?;
                sqlx::query(&format!("CREATE DATABASE {db}"))
                    .execute(&mut conn)
                    .await?;
                conn.close().await?;
                let mut url = url::Url::parse(&server)
                    .map_err(|_| crate::StoreError::UnsupportedUrl(crate::redact_url(&server)))?;
                url.set_path(&db);
                Ok(TestDb {
                    url: url.to_string(),
                    path: None,
                })
            }
            _ => {
                let path = std::env::temp_dir().join(format!("{db}.db"));
                Ok(TestDb {
                    url: format!("sqlite:{}", path.display()),
                    path: Some(path),
                })
            }
        }
    }

    /// Opens (and migrates) a store on this database; call again for a second pool, as
    /// another process or instance would have.
    pub async fn open(&self) -> Result<SqlStore> {
        SqlStore::open(&self.url).await
    }

    pub fn backend(&self) -> Backend {
        Backend::of_url(&self.url).unwrap_or(Backend::Sqlite)
    }

    /// What a database server that goes away looks like to haru: every connection to this
    /// database is dropped and new ones are refused (PostgreSQL only; `false` on SQLite,
    /// which has no server to lose). [`TestDb::restore`] lets connections in again.
    pub async fn cut_off(&self) -> Result<bool> {
        self.allow_connections(false).await
    }

    pub async fn restore(&self) -> Result<bool> {
        self.allow_connections(true).await
    }

    async fn allow_connections(&self, allow: bool) -> Result<bool> {
        let Some(server) = std::env::var(TEST_DATABASE_URL)
            .ok()
            .filter(|_| self.backend() == Backend::Postgres)
        else {
            return Ok(false);
        };
        let name = url::Url::parse(&self.url)
            .map(|u| u.path().trim_start_matches('/').to_string())
            .unwrap_or_default();
        let mut conn = sqlx::AnyConnection::connect(&server).await?;
        sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {allow}"))
            .execute(&mut conn)
            .await?;
        if !allow {
            // The result (one boolean per backend) is not needed: only that they are gone.
            sqlx::query(&format!(
                "SELECT COUNT(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .fetch_all(&mut conn)
            .await?;
        }
        conn.close().await?;
        Ok(true)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // PostgreSQL test databases go with the throwaway server the test script stops.
        if let Some(path) = &self.path {
            for ext in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
            }
        }
    }
}
