//! The dashboard's words in Korean and English. The language is the `haru_lang` cookie
//! (set by the switch in the header) or else the browser's `Accept-Language`; Korean
//! when neither says.

use axum::http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ko" => Some(Lang::Ko),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn other(self) -> Self {
        match self {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }

    /// The switch cookie first, then the first of `ko`/`en` in `Accept-Language` by its
    /// order of preference (q-values honoured).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        if let Some(l) = crate::auth::cookie(headers, LANG_COOKIE).and_then(Lang::parse) {
            return l;
        }
        let Some(accept) = headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::Ko;
        };
        let mut best: Option<(f32, Lang)> = None;
        for part in accept.split(',') {
            let mut it = part.split(';');
            let tag = it.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                .unwrap_or(1.0f32);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(l) = Lang::parse(primary)
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::Ko)
    }

    pub fn t(self) -> &'static Texts {
        match self {
            Lang::Ko => &KO,
            Lang::En => &EN,
        }
    }
}

pub const LANG_COOKIE: &str = "haru_lang";

pub struct Texts {
    pub lang_name: &'static str,
    pub people: &'static str,
    pub calls: &'static str,
    pub live: &'static str,
    pub alerts: &'static str,
    pub logout: &'static str,
    pub login: &'static str,
    pub login_title: &'static str,
    pub login_hint: &'static str,
    pub login_wrong: &'static str,
    pub token: &'static str,
    pub dashboard_off: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub today: &'static str,
    pub last_call: &'static str,
    pub mood_30: &'static str,
    pub open_alerts: &'static str,
    pub next_appointment: &'static str,
    pub no_people: &'static str,
    pub state_scheduled: &'static str,
    pub state_calling: &'static str,
    pub state_in_progress: &'static str,
    pub state_answered: &'static str,
    pub state_missed: &'static str,
    pub state_machine: &'static str,
    pub state_paused: &'static str,
    pub state_none: &'static str,
    pub diaries: &'static str,
    pub no_diaries: &'static str,
    pub upcoming: &'static str,
    pub no_upcoming: &'static str,
    pub calendar_feed: &'static str,
    pub mood_chart: &'static str,
    pub answered_chart: &'static str,
    pub memory: &'static str,
    pub no_memory: &'static str,
    pub delete: &'static str,
    pub caregivers: &'static str,
    pub no_caregivers: &'static str,
    pub settings: &'static str,
    pub call_time: &'static str,
    pub calls_active: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub recent_calls: &'static str,
    pub no_calls: &'static str,
    pub started: &'static str,
    pub ended: &'static str,
    pub end_reason: &'static str,
    pub direction: &'static str,
    pub status: &'static str,
    pub person: &'static str,
    pub transcript: &'static str,
    pub no_transcript: &'static str,
    pub caller: &'static str,
    pub haru: &'static str,
    pub interrupted: &'static str,
    pub turns: &'static str,
    pub turn: &'static str,
    pub first_audio: &'static str,
    pub outcome: &'static str,
    pub barge_in: &'static str,
    pub diary: &'static str,
    pub schedules: &'static str,
    pub mood: &'static str,
    pub quality: &'static str,
    pub none_yet: &'static str,
    pub live_none: &'static str,
    pub live_hint: &'static str,
    pub ack: &'static str,
    pub acked: &'static str,
    pub open: &'static str,
    pub evidence: &'static str,
    pub no_alerts: &'static str,
    pub older: &'static str,
    pub newer: &'static str,
    pub days_answered: &'static str,
    pub days_missed: &'static str,
    pub not_found: &'static str,
    pub bad_request: &'static str,
    pub forbidden: &'static str,
    pub store_error: &'static str,
    pub talk: &'static str,
    pub recording: &'static str,
    pub recording_hint: &'static str,
    pub talk_hint: &'static str,
    pub talk_call: &'static str,
    pub talk_hangup: &'static str,
    pub talk_connecting: &'static str,
    pub talk_ended: &'static str,
    pub talk_no_mic: &'static str,
}

