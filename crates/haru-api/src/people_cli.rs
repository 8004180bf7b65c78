//! `haru people add|list|show|pause|resume|delete`: the same validation and store as the
//! REST API, straight on the database `haru serve` uses.

use anyhow::Context as _;
use haru_companion::person::{CaregiverInput, PersonInput, PersonPatchInput};
use haru_store::SqlStore;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum PeopleCommand {
    /// Add a person haru calls every day.
    Add(AddArgs),
    /// List people.
    List,
    /// One person as JSON (with the calendar-feed token in calendar_url).
    Show { id: String },
    /// Stop calling the person (their data stays).
    Pause { id: String },
    /// Call the person again.
    Resume { id: String },
    /// Erase the person and every call, message and result of theirs.
    Delete { id: String },
}

#[derive(Debug, Clone, clap::Args)]
pub struct AddArgs {
    #[arg(long)]
    pub name: String,
    /// E.164, e.g. +821012345678.
    #[arg(long)]
    pub phone: String,
    /// ko or en.
    #[arg(long, default_value = "ko")]
    pub language: String,
    #[arg(long, default_value = "Asia/Seoul")]
    pub timezone: String,
    /// Daily call time, local HH:MM; repeat for several.
    #[arg(long = "time", default_value = "10:00")]
    pub times: Vec<String>,
    /// Minutes after the call time haru may still call (retries included).
    #[arg(long, default_value_t = 60)]
    pub window: i64,
    /// Days (mon..sun); repeat; none means every day.
    #[arg(long = "day")]
    pub days: Vec<String>,
    /// A caregiver: NAME,sms=+82...,email=...,webhook=https://...
    #[arg(long = "caregiver")]
    pub caregivers: Vec<String>,
}

fn caregiver(spec: &str) -> anyhow::Result<CaregiverInput> {
    let mut parts = spec.split(',');
    let mut c = CaregiverInput {
        name: parts.next().unwrap_or_default().trim().to_string(),
        ..Default::default()
    };
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .with_context(|| format!("caregiver field `{p}`: expected key=value"))?;
        let v = Some(v.trim().to_string());
        match k.trim() {
            "sms" => c.sms = v,
            "email" => c.email = v,
            "webhook" | "webhook_url" => c.webhook_url = v,
            other => anyhow::bail!("caregiver field `{other}`: expected sms, email or webhook"),
        }
    }
    Ok(c)
}

pub async fn run(db_url: &str, public_base: &str, cmd: &PeopleCommand) -> anyhow::Result<String> {
    let store = SqlStore::open(db_url)
        .await
        .with_context(|| format!("opening {}", haru_store::redact_url(db_url)))?;
    let json = |p: &haru_store::companion::Person| -> String {
        let mut v = serde_json::to_value(p).unwrap_or_default();
        if let serde_json::Value::Object(m) = &mut v {
            m.insert(
                "calendar_url".into(),
                format!(
                    "{}/api/people/{}/calendar.ics?token={}",
                    public_base.trim_end_matches('/'),
                    p.id,
                    p.calendar_token
                )
                .into(),
            );
        }
        serde_json::to_string_pretty(&v).unwrap_or_default()
    };
    let patch = |id: &str, active: bool| {
        let store = store.clone();
        let id = id.to_string();
        async move {
            let current = store
                .person(&id)
                .await?
                .with_context(|| format!("no person {id}"))?;
            let p = PersonPatchInput {
                active: Some(active),
                ..Default::default()
            }
            .validate(&current)?;
            let updated = store.update_person(&id, &p).await??;
            anyhow::Ok(updated.with_context(|| format!("no person {id}"))?)
        }
    };
    Ok(match cmd {
        PeopleCommand::Add(a) => {
            let input = PersonInput {
                name: a.name.clone(),
                phone: a.phone.clone(),
                language: a.language.clone(),
                timezone: a.timezone.clone(),
                call_times: a.times.clone(),
                window_minutes: a.window,
                days: a.days.clone(),
                active: true,
                caregivers: a
                    .caregivers
                    .iter()
                    .map(|c| caregiver(c))
                    .collect::<anyhow::Result<_>>()?,
            };
            let p = store.add_person(&input.validate()?).await??;
            format!("added {} ({})\n{}", p.id, p.name, json(&p))
        }
        PeopleCommand::List => {
            let mut out = String::new();
            for p in store.people(false, 10_000, 0).await? {
                out.push_str(&format!(
                    "{}  {:<16} {:<16} {} {} {}{}\n",
                    p.id,
                    p.name,
                    p.phone,
                    p.language,
                    p.timezone,
                    p.call_times.join(","),
                    if p.active { "" } else { "  (paused)" }
                ));
            }
            if out.is_empty() {
                "no people yet: haru people add --name ... --phone +82...".into()
            } else {
                out
            }
        }
        PeopleCommand::Show { id } => {
            let p = store
                .person(id)
                .await?
                .with_context(|| format!("no person {id}"))?;
            json(&p)
        }
        PeopleCommand::Pause { id } => format!("paused {}", patch(id, false).await?.id),
        PeopleCommand::Resume { id } => format!("resumed {}", patch(id, true).await?.id),
        PeopleCommand::Delete { id } => {
            let e = store
                .erase_person(id)
                .await?
                .with_context(|| format!("no person {id}"))?;
            format!(
                "erased {id}: {}",
                serde_json::to_string(&e.removed).unwrap_or_default()
            )
        }
    })
}
