//! Alerts and their deliveries. Raising an alert and queueing one delivery per caregiver
//! channel happen in one transaction, so an alert is never stored without its deliveries
//! (a restart picks pending deliveries up from the table).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;
use crate::db::now;
use crate::{Result, SqlStore};

fn delivery_from_row(r: &AnyRow) -> Delivery {
    Delivery {
        id: r.get("id"),
        alert_id: r.get("alert_id"),
        caregiver_id: r.get("caregiver_id"),
        channel: Channel::parse(r.get::<&str, _>("channel")).unwrap_or(Channel::Webhook),
        target: r.get("target"),
        state: DeliveryState::parse(r.get::<&str, _>("state")).unwrap_or(DeliveryState::Failed),
        attempts: r.get("attempts"),
        last_error: r.get("last_error"),
        delivered_at: r.get("delivered_at"),
    }
}

fn alert_from_row(r: &AnyRow, deliveries: Vec<Delivery>) -> Alert {
    Alert {
        id: r.get("id"),
        person_id: r.get("person_id"),
        call_sid: r.get("call_sid"),
        kind: AlertKind::parse(r.get::<&str, _>("kind")).unwrap_or(AlertKind::Emergency),
        summary: r.get("summary"),
        evidence: serde_json::from_str(r.get::<&str, _>("evidence_json")).unwrap_or_default(),
        created_at: r.get("created_at"),
        acked_at: r.get("acked_at"),
        acked_by: r.get("acked_by"),
        deliveries,
    }
}

