//! The worker loop: claim a due job, run it while heartbeating its lease, record the
//! outcome, repeat; sleep a poll interval when idle.

use std::sync::Arc;

use chrono::Utc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::queue::{Claim, Job, backoff};
use crate::{Error, PostCall, Result, jobs};

impl PostCall {
    /// Runs jobs until `shutdown`. Jobs left `running` by a crashed or restarted process
    /// are picked up once their lease expires; a job interrupted by `shutdown` is handed
    /// back to the queue at once.
    pub fn spawn_worker(self: Arc<Self>, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            tracing::info!("post-call worker started");
            while !shutdown.is_cancelled() {
                // Registered before looking, so a job queued meanwhile still wakes us.
                let woken = self.notify.notified();
                match self.run_one(&shutdown).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "post-call queue error"),
                }
                tokio::select! {
                    _ = woken => {}
                    _ = tokio::time::sleep(self.cfg.poll_interval) => {}
                    _ = shutdown.cancelled() => {}
                }
            }
            tracing::info!("post-call worker stopped");
        })
    }

    /// Claims one due job without running it: what a worker holds at the moment it
    /// crashes. Public for tests and tools.
    pub async fn claim_next(&self) -> Result<Option<Claim>> {
        Ok(self.store.claim_job(self.cfg.lease, Utc::now()).await?)
    }

    /// Claims and runs one due job; returns its row afterwards, or `None` when nothing
    /// was due.
    pub async fn run_one(&self, shutdown: &CancellationToken) -> Result<Option<Job>> {
        let Some(claim) = self.claim_next().await? else {
            return Ok(None);
        };
        let job = &claim.job;
        tracing::info!(id = job.id, call_sid = %job.call_sid, kind = job.kind.as_str(),
            attempt = job.attempts, "post-call job started");
        let result = tokio::select! {
            r = jobs::run(self, &claim) => r,
            () = self.keep_lease(&claim) => Err(Error::LeaseLost),
            () = shutdown.cancelled() => {
                self.store.release_job(&claim, Utc::now()).await?;
                return Ok(self.store.job(job.id).await?);
            }
        };
        match result {
            Ok(detail) => {
                tracing::info!(id = job.id, kind = job.kind.as_str(), %detail, "post-call job done");
            }
            Err(Error::LeaseLost) => {
                tracing::warn!(
                    id = job.id,
                    "post-call job lease lost; another worker has it"
                );
            }
            Err(e) => {
                let permanent = !e.is_transient();
                let retry_in = backoff(
                    self.cfg.base_backoff,
                    job.attempts,
                    crate::MAX_BACKOFF.max(self.cfg.base_backoff),
                );
                tracing::warn!(id = job.id, kind = job.kind.as_str(), error = %e, permanent,
                    ?retry_in, "post-call job attempt failed");
                self.store
                    .fail_job(&claim, &e.to_string(), permanent, retry_in, Utc::now())
                    .await?;
            }
        }
        Ok(self.store.job(job.id).await?)
    }

    /// Heartbeats until the lease is lost (then returns); never returns while it holds.
    async fn keep_lease(&self, claim: &Claim) {
        let every = (self.cfg.lease / 3).max(std::time::Duration::from_millis(10));
        loop {
            tokio::time::sleep(every).await;
            match self
                .store
                .heartbeat_job(claim, self.cfg.lease, Utc::now())
                .await
            {
                Ok(true) => {}
                Ok(false) => return,
                // A busy database is not a lost lease; try again next beat.
                Err(e) => tracing::warn!(error = %e, "post-call heartbeat failed"),
            }
        }
    }
}
