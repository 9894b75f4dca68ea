//! `notification-controller`: Flux's notification-controller flags, Ferry's event server,
//! providers and webhook receivers.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ferry_sdk::module::main(&ferry_notification_controller::MODULE).await.map_err(|error| anyhow::anyhow!(error))
}