impl SqlStore {
    pub(crate) async fn insert_alert(&self, a: &NewAlert) -> Result<Option<i64>> {
        let at = now();
        let mut tx = self.pool().begin().await?;
        let person: Option<String> = match (&a.person_id, &a.call_sid) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(sid)) => {
                sqlx::query_scalar("SELECT person_id FROM calls WHERE call_sid = $1")
                    .bind(sid)
                    .fetch_optional(&mut *tx)
                    .await?
                    .flatten()
            }
            (None, None) => None,
        };
        let stamped: Vec<Evidence> = a
            .evidence
            .iter()
            .map(|e| Evidence {
                at: if e.at.is_empty() {
                    at.clone()
                } else {
                    e.at.clone()
                },
                ..e.clone()
            })
            .collect();
        let evidence = serde_json::to_string(&stamped).unwrap_or_else(|_| "[]".into());
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO alerts (person_id, call_sid, kind, dedupe_key, summary, evidence_json, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT(dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(&person)
        .bind(&a.call_sid)
        .bind(a.kind.as_str())
        .bind(&a.dedupe_key)
        .bind(&a.summary)
        .bind(evidence)
        .bind(&at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(None);
        };
        if let Some(person) = &person {
            for (channel, column) in [("webhook", "webhook_url"), ("sms", "sms")] {
                sqlx::query(&format!(
                    "INSERT INTO alert_deliveries (alert_id, caregiver_id, channel, target, next_at)
                     SELECT $1, id, $2, {column}, $3 FROM caregivers
                     WHERE person_id = $4 AND {column} IS NOT NULL AND {column} != ''"
                ))
                .bind(id)
                .bind(channel)
                .bind(&at)
                .bind(person)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    pub async fn alert(&self, id: i64) -> Result<Option<Alert>> {
        let Some(row) = sqlx::query("SELECT * FROM alerts WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let d = self.deliveries(id).await?;
        Ok(Some(alert_from_row(&row, d)))
    }

    async fn deliveries(&self, alert_id: i64) -> Result<Vec<Delivery>> {
        let rows = sqlx::query("SELECT * FROM alert_deliveries WHERE alert_id = $1 ORDER BY id")
            .bind(alert_id)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(delivery_from_row).collect())
    }

    /// Newest first.
    pub async fn alerts(&self, f: &AlertFilter) -> Result<Vec<Alert>> {
        let limit = if f.limit <= 0 { 50 } else { f.limit.min(500) };
        let rows = sqlx::query(
            "SELECT * FROM alerts WHERE ($1 IS NULL OR person_id = $1) AND ($2 = 0 OR acked_at IS NULL)
             ORDER BY id DESC LIMIT $3 OFFSET $4",
        )
        .bind(&f.person_id)
        .bind(f.open as i64)
        .bind(limit)
        .bind(f.offset.max(0))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let d = self.deliveries(r.get("id")).await?;
            out.push(alert_from_row(r, d));
        }
        Ok(out)
    }

    /// Acknowledges an alert once; `None` for an unknown alert. A second ack keeps the first.
    pub async fn ack_alert(&self, id: i64, by: &str) -> Result<Option<Alert>> {
        sqlx::query(
            "UPDATE alerts SET acked_at = COALESCE(acked_at, $2), acked_by = COALESCE(acked_by, $3)
             WHERE id = $1",
        )
        .bind(id)
        .bind(now())
        .bind(by)
        .execute(self.pool())
        .await?;
        self.alert(id).await
    }

    /// Claims one due delivery (pending and due, or sending with an expired lease: its
    /// sender died). One statement, so two senders never hold the same delivery.
    pub async fn claim_delivery(
        &self,
        now_ts: &str,
        lease_until: &str,
        max_attempts: i64,
    ) -> Result<Option<DeliveryClaim>> {
        // A sender that died (or hung) mid-send past the cap: the delivery has failed.
        sqlx::query(
            "UPDATE alert_deliveries SET state = 'failed', lease_until = NULL,
               last_error = COALESCE(last_error, 'sender lost') || ' (attempts exhausted)'
             WHERE state = 'sending' AND lease_until < $1 AND attempts >= $2",
        )
        .bind(now_ts)
        .bind(max_attempts)
        .execute(self.pool())
        .await?;
        // The due condition is checked again on the row itself: on PostgreSQL a second
        // sender that picked the same id re-reads the row after the first one's update and
        // must then find it no longer due (and SKIP LOCKED steers it to another row).
        let sql = format!(
            "UPDATE alert_deliveries SET state = 'sending', lease_until = $2, attempts = attempts + 1
             WHERE id = (SELECT id FROM alert_deliveries
                         WHERE (state = 'pending' AND next_at <= $1)
                            OR (state = 'sending' AND lease_until < $1)
                         ORDER BY next_at LIMIT 1 {})
               AND ((state = 'pending' AND next_at <= $1) OR (state = 'sending' AND lease_until < $1))
             RETURNING *",
            self.skip_locked("")
        );
        let Some(row) = sqlx::query(&sql)
            .bind(now_ts)
            .bind(lease_until)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let delivery = delivery_from_row(&row);
        let Some(alert) = self.alert(delivery.alert_id).await? else {
            return Ok(None);
        };
        let person_name = match &alert.person_id {
            Some(p) => {
                sqlx::query_scalar("SELECT name FROM people WHERE id = $1")
                    .bind(p)
                    .fetch_optional(self.pool())
                    .await?
            }
            None => None,
        };
        let webhook_secret = match delivery.caregiver_id {
            Some(c) => sqlx::query_scalar("SELECT webhook_secret FROM caregivers WHERE id = $1")
                .bind(c)
                .fetch_optional(self.pool())
                .await?
                .flatten(),
            None => None,
        };
        Ok(Some(DeliveryClaim {
            delivery,
            alert,
            person_name,
            webhook_secret,
        }))
    }

    pub async fn delivery_done(&self, id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE alert_deliveries SET state = 'delivered', delivered_at = $2, lease_until = NULL,
               last_error = NULL WHERE id = $1 AND state = 'sending'",
        )
        .bind(id)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A failed send: retried at `retry_at`, or failed for good with `None`.
    pub async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<&str>,
    ) -> Result<()> {
        let state = if retry_at.is_some() {
            "pending"
        } else {
            "failed"
        };
        sqlx::query(
            "UPDATE alert_deliveries SET state = $2, next_at = COALESCE($3, next_at), lease_until = NULL,
               last_error = $4 WHERE id = $1 AND state = 'sending'",
        )
        .bind(id)
        .bind(state)
        .bind(retry_at)
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
