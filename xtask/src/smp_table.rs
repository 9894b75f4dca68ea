//! Generates the strategic-merge-patch table of `ferry-kustomize` from the local control plane's
//! `/openapi/v2`: merge keys and patch strategies of every built-in kind.

use crate::{cluster, paths};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;

fn table_path() -> PathBuf {
    paths::root().join("crates/kustomize/src/smp_table.txt")
}

/// Writes the table, or with `check` fails when the committed one differs.
pub async fn run(check: bool) -> Result<()> {
    let client =
        cluster::admin_client().await.context("connecting to the local control plane (cargo xtask cluster up)")?;
    let request = http::Request::get("/openapi/v2").body(Vec::new())?;
    let text = client.request_text(request).await.context("fetching /openapi/v2")?;
    let mut doc: serde_json::Value = serde_json::from_str(&text).context("parsing /openapi/v2")?;
    // Built-in kinds only: CRDs installed in the cluster (by tests, say) carry no
    // strategic-merge metadata and must not change the table.
    if let Some(definitions) = doc.get_mut("definitions").and_then(|d| d.as_object_mut()) {
        definitions.retain(|name, _| name.starts_with("io.k8s."));
    }
    let table = ferry_kustomize::smp::Schema::table_from_swagger(&doc);
    let path = table_path();
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != table {
            bail!("{} is out of date: run `cargo xtask codegen`", path.display());
        }
        println!("{} is up to date", path.display());
    } else {
        std::fs::write(&path, &table)?;
        println!("wrote {} ({} bytes)", path.display(), table.len());
    }
    Ok(())
}
