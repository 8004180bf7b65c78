//! People and their caregivers.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::*;
use crate::db::now;
use crate::{Result, SqlStore};

fn person_from_row(r: &AnyRow, caregivers: Vec<Caregiver>) -> Person {
    Person {
        id: r.get("id"),
        name: r.get("name"),
        phone: r.get("phone"),
        language: r.get("language"),
        timezone: r.get("timezone"),
        call_times: parse_list(r.get("call_times_json")),
        window_minutes: r.get("window_minutes"),
        days: parse_list(r.get("days_json")),
        active: r.get::<i64, _>("active") != 0,
        calendar_token: r.get("calendar_token"),
        plan_since: r.get("plan_since"),
        caregivers,
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

fn caregiver_from_row(r: &AnyRow) -> Caregiver {
    Caregiver {
        id: r.get("id"),
        name: r.get("name"),
        sms: r.get("sms"),
        email: r.get("email"),
        webhook_url: r.get("webhook_url"),
        webhook_secret: r.get("webhook_secret"),
    }
}

async fn insert_caregivers(
    tx: &mut Transaction<'_, Any>,
    person_id: &str,
    list: &[NewCaregiver],
) -> Result<()> {
    for c in list {
        let secret = c.webhook_url.as_ref().map(|_| secret());
        sqlx::query(
            "INSERT INTO caregivers (person_id, name, sms, email, webhook_url, webhook_secret)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(person_id)
        .bind(&c.name)
        .bind(&c.sms)
        .bind(&c.email)
        .bind(&c.webhook_url)
        .bind(secret)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Adding or changing a person failed because their number is already someone else's.
#[derive(Debug, thiserror::Error)]
#[error("the phone number {0} already belongs to another person")]
pub struct PhoneTaken(pub String);

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl SqlStore {
    /// Stores a new person. `Ok(Err(PhoneTaken))` when the number is already someone's.
    pub async fn add_person(
        &self,
        p: &NewPerson,
    ) -> Result<std::result::Result<Person, PhoneTaken>> {
        let id = format!("p_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let at = now();
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "INSERT INTO people (id, name, phone, language, timezone, call_times_json, window_minutes,
               days_json, active, calendar_token, plan_since, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $11)",
        )
        .bind(&id)
        .bind(&p.name)
        .bind(&p.phone)
        .bind(&p.language)
        .bind(&p.timezone)
        .bind(json_list(&p.call_times))
        .bind(p.window_minutes)
        .bind(json_list(&p.days))
        .bind(p.active as i64)
        .bind(secret())
        .bind(&at)
        .execute(&mut *tx)
        .await;
        match r {
            Err(e) if is_unique_violation(&e) => return Ok(Err(PhoneTaken(p.phone.clone()))),
            r => r?,
        };
        insert_caregivers(&mut tx, &id, &p.caregivers).await?;
        // Calls this number made before it was a person's become theirs.
        sqlx::query(
            "UPDATE calls SET person_id = $1 WHERE person_id IS NULL
               AND ((direction = 'inbound' AND from_number = $2) OR (direction != 'inbound' AND to_number = $2))",
        )
        .bind(&id)
        .bind(&p.phone)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE alerts SET person_id = $1 WHERE person_id IS NULL
               AND call_sid IN (SELECT call_sid FROM calls WHERE person_id = $1)",
        )
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(self
            .person(&id)
            .await?
            .ok_or_else(|| PhoneTaken(p.phone.clone())))
    }

    pub async fn person(&self, id: &str) -> Result<Option<Person>> {
        let Some(row) = sqlx::query("SELECT * FROM people WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let carers = self.caregivers(id).await?;
        Ok(Some(person_from_row(&row, carers)))
    }

    pub async fn person_by_phone(&self, phone: &str) -> Result<Option<Person>> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM people WHERE phone = $1")
            .bind(phone)
            .fetch_optional(self.pool())
            .await?;
        match id {
            Some(id) => self.person(&id).await,
            None => Ok(None),
        }
    }

    /// The person a call was with, if it was with one.
    pub async fn person_for_call(&self, call_sid: &str) -> Result<Option<Person>> {
        let id: Option<Option<String>> =
            sqlx::query_scalar("SELECT person_id FROM calls WHERE call_sid = $1")
                .bind(call_sid)
                .fetch_optional(self.pool())
                .await?;
        match id.flatten() {
            Some(id) => self.person(&id).await,
            None => Ok(None),
        }
    }

    async fn caregivers(&self, person_id: &str) -> Result<Vec<Caregiver>> {
        let rows = sqlx::query("SELECT * FROM caregivers WHERE person_id = $1 ORDER BY id")
            .bind(person_id)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(caregiver_from_row).collect())
    }

    /// People by name; `active_only` for the scheduler.
    pub async fn people(&self, active_only: bool, limit: i64, offset: i64) -> Result<Vec<Person>> {
        let rows = sqlx::query(
            "SELECT * FROM people WHERE ($1 = 0 OR active = 1) ORDER BY name, id LIMIT $2 OFFSET $3",
        )
        .bind(active_only as i64)
        .bind(limit.clamp(1, 100_000))
        .bind(offset.max(0))
        .fetch_all(self.pool())
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id: String = r.get("id");
            let carers = self.caregivers(&id).await?;
            out.push(person_from_row(r, carers));
        }
        Ok(out)
    }

    /// Applies a patch; `Ok(None)` for an unknown person.
    pub async fn update_person(
        &self,
        id: &str,
        p: &PersonPatch,
    ) -> Result<std::result::Result<Option<Person>, PhoneTaken>> {
        let mut tx = self.pool().begin().await?;
        let r = sqlx::query(
            "UPDATE people SET name = COALESCE($2, name), phone = COALESCE($3, phone),
               language = COALESCE($4, language), timezone = COALESCE($5, timezone),
               call_times_json = COALESCE($6, call_times_json), window_minutes = COALESCE($7, window_minutes),
               days_json = COALESCE($8, days_json), active = COALESCE($9, active), updated_at = $10,
               plan_since = CASE WHEN $11 THEN $10 ELSE plan_since END
             WHERE id = $1",
        )
        .bind(id)
        .bind(&p.name)
        .bind(&p.phone)
        .bind(&p.language)
        .bind(&p.timezone)
        .bind(p.call_times.as_deref().map(json_list))
        .bind(p.window_minutes)
        .bind(p.days.as_deref().map(json_list))
        .bind(p.active.map(|a| a as i64))
        .bind(now())
        .bind(
            p.timezone.is_some()
                || p.call_times.is_some()
                || p.window_minutes.is_some()
                || p.days.is_some()
                || p.active.is_some(),
        )
        .execute(&mut *tx)
        .await;
        let r = match r {
            Err(e) if is_unique_violation(&e) => {
                return Ok(Err(PhoneTaken(p.phone.clone().unwrap_or_default())));
            }
            r => r?,
        };
        if r.rows_affected() == 0 {
            return Ok(Ok(None));
        }
        if let Some(list) = &p.caregivers {
            // A receiver keeps its secret while its URL stays the same.
            let kept: Vec<(String, String)> = sqlx::query_as(
                "SELECT webhook_url, webhook_secret FROM caregivers
                 WHERE person_id = $1 AND webhook_url IS NOT NULL AND webhook_secret IS NOT NULL",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            // Deliveries still owed to the old list go nowhere new (a removed caregiver
            // must not get them, and they would have no signing key).
            sqlx::query(
                "UPDATE alert_deliveries SET state = 'failed', last_error = 'caregivers replaced'
                 WHERE state IN ('pending', 'sending') AND caregiver_id IN
                   (SELECT id FROM caregivers WHERE person_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM caregivers WHERE person_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_caregivers(&mut tx, id, list).await?;
            for (url, secret) in kept {
                sqlx::query(
                    "UPDATE caregivers SET webhook_secret = $3 WHERE person_id = $1 AND webhook_url = $2",
                )
                .bind(id)
                .bind(&url)
                .bind(&secret)
                .execute(&mut *tx)
                .await?;
            }
        }
        if p.active == Some(false) {
            // Paused: today's calls not placed yet are not placed.
            sqlx::query(
                "UPDATE call_slots SET state = 'missed', last_result = 'paused', updated_at = $2
                 WHERE person_id = $1 AND state = 'waiting'",
            )
            .bind(id)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Ok(self.person(id).await?))
    }

    /// The person whose calendar feed this token opens.
    pub async fn person_by_calendar_token(&self, id: &str, token: &str) -> Result<Option<Person>> {
        let Some(p) = self.person(id).await? else {
            return Ok(None);
        };
        // Constant-time enough for a 64-hex secret compared after the id lookup.
        let ok = p.calendar_token.len() == token.len()
            && p.calendar_token
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        Ok(ok.then_some(p))
    }
}
