//! The command-line flags every Flux controller shares, with Flux's names and
//! defaults. Flatten [`RuntimeFlags`] into a controller's own clap parser.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An address flag is not `host:port` or `:port`.
    #[error("invalid address {0:?}: want host:port or :port")]
    InvalidAddress(String),
    /// A duration flag is not a Go duration.
    #[error("invalid duration {0:?}: want a Go duration like 750ms, 5m or 1h30m")]
    InvalidDuration(String),
    /// `--feature-gates` is malformed.
    #[error("invalid feature gate {0:?}: want Name=true|false")]
    InvalidFeatureGate(String),
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `--log-encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogEncoding {
    /// One JSON object per line, like Flux's.
    #[default]
    Json,
    /// Human-readable lines.
    Console,
}

/// `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Informational messages and errors.
    #[default]
    Info,
    /// Also debug messages.
    Debug,
    /// Everything.
    Trace,
}

/// The flags shared by every Flux-style controller.
#[derive(Debug, Clone, Args)]
pub struct RuntimeFlags {
    /// The address the metric endpoint binds to.
    #[arg(long = "metrics-addr", default_value = ":8080")]
    pub metrics_addr: String,
    /// The address the health endpoints bind to.
    #[arg(long = "health-addr", default_value = ":9440")]
    pub health_addr: String,
    /// The HTTP address of notification-controller's event receiver.
    #[arg(long = "events-addr", default_value = "")]
    pub events_addr: String,
    /// Enable leader election, so only one instance reconciles at a time.
    #[arg(long = "enable-leader-election", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub enable_leader_election: bool,
    /// Lease duration of the leader election.
    #[arg(long = "leader-election-lease-duration", default_value = "35s", value_parser = parse_duration)]
    pub leader_election_lease_duration: Duration,
    /// How long the leader keeps trying to renew.
    #[arg(long = "leader-election-renew-deadline", default_value = "30s", value_parser = parse_duration)]
    pub leader_election_renew_deadline: Duration,
    /// How often to retry acquiring or renewing the lease.
    #[arg(long = "leader-election-retry-period", default_value = "5s", value_parser = parse_duration)]
    pub leader_election_retry_period: Duration,
    /// Give the Lease up on shutdown, so a standby takes over at once.
    #[arg(long = "leader-election-release-on-cancel", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub leader_election_release_on_cancel: bool,
    /// The number of concurrent reconciles.
    #[arg(long = "concurrent", default_value_t = 4)]
    pub concurrent: u16,
    /// Only watch objects whose labels match this selector (sharding).
    #[arg(long = "watch-label-selector", default_value = "")]
    pub watch_label_selector: String,
    /// The label selector of the Secrets and ConfigMaps whose changes
    /// trigger a reconcile of the objects that use them.
    #[arg(long = "watch-configs-label-selector", default_value = "reconcile.fluxcd.io/watch=Enabled")]
    pub watch_configs_label_selector: String,
    /// Watch all namespaces (the default) or only the runtime namespace.
    #[arg(long = "watch-all-namespaces", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub watch_all_namespaces: bool,
    /// The lower bound of the per-object retry backoff.
    #[arg(long = "min-retry-delay", default_value = "750ms", value_parser = parse_duration)]
    pub min_retry_delay: Duration,
    /// The upper bound of the per-object retry backoff.
    #[arg(long = "max-retry-delay", default_value = "15m", value_parser = parse_duration)]
    pub max_retry_delay: Duration,
    /// Spread of the interval requeue, in percent.
    #[arg(long = "interval-jitter-percentage", default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..100))]
    pub interval_jitter_percentage: u8,
    /// Log verbosity.
    #[arg(long = "log-level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Log format.
    #[arg(long = "log-encoding", value_enum, default_value_t = LogEncoding::Json)]
    pub log_encoding: LogEncoding,
    /// Requests per second the Kubernetes client may make.
    #[arg(long = "kube-api-qps", default_value_t = 50.0)]
    pub kube_api_qps: f32,
    /// Burst of requests the Kubernetes client may make above the QPS.
    #[arg(long = "kube-api-burst", default_value_t = 300)]
    pub kube_api_burst: u32,
    /// Refuse references to objects in other namespaces.
    #[arg(long = "no-cross-namespace-refs", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub no_cross_namespace_refs: bool,
    /// The service account to impersonate when an object names none.
    #[arg(long = "default-service-account", default_value = "")]
    pub default_service_account: String,
    /// Feature gates as comma-separated Name=true|false pairs.
    #[arg(long = "feature-gates", default_value = "")]
    pub feature_gates: String,
    /// The OTLP endpoint for traces; tracing export is off when empty.
    #[arg(long = "otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", default_value = "")]
    pub otlp_endpoint: String,
    /// The interval at which failing dependencies are reevaluated.
    #[arg(long = "requeue-dependency", default_value = "30s", value_parser = parse_duration)]
    pub requeue_dependency: Duration,
    /// The maximum number of retries when failing to fetch artifacts over HTTP.
    #[arg(long = "http-retry", default_value_t = 9)]
    pub http_retry: u32,
    /// The maximum duration a cloud token is cached (accepted for Flux's
    /// manifests; Ferry obtains no cloud tokens yet).
    #[arg(long = "token-cache-max-duration", default_value = "1h", value_parser = parse_duration)]
    pub token_cache_max_duration: Duration,
    /// The maximum number of cached cloud tokens (accepted for Flux's
    /// manifests; Ferry obtains no cloud tokens yet).
    #[arg(long = "token-cache-max-size", default_value_t = 100)]
    pub token_cache_max_size: u32,
    /// How long to let in-flight reconciles finish on shutdown.
    #[arg(long = "graceful-shutdown-timeout", default_value = "600s", value_parser = parse_duration)]
    pub graceful_shutdown_timeout: Duration,
}

