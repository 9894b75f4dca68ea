//! Leader election on a `coordination.k8s.io` Lease.
//!
//! With `--enable-leader-election`, only the instance that holds the Lease
//! reconciles or writes. Timings are Flux's: lease 35 s, renew deadline 30 s,
//! retry every 5 s. The Lease is released on shutdown so a standby takes over
//! at once instead of after the lease expires.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};
use tokio::sync::watch;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, creating or updating the Lease failed.
    #[error("{action} lease {namespace}/{name}: {source}")]
    LeaseFailed {
        /// What was being done.
        action: &'static str,
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// The cause.
        source: kube::Error,
    },
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Flux's lease duration.
pub const LEASE_DURATION: Duration = Duration::from_secs(35);
/// Flux's renew deadline: a leader that cannot renew for this long steps down.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(30);
/// Flux's retry period between attempts.
pub const RETRY_PERIOD: Duration = Duration::from_secs(5);

/// Where the Lease lives and how it is timed.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Lease's namespace (the controller's own).
    pub namespace: String,
    /// The Lease's name (Flux uses e.g. `source-controller-leader-election`).
    pub name: String,
    /// This instance's identity (the pod name, plus a random suffix).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How long a leader keeps trying to renew before it steps down.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry_period: Duration,
    /// Give the Lease up on shutdown (`--leader-election-release-on-cancel`);
    /// otherwise a standby waits for it to expire.
    pub release_on_cancel: bool,
}

impl Config {
    /// Flux's timings for Lease `namespace/name`, with an identity made of
    /// the hostname and a random suffix.
    pub fn new(namespace: &str, name: &str) -> Self {
        let host = std::env::var("POD_NAME").or_else(|_| std::env::var("HOSTNAME")).unwrap_or_else(|_| "ferry".into());
        Self {
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: format!("{host}_{:08x}", rand::random::<u32>()),
            lease_duration: LEASE_DURATION,
            renew_deadline: RENEW_DEADLINE,
            retry_period: RETRY_PERIOD,
            release_on_cancel: true,
        }
    }
}

/// Whether this instance leads, as a watch channel that changes over time.
#[derive(Debug, Clone)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
}

impl Leadership {
    /// Leadership that is always held (leader election turned off).
    pub fn always() -> Self {
        let (tx, rx) = watch::channel(true);
        // Keep the sender alive for the life of the process so the value stays.
        std::mem::forget(tx);
        Self { rx }
    }

    /// Whether this instance leads right now.
    pub fn is_leader(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until this instance leads.
    pub async fn acquired(&mut self) {
        let _ = self.rx.wait_for(|leading| *leading).await;
    }

    /// Waits until this instance stops leading (or the elector stops).
    pub async fn lost(&mut self) {
        let _ = self.rx.wait_for(|leading| !*leading).await;
    }
}

/// Runs the election loop in the background.
pub struct LeaderElector {
    config: Arc<Config>,
    api: Api<Lease>,
    tx: watch::Sender<bool>,
}

impl LeaderElector {
    /// An elector for `config`.
    pub fn new(client: Client, config: Config) -> Self {
        let api = Api::namespaced(client, &config.namespace);
        let (tx, _) = watch::channel(false);
        Self { config: Arc::new(config), api, tx }
    }

    /// This instance's leadership.
    pub fn leadership(&self) -> Leadership {
        Leadership { rx: self.tx.subscribe() }
    }

    /// Tries to acquire or renew the Lease until `shutdown` resolves, then
    /// releases it if held. Leadership is dropped when renewal fails for
    /// longer than the renew deadline.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut last_renewed: Option<Instant> = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    last_renewed = Some(Instant::now());
                    if !*self.tx.borrow() {
                        tracing::info!(lease = %self.config.name, identity = %self.config.identity, "acquired lease");
                    }
                    self.tx.send_replace(true);
                }
                Ok(false) => {
                    last_renewed = None;
                    self.tx.send_replace(false);
                }
                Err(error) => {
                    tracing::warn!(%error, "leader election");
                    if last_renewed.is_some_and(|t| t.elapsed() > self.config.renew_deadline) {
                        tracing::error!(lease = %self.config.name, "failed to renew lease within the deadline, stepping down");
                        last_renewed = None;
                        self.tx.send_replace(false);
                    }
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.config.retry_period) => {}
            }
        }
        if *self.tx.borrow() {
            self.tx.send_replace(false);
            if !self.config.release_on_cancel {
                tracing::info!(lease = %self.config.name, "leaving the lease to expire");
                return;
            }
            match self.release().await {
                Ok(()) => tracing::info!(lease = %self.config.name, "released lease"),
                Err(error) => tracing::warn!(%error, "releasing lease"),
            }
        }
    }

    fn error(&self, action: &'static str) -> impl FnOnce(kube::Error) -> Error + '_ {
        move |source| Error::LeaseFailed {
            action,
            namespace: self.config.namespace.clone(),
            name: self.config.name.clone(),
            source,
        }
    }

    /// One round of the election: true when this instance holds the Lease.
    async fn try_acquire_or_renew(&self) -> Result<bool> {
        let now = Timestamp::now();
        let duration_secs = i32::try_from(self.config.lease_duration.as_secs()).unwrap_or(i32::MAX);
        let Some(mut lease) = self.api.get_opt(&self.config.name).await.map_err(self.error("reading"))? else {
            let lease = Lease {
                metadata: ObjectMeta { name: Some(self.config.name.clone()), ..ObjectMeta::default() },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(e) => Err(self.error("creating")(e)),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.config.identity;
        if !ours && !holder.is_empty() {
            let renewed = spec.renew_time.as_ref().map(|t| t.0).unwrap_or(Timestamp::UNIX_EPOCH);
            let valid_for = SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(duration_secs)));
            if renewed + valid_for > now {
                return Ok(false);
            }
        }
        if !ours {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.holder_identity = Some(self.config.identity.clone());
        spec.lease_duration_seconds = Some(duration_secs);
        spec.renew_time = Some(MicroTime(now));
        // replace carries the resourceVersion we read: a concurrent writer makes this a 409.
        match self.api.replace(&lease.name_any(), &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(self.error("updating")(e)),
        }
    }

    /// Gives the Lease up, as client-go does on release: no holder, and a
    /// one-second duration so others need not wait.
    async fn release(&self) -> Result<()> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await.map_err(self.error("reading"))? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        self.api.replace(&lease.name_any(), &PostParams::default(), &lease).await.map_err(self.error("releasing"))?;
        Ok(())
    }
}
