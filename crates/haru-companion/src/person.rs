//! A person as the operator sends it (API JSON, CLI flags), validated into the store's rows.

use haru_store::companion::{NewCaregiver, NewPerson, PersonPatch};
use serde::Deserialize;

use crate::plan::DailyPlan;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// `+` then 7 to 15 digits, the first not 0 (ITU-T E.164).
pub fn is_e164(s: &str) -> bool {
    let Some(d) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
}

fn is_email(s: &str) -> bool {
    let Some((user, host)) = s.split_once('@') else {
        return false;
    };
    !user.is_empty()
        && host.contains('.')
        && !host.starts_with('.')
        && !host.ends_with('.')
        && s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn check_url(s: &str) -> Result<(), String> {
    let u = reqwest::Url::parse(s).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err("must be an http(s) URL with a host".into());
    }
    if s.len() > 2048 {
        return Err("longer than 2048 characters".into());
    }
    Ok(())
}

fn name(field: &str, s: &str) -> Result<String, Invalid> {
    let t = s.trim();
    if t.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err(invalid(
            field,
            "at most 100 characters, no control characters",
        ));
    }
    Ok(t.to_string())
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CaregiverInput {
    pub name: String,
    #[serde(default)]
    pub sms: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub webhook_url: Option<String>,
}

fn caregivers(list: &[CaregiverInput]) -> Result<Vec<NewCaregiver>, Invalid> {
    if list.len() > 10 {
        return Err(invalid("caregivers", "at most 10"));
    }
    list.iter()
        .enumerate()
        .map(|(i, c)| {
            let f = |k: &str| format!("caregivers[{i}].{k}");
            let blank = |o: &Option<String>| {
                o.as_ref()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            };
            let (sms, email, webhook_url) = (blank(&c.sms), blank(&c.email), blank(&c.webhook_url));
            if let Some(s) = &sms
                && !is_e164(s)
            {
                return Err(invalid(
                    &f("sms"),
                    "must be an E.164 number like +821012345678",
                ));
            }
            if let Some(e) = &email
                && !is_email(e)
            {
                return Err(invalid(&f("email"), "not an e-mail address"));
            }
            if let Some(u) = &webhook_url {
                check_url(u).map_err(|m| invalid(&f("webhook_url"), m))?;
            }
            if sms.is_none() && email.is_none() && webhook_url.is_none() {
                return Err(invalid(
                    &format!("caregivers[{i}]"),
                    "needs at least one of sms, email, webhook_url",
                ));
            }
            Ok(NewCaregiver {
                name: name(&f("name"), &c.name)?,
                sms,
                email,
                webhook_url,
            })
        })
        .collect()
}

fn language(s: &str) -> Result<String, Invalid> {
    match s {
        "ko" | "en" => Ok(s.to_string()),
        _ => Err(invalid("language", "must be \"ko\" or \"en\"")),
    }
}

fn phone(field: &str, s: &str) -> Result<String, Invalid> {
    let t = s.trim();
    if is_e164(t) {
        Ok(t.to_string())
    } else {
        Err(invalid(field, "must be an E.164 number like +821012345678"))
    }
}

/// The plan fields together: the scheduler must be able to compute slots from them.
fn check_plan(tz: &str, times: &[String], days: &[String], window: i64) -> Result<(), Invalid> {
    if tz.parse::<chrono_tz::Tz>().is_err() {
        return Err(invalid(
            "timezone",
            format!("unknown IANA time zone `{tz}`"),
        ));
    }
    for t in times {
        crate::plan::parse_time(t).map_err(|e| invalid("call_times", e.to_string()))?;
    }
    if !(1..=720).contains(&window) {
        return Err(invalid("window_minutes", "must be 1 to 720"));
    }
    DailyPlan::new(tz, times, days, window as u32)
        .map(|_| ())
        .map_err(|e| invalid("call_times", e.to_string()))
}

fn normal_days(days: &[String]) -> Result<Vec<String>, Invalid> {
    days.iter()
        .map(|d| {
            crate::plan::parse_weekday(d)
                .map(|w| crate::plan::weekday_name(w).to_string())
                .map_err(|e| invalid("days", e.to_string()))
        })
        .collect()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonInput {
    pub name: String,
    pub phone: String,
    #[serde(default = "default_language")]
    pub language: String,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default = "default_times")]
    pub call_times: Vec<String>,
    #[serde(default = "default_window")]
    pub window_minutes: i64,
    #[serde(default)]
    pub days: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub caregivers: Vec<CaregiverInput>,
}