impl RuntimeFlags {
    /// The parsed `--feature-gates`.
    pub fn feature_gates(&self) -> Result<BTreeMap<String, bool>> {
        parse_feature_gates(&self.feature_gates)
    }

    /// The metrics address, or `None` when set to `0` (off).
    pub fn metrics_socket(&self) -> Result<Option<SocketAddr>> {
        parse_addr(&self.metrics_addr)
    }

    /// The health address, or `None` when set to `0` (off).
    pub fn health_socket(&self) -> Result<Option<SocketAddr>> {
        parse_addr(&self.health_addr)
    }
}

/// Parses Go's `host:port` and `:port` (all interfaces); `0` or empty is off.
pub fn parse_addr(addr: &str) -> Result<Option<SocketAddr>> {
    if addr.is_empty() || addr == "0" {
        return Ok(None);
    }
    let invalid = || Error::InvalidAddress(addr.to_string());
    let (host, port) = addr.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => other.parse().map_err(|_| invalid())?,
    };
    Ok(Some(SocketAddr::new(ip, port)))
}

/// Parses a Go duration (`750ms`, `5m`, `1h30m`, `1.5s`).
pub fn parse_duration(text: &str) -> Result<Duration> {
    ferry_api_meta::duration::parse(text).map_err(|_| Error::InvalidDuration(text.to_string()))
}

/// Parses `A=true,B=false`.
pub fn parse_feature_gates(text: &str) -> Result<BTreeMap<String, bool>> {
    let mut gates = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').ok_or_else(|| Error::InvalidFeatureGate(pair.to_string()))?;
        let value = value.trim().parse::<bool>().map_err(|_| Error::InvalidFeatureGate(pair.to_string()))?;
        gates.insert(name.trim().to_string(), value);
    }
    Ok(gates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        runtime: RuntimeFlags,
    }

    #[test]
    fn defaults_are_fluxs() {
        let cli = Cli::try_parse_from(["ctl"]).unwrap();
        let f = cli.runtime;
        assert_eq!(f.metrics_socket().unwrap(), Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(f.health_socket().unwrap(), Some("0.0.0.0:9440".parse().unwrap()));
        assert_eq!(f.min_retry_delay, Duration::from_millis(750));
        assert_eq!(f.max_retry_delay, Duration::from_secs(900));
        assert_eq!(f.interval_jitter_percentage, 5);
        assert_eq!(f.kube_api_qps, 50.0);
        assert_eq!(f.kube_api_burst, 300);
        assert_eq!(f.log_encoding, LogEncoding::Json);
        assert!(!f.enable_leader_election);
        assert!(f.watch_all_namespaces);
    }

    #[test]
    fn parses_flags() {
        let cli = Cli::try_parse_from([
            "ctl",
            "--log-level=debug",
            "--log-encoding=console",
            "--feature-gates=CacheSecretsAndConfigMaps=true, DisableStatusPollerCache=false",
            "--watch-all-namespaces=false",
            "--metrics-addr=127.0.0.1:0",
            "--max-retry-delay=1h30m",
        ])
        .unwrap();
        let f = cli.runtime;
        assert_eq!(f.log_level, LogLevel::Debug);
        assert_eq!(f.log_encoding, LogEncoding::Console);
        assert!(!f.watch_all_namespaces);
        assert_eq!(f.max_retry_delay, Duration::from_secs(5400));
        let gates = f.feature_gates().unwrap();
        assert_eq!(gates.get("CacheSecretsAndConfigMaps"), Some(&true));
        assert_eq!(gates.get("DisableStatusPollerCache"), Some(&false));
        assert!(Cli::try_parse_from(["ctl", "--interval-jitter-percentage=150"]).is_err());
        assert!(Cli::try_parse_from(["ctl", "--log-encoding=xml"]).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse_addr("8080").is_err());
        assert!(parse_addr("host:port").is_err());
        assert_eq!(parse_addr("0").unwrap(), None);
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_feature_gates("A=yes").is_err());
        assert!(parse_feature_gates("A").is_err());
    }
}