pub static KO: Texts = Texts {
    lang_name: "한국어",
    people: "사람들",
    calls: "통화",
    live: "진행 중",
    alerts: "알림",
    logout: "로그아웃",
    login: "로그인",
    login_title: "하루 대시보드",
    login_hint: "운영자 토큰(HARU_API_TOKEN)을 입력하세요.",
    login_wrong: "토큰이 맞지 않습니다.",
    token: "토큰",
    dashboard_off: "대시보드가 꺼져 있습니다: HARU_API_TOKEN을 설정하세요 (또는 프록시 없이 이 컴퓨터에서만 열려면 HARU_API_LOCAL_ONLY=1).",
    name: "이름",
    phone: "전화번호",
    today: "오늘",
    last_call: "마지막 통화",
    mood_30: "기분 (30일)",
    open_alerts: "열린 알림",
    next_appointment: "다음 일정",
    no_people: "아직 등록된 사람이 없습니다. `haru people add`로 추가하세요.",
    state_scheduled: "예정",
    state_calling: "전화 거는 중",
    state_in_progress: "통화 중",
    state_answered: "통화함",
    state_missed: "받지 않음",
    state_machine: "자동응답",
    state_paused: "일시 중지",
    state_none: "오늘 통화 없음",
    diaries: "일기",
    no_diaries: "아직 일기가 없습니다.",
    upcoming: "다가오는 일정",
    no_upcoming: "다가오는 일정이 없습니다.",
    calendar_feed: "캘린더 구독 링크",
    mood_chart: "기분 변화",
    answered_chart: "받은 통화 / 놓친 통화",
    memory: "기억",
    no_memory: "기억하는 내용이 없습니다.",
    delete: "삭제",
    caregivers: "보호자",
    no_caregivers: "등록된 보호자가 없습니다.",
    settings: "설정",
    call_time: "전화 시간",
    calls_active: "매일 전화하기",
    save: "저장",
    saved: "저장했습니다.",
    recent_calls: "최근 통화",
    no_calls: "통화가 없습니다.",
    started: "시작",
    ended: "종료",
    end_reason: "종료 이유",
    direction: "방향",
    status: "상태",
    person: "사람",
    transcript: "대화 내용",
    no_transcript: "아직 대화가 없습니다.",
    caller: "그분",
    haru: "하루",
    interrupted: "말이 끊김",
    turns: "차례별 응답 시간",
    turn: "차례",
    first_audio: "첫 소리까지",
    outcome: "결과",
    barge_in: "끼어들기",
    diary: "일기",
    schedules: "일정",
    mood: "기분",
    quality: "통화 품질",
    none_yet: "아직 없음",
    live_none: "지금 진행 중인 통화가 없습니다.",
    live_hint: "대화가 오가는 대로 여기에 나타납니다.",
    ack: "확인",
    acked: "확인됨",
    open: "열림",
    evidence: "근거",
    no_alerts: "알림이 없습니다.",
    older: "이전",
    newer: "다음",
    days_answered: "받은 날",
    days_missed: "놓친 날",
    not_found: "찾을 수 없습니다.",
    bad_request: "잘못된 요청입니다.",
    forbidden: "허용되지 않는 요청입니다. 페이지를 새로 고친 뒤 다시 시도하세요.",
    store_error: "데이터베이스를 읽지 못했습니다.",
    talk: "하루와 통화",
    recording: "녹음",
    recording_hint: "왼쪽: 그분, 오른쪽: 하루",
    talk_hint: "전화 없이 이 브라우저의 마이크로 하루와 이야기해 보세요. 하루가 말할 때 끼어들면 멈춥니다.",
    talk_call: "전화 걸기",
    talk_hangup: "끊기",
    talk_connecting: "연결하는 중…",
    talk_ended: "통화가 끝났습니다.",
    talk_no_mic: "마이크를 쓸 수 없습니다. 브라우저에서 마이크를 허용해 주세요.",
};

