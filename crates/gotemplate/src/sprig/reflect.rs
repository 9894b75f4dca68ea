//! Sprig's reflection functions: Go's type and kind names of values.

use super::deep_equal;
use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::Value;

fn type_of(v: &Value) -> &str {
    if v.is_nil() { "<nil>" } else { v.type_name() }
}

pub(super) fn register(m: &mut FuncMap) {
    use Ty::{Any, String as Str};
    m.insert("typeOf", Function::fixed(&[Any], |a| Ok(Value::string(type_of(&a[0])))));
    m.insert("typeIs", Function::fixed(&[Str, Any], |a| Ok(Value::Bool(a[0].as_str() == Some(type_of(&a[1]))))));
    m.insert(
        "typeIsLike",
        Function::fixed(&[Str, Any], |a| {
            let t = type_of(&a[1]);
            let target = a[0].as_str().unwrap_or_default();
            Ok(Value::Bool(target == t || format!("*{target}") == t))
        }),
    );
    m.insert("kindOf", Function::fixed(&[Any], |a| Ok(Value::string(a[0].kind_name()))));
    m.insert("kindIs", Function::fixed(&[Str, Any], |a| Ok(Value::Bool(a[0].as_str() == Some(a[1].kind_name())))));
    m.insert("deepEqual", Function::fixed(&[Any, Any], |a| Ok(Value::Bool(deep_equal(&a[0], &a[1])))));
}
