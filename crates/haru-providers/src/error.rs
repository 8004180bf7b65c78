use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("{stage} timed out after {after:?}")]
    Timeout {
        stage: &'static str,
        after: Duration,
    },
    #[error("{stage} failed with HTTP {status}: {message}")]
    Http {
        stage: &'static str,
        status: u16,
        message: String,
    },
    #[error("{stage} unreachable: {message}")]
    Transport {
        stage: &'static str,
        message: String,
    },
    #[error("{stage} sent an invalid answer: {message}")]
    Protocol {
        stage: &'static str,
        message: String,
    },
}

impl ProviderError {
    pub fn stage(&self) -> &'static str {
        match self {
            ProviderError::Timeout { stage, .. }
            | ProviderError::Http { stage, .. }
            | ProviderError::Transport { stage, .. }
            | ProviderError::Protocol { stage, .. } => stage,
        }
    }

    pub(crate) fn transport(stage: &'static str, e: reqwest::Error) -> Self {
        // The URL may carry nothing secret, but the key travels in a header that reqwest never prints.
        ProviderError::Transport {
            stage,
            message: e.without_url().to_string(),
        }
    }

    /// Reads an OpenAI-shaped error body (`{"error":{"message":...}}`) if there is one.
    pub(crate) async fn from_response(stage: &'static str, resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
        ProviderError::Http {
            stage,
            status,
            message,
        }
    }
}
