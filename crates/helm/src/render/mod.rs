//! Rendering charts like `helm template`.

pub mod fmt;
