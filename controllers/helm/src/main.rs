//! `helm-controller`: Flux's helm-controller flags, Ferry's Helm engine.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ferry_sdk::module::main(&ferry_helm_controller::MODULE).await.map_err(|error| anyhow::anyhow!(error))
}
