//! Rendering charts like `helm template`: the engine, Helm's functions and objects, and the
//! conversions between values and template values.

pub mod convert;
pub mod engine;
pub mod fmt;
pub mod funcs;
pub mod json;
pub mod objects;
pub mod pretty;
pub mod toml;
