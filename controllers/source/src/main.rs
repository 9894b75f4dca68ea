//! `source-controller`: Flux's source-controller flags, Ferry's engine.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ferry_sdk::module::main(&ferry_source_controller::MODULE).await.map_err(|error| anyhow::anyhow!(error))
}
