//! Ferry's notification-controller: the event server that matches Flux
//! events against Alerts and forwards them to Providers, the webhook
//! receiver that turns calls from Git hosts and registries into reconcile
//! requests, and the Receiver reconciler that publishes each webhook path.
// Library users (the all-in-one binary, tests) read these items' docs.
#![deny(missing_docs)]

pub mod event;
pub mod notifier;
pub mod receiver;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args as _, FromArgMatches as _};
use ferry_sdk::module::{BoxError, Module, Setup};
use ferry_sdk::reconcile::Manager;

pub use receiver::ReceiverReconciler;

/// The controller's name: event source, field manager, leader lease prefix.
pub const CONTROLLER_NAME: &str = "notification-controller";

/// The event server's address when `--events-addr` names none, as Flux's default.
pub const DEFAULT_EVENTS_ADDR: &str = ":9090";

/// The flags of Flux's notification-controller besides the common ones.
/// `--events-addr` is the common flag: in this controller it is the address
/// the event server binds (`:9090`, or the port of a URL such as
/// `http://localhost:9090/` in the all-in-one binary, where the other
/// controllers post to that URL).
#[derive(Debug, Clone, clap::Args)]
pub struct NotificationFlags {
    /// The address the webhook receiver endpoint binds to.
    #[arg(long = "receiverAddr", default_value = ":9292")]
    pub receiver_addr: String,
    /// Interval in which rate limit has effect: duplicate events within it are dropped.
    #[arg(long = "rate-limit-interval", default_value = "5m", value_parser = ferry_sdk::flags::parse_duration)]
    pub rate_limit_interval: Duration,
    /// When enabled, the requests full path is included in the HTTP server metrics (accepted
    /// for Flux's manifests; Ferry's HTTP metrics carry no path).
    #[arg(long = "export-http-path-metrics", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub export_http_path_metrics: bool,
}

/// Where the event server binds, from the common `--events-addr`: a Go
/// `host:port`, the port of an `http(s)://` URL, or `:9090` when empty.
pub fn events_bind_addr(events_addr: &str) -> anyhow::Result<Option<SocketAddr>> {
    let text = if events_addr.is_empty() { DEFAULT_EVENTS_ADDR } else { events_addr };
    if text.contains("://") {
        let url = url::Url::parse(text)?;
        let port = url.port_or_known_default().ok_or_else(|| anyhow::anyhow!("{text}: no port"))?;
        return Ok(Some(SocketAddr::from(([0, 0, 0, 0], port))));
    }
    Ok(ferry_sdk::flags::parse_addr(text)?)
}

/// notification-controller as a module of a binary: its flags, the Receiver
/// kind and its two HTTP servers.
pub static MODULE: Module = Module {
    name: CONTROLLER_NAME,
    about: "Forwards Flux events to Providers and turns webhooks into reconcile requests",
    flags: NotificationFlags::augment_args,
    add: module_add,
};

fn module_add<'r>(manager: Manager<'r>, setup: &Setup<'_>) -> Result<Manager<'r>, BoxError> {
    let flags = NotificationFlags::from_arg_matches(setup.matches)?;
    let client = setup.factory.client()?;
    if let Some(addr) = events_bind_addr(&setup.flags.events_addr)? {
        let options = event::server::Options {
            rate_limit_interval: flags.rate_limit_interval,
            no_cross_namespace_refs: setup.flags.no_cross_namespace_refs,
        };
        let server = event::server::EventServer::new(client.clone(), options)?;
        spawn_server("event server", addr, server.router(), manager.runtime().stopped());
    }
    if let Some(addr) = ferry_sdk::flags::parse_addr(&flags.receiver_addr)? {
        let server = receiver::server::ReceiverServer::new(client)
            .with_no_cross_namespace_refs(setup.flags.no_cross_namespace_refs);
        spawn_server("webhook receiver", addr, server.router(), manager.runtime().stopped());
    }
    Ok(add_kinds(manager))
}

/// Adds the Receiver reconciler to `manager` (the manager of [`CONTROLLER_NAME`]);
/// the servers are started apart ([`event::server::EventServer`],
/// [`receiver::server::ReceiverServer`]).
pub fn add_kinds(manager: Manager<'_>) -> Manager<'_> {
    manager.add_with(ReceiverReconciler::new(), receiver::watches)
}

/// Serves `router` on `addr` until `stop` completes; a bind failure is logged.
fn spawn_server(
    name: &'static str,
    addr: SocketAddr,
    router: axum::Router,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::error!(%err, %addr, "{name} could not bind");
                return;
            }
        };
        tracing::info!(%addr, "{name} listening");
        if let Err(err) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
            tracing::error!(%err, "{name} failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        runtime: ferry_sdk::flags::RuntimeFlags,
        #[command(flatten)]
        notification: NotificationFlags,
    }

    /// Flux's flags parse as Go writes them, and the defaults are Flux's.
    #[test]
    fn fluxs_flags_parse_as_go_writes_them() {
        let cli = Cli::try_parse_from([
            "notification-controller",
            "--events-addr=:9090",
            "--receiverAddr=:9393",
            "--rate-limit-interval=30s",
            "--export-http-path-metrics",
            "--watch-all-namespaces=true",
        ])
        .unwrap();
        assert_eq!(cli.notification.receiver_addr, ":9393");
        assert_eq!(cli.notification.rate_limit_interval, Duration::from_secs(30));
        assert_eq!(events_bind_addr(&cli.runtime.events_addr).unwrap().unwrap().port(), 9090);
        let cli = Cli::try_parse_from(["notification-controller"]).unwrap();
        assert_eq!(cli.notification.receiver_addr, ":9292");
        assert_eq!(cli.notification.rate_limit_interval, Duration::from_secs(300));
        assert_eq!(events_bind_addr("").unwrap().unwrap().port(), 9090);
        assert_eq!(events_bind_addr("http://localhost:9191/").unwrap().unwrap().port(), 9191);
    }
}
