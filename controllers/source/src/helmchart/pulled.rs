//! A chart downloaded from a chart repository, finished as Flux's remote
//! builder finishes it: checked to be a chart and kept byte for byte, or,
//! when values files or build metadata change it, repackaged.

use super::build::{self, Build, BuildError, Cause, Reason};

/// A downloaded chart checked as a chart, and repackaged when values files
/// or build metadata change it (Flux's remote builder).
pub fn finish(
    data: Vec<u8>,
    mut result: Build,
    values_files: &[String],
    ignore_missing: bool,
    requires_packaging: bool,
    max_file: u64,
) -> Result<Build, BuildError> {
    let load = |reason: Reason, context: &str| {
        let context = context.to_string();
        move |source| BuildError::new(reason, Cause::Load { context, source })
    };
    if !requires_packaging {
        ferry_helm::chart::load::load_archive_with(&data, max_file)
            .map_err(load(Reason::Pull, "failed to load chart metadata from written chart"))?;
        result.package = Some(data);
        return Ok(result);
    }
    let mut chart = ferry_helm::chart::load::load_archive_with(&data, max_file)
        .map_err(load(Reason::Package, "failed to load downloaded chart"))?;
    chart.metadata.version = result.version.clone();
    let (merged, used) = build::merge_chart_values(&chart, values_files, ignore_missing)?;
    if build::overwrite_default_values(&mut chart, merged)? {
        result.values_files = used;
    }
    result.package = Some(build::package(&chart)?);
    result.packaged = true;
    Ok(result)
}