pub static EN: Texts = Texts {
    lang_name: "English",
    people: "People",
    calls: "Calls",
    live: "Live",
    alerts: "Alerts",
    logout: "Log out",
    login: "Log in",
    login_title: "haru dashboard",
    login_hint: "Enter the operator token (HARU_API_TOKEN).",
    login_wrong: "That token is not right.",
    token: "Token",
    dashboard_off: "The dashboard is off: set HARU_API_TOKEN (or HARU_API_LOCAL_ONLY=1 to open it to this machine only, without a proxy).",
    name: "Name",
    phone: "Phone",
    today: "Today",
    last_call: "Last call",
    mood_30: "Mood (30 days)",
    open_alerts: "Open alerts",
    next_appointment: "Next appointment",
    no_people: "No one yet. Add people with `haru people add`.",
    state_scheduled: "scheduled",
    state_calling: "calling",
    state_in_progress: "in progress",
    state_answered: "answered",
    state_missed: "missed",
    state_machine: "answering machine",
    state_paused: "paused",
    state_none: "no call today",
    diaries: "Diaries",
    no_diaries: "No diary yet.",
    upcoming: "Upcoming",
    no_upcoming: "Nothing coming up.",
    calendar_feed: "Calendar feed",
    mood_chart: "Mood",
    answered_chart: "Answered / missed calls",
    memory: "Memory",
    no_memory: "Nothing remembered.",
    delete: "Delete",
    caregivers: "Caregivers",
    no_caregivers: "No caregiver.",
    settings: "Settings",
    call_time: "Call time",
    calls_active: "Call every day",
    save: "Save",
    saved: "Saved.",
    recent_calls: "Recent calls",
    no_calls: "No calls.",
    started: "Started",
    ended: "Ended",
    end_reason: "End reason",
    direction: "Direction",
    status: "Status",
    person: "Person",
    transcript: "Transcript",
    no_transcript: "Nothing said yet.",
    caller: "Caller",
    haru: "haru",
    interrupted: "interrupted",
    turns: "Turns",
    turn: "Turn",
    first_audio: "First audio",
    outcome: "Outcome",
    barge_in: "Barge-in",
    diary: "Diary",
    schedules: "Schedules",
    mood: "Mood",
    quality: "Quality",
    none_yet: "none yet",
    live_none: "No call in progress.",
    live_hint: "What is said appears here as it happens.",
    ack: "Acknowledge",
    acked: "acknowledged",
    open: "open",
    evidence: "Evidence",
    no_alerts: "No alerts.",
    older: "Older",
    newer: "Newer",
    days_answered: "answered",
    days_missed: "missed",
    not_found: "Not found.",
    bad_request: "Bad request.",
    forbidden: "Request refused. Reload the page and try again.",
    store_error: "The database could not be read.",
    talk: "Talk",
    recording: "Recording",
    recording_hint: "left: the caller, right: haru",
    talk_hint: "Talk to haru with this browser's microphone, no phone needed. Talk over haru and it stops, as on the phone.",
    talk_call: "Call haru",
    talk_hangup: "Hang up",
    talk_connecting: "Connecting…",
    talk_ended: "The call has ended.",
    talk_no_mic: "No microphone: allow this page to use it.",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(v).unwrap(),
        );
        h
    }

    #[test]
    fn the_browser_language_chooses_unless_switched() {
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::Ko);
        assert_eq!(Lang::from_headers(&with_accept("en-US,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::from_headers(&with_accept("ko-KR,ko;q=0.9,en;q=0.8")),
            Lang::Ko
        );
        assert_eq!(
            Lang::from_headers(&with_accept("en;q=0.3, ko;q=0.7")),
            Lang::Ko
        );
        assert_eq!(Lang::from_headers(&with_accept("fr-FR")), Lang::Ko);
        let mut h = with_accept("en-US");
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("x=1; haru_lang=ko"),
        );
        assert_eq!(Lang::from_headers(&h), Lang::Ko);
    }
}
