//! Values: Helm's `--set` parsers, coalescing chart defaults with user values, and reading
//! values files.

pub mod coalesce;
pub mod dependencies;
pub mod strvals;
