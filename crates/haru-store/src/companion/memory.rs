//! What haru remembers of a person between calls.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;
use crate::db::now;
use crate::{Result, SqlStore};

fn item_from_row(r: &AnyRow) -> MemoryItem {
    MemoryItem {
        id: r.get("id"),
        person_id: r.get("person_id"),
        text: r.get("text"),
        quote: r.get("quote"),
        call_sid: r.get("call_sid"),
        created_at: r.get("created_at"),
    }
}

impl SqlStore {
    /// Oldest first.
    pub async fn memory_items(&self, person_id: &str) -> Result<Vec<MemoryItem>> {
        let rows = sqlx::query("SELECT * FROM memory_items WHERE person_id = $1 ORDER BY id")
            .bind(person_id)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(item_from_row).collect())
    }

    pub async fn add_memory_item(
        &self,
        person_id: &str,
        text: &str,
        quote: Option<&str>,
        call_sid: Option<&str>,
    ) -> Result<i64> {
        let id = sqlx::query_scalar(
            "INSERT INTO memory_items (person_id, text, quote, call_sid, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(person_id)
        .bind(text)
        .bind(quote)
        .bind(call_sid)
        .bind(now())
        .fetch_one(self.pool())
        .await?;
        Ok(id)
    }

    /// Forgets an item of this person (never another person's). `true` if it existed.
    pub async fn delete_memory_item(&self, person_id: &str, id: i64) -> Result<bool> {
        let r = sqlx::query("DELETE FROM memory_items WHERE id = $1 AND person_id = $2")
            .bind(id)
            .bind(person_id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Applies one call's memory update in a transaction: forgets `forget` (this person's
    /// ids only), then adds `remember` (text, quote), keeping at most `max_items`, oldest
    /// dropped first.
    pub async fn update_memory(
        &self,
        person_id: &str,
        call_sid: &str,
        forget: &[i64],
        remember: &[(String, String)],
        max_items: i64,
    ) -> Result<()> {
        let at = now();
        let mut tx = self.pool().begin().await?;
        for id in forget {
            sqlx::query("DELETE FROM memory_items WHERE id = $1 AND person_id = $2")
                .bind(id)
                .bind(person_id)
                .execute(&mut *tx)
                .await?;
        }
        for (text, quote) in remember {
            sqlx::query(
                "INSERT INTO memory_items (person_id, text, quote, call_sid, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(person_id)
            .bind(text)
            .bind(quote)
            .bind(call_sid)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "DELETE FROM memory_items WHERE person_id = $1 AND id NOT IN
               (SELECT id FROM memory_items WHERE person_id = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind(person_id)
        .bind(max_items.max(0))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
