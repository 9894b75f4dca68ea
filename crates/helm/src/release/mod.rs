//! What Helm does with rendered files (`pkg/releaseutil`): split into documents, read each head,
//! separate hooks, and sort in install order.

pub mod manifest;
pub mod sort;