fn default_language() -> String {
    "ko".into()
}
fn default_timezone() -> String {
    "Asia/Seoul".into()
}
fn default_times() -> Vec<String> {
    vec!["10:00".into()]
}
fn default_window() -> i64 {
    60
}
fn yes() -> bool {
    true
}

impl PersonInput {
    pub fn validate(&self) -> Result<NewPerson, Invalid> {
        let days = normal_days(&self.days)?;
        check_plan(&self.timezone, &self.call_times, &days, self.window_minutes)?;
        let mut times: Vec<String> = self
            .call_times
            .iter()
            .map(|t| t.trim().to_string())
            .collect();
        times.sort();
        times.dedup();
        Ok(NewPerson {
            name: name("name", &self.name)?,
            phone: phone("phone", &self.phone)?,
            language: language(&self.language)?,
            timezone: self.timezone.clone(),
            call_times: times,
            window_minutes: self.window_minutes,
            days,
            active: self.active,
            caregivers: caregivers(&self.caregivers)?,
        })
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PersonPatchInput {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub call_times: Option<Vec<String>>,
    pub window_minutes: Option<i64>,
    pub days: Option<Vec<String>>,
    pub active: Option<bool>,
    pub caregivers: Option<Vec<CaregiverInput>>,
}

impl PersonPatchInput {
    /// Validated against the stored person, so the plan stays computable as a whole.
    pub fn validate(
        &self,
        current: &haru_store::companion::Person,
    ) -> Result<PersonPatch, Invalid> {
        let days = self.days.as_deref().map(normal_days).transpose()?;
        let times = self.call_times.as_ref().map(|t| {
            let mut t: Vec<String> = t.iter().map(|s| s.trim().to_string()).collect();
            t.sort();
            t.dedup();
            t
        });
        check_plan(
            self.timezone.as_deref().unwrap_or(&current.timezone),
            times.as_deref().unwrap_or(&current.call_times),
            days.as_deref().unwrap_or(&current.days),
            self.window_minutes.unwrap_or(current.window_minutes),
        )?;
        Ok(PersonPatch {
            name: self.name.as_deref().map(|n| name("name", n)).transpose()?,
            phone: self
                .phone
                .as_deref()
                .map(|p| phone("phone", p))
                .transpose()?,
            language: self.language.as_deref().map(language).transpose()?,
            timezone: self.timezone.clone(),
            call_times: times,
            window_minutes: self.window_minutes,
            days,
            active: self.active,
            caregivers: self.caregivers.as_deref().map(caregivers).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PersonInput {
        serde_json::from_value(serde_json::json!({
            "name": "김영희", "phone": "+821012345678",
            "call_times": ["18:30", "09:00", "09:00"], "days": ["Monday", "wed"],
            "caregivers": [{"name": "딸", "sms": "+821098765432", "webhook_url": "https://example.org/hook"}]
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_person_is_normalised() {
        let p = input().validate().unwrap();
        assert_eq!(p.call_times, ["09:00", "18:30"]);
        assert_eq!(p.days, ["mon", "wed"]);
        assert_eq!(p.language, "ko");
        assert_eq!(p.timezone, "Asia/Seoul");
        assert_eq!(p.caregivers[0].sms.as_deref(), Some("+821098765432"));
    }

    #[test]
    fn bad_fields_are_named() {
        let field = |f: fn(&mut PersonInput)| {
            let mut i = input();
            f(&mut i);
            i.validate().unwrap_err().field
        };
        assert_eq!(field(|i| i.phone = "010-1234-5678".into()), "phone");
        assert_eq!(field(|i| i.phone = "+0123456789".into()), "phone");
        assert_eq!(field(|i| i.timezone = "Mars/Base".into()), "timezone");
        assert_eq!(field(|i| i.call_times = vec!["25:00".into()]), "call_times");
        assert_eq!(field(|i| i.days = vec!["someday".into()]), "days");
        assert_eq!(field(|i| i.language = "ja".into()), "language");
        assert_eq!(field(|i| i.name = "  ".into()), "name");
        assert_eq!(
            field(|i| i.caregivers[0].webhook_url = Some("ftp://x".into())),
            "caregivers[0].webhook_url"
        );
        assert_eq!(
            field(|i| i.caregivers[0] = CaregiverInput {
                name: "x".into(),
                ..Default::default()
            }),
            "caregivers[0]"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<PersonInput, _> =
            serde_json::from_value(serde_json::json!({"name": "a", "phone": "+8210", "phon": 1}));
        assert!(r.is_err());
    }
}
