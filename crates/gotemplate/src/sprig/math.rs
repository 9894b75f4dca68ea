//! Sprig's arithmetic: integer functions convert with cast's `ToInt64` and
//! return int64; the `*f` functions compute in decimal as shopspring/decimal
//! does, so `addf 0.1 0.2` is 0.3.

use std::sync::Arc;

use rand::Rng;

use super::conv::{to_float64, to_int64};
use crate::error::FuncError;
use crate::func::{FuncMap, Function};
use crate::sig::Ty;
use crate::value::{Elem, Value};

fn div_zero() -> FuncError {
    FuncError::msg("runtime error: integer divide by zero")
}

/// A decimal `coef × 10^exp`, made from a float's shortest representation
/// (shopspring's `NewFromFloat`).
#[derive(Clone, Copy, Debug)]
struct Decimal {
    coef: i128,
    exp: i32,
}

impl Decimal {
    fn from_f64(f: f64) -> Option<Decimal> {
        if !f.is_finite() {
            return None;
        }
        let s = format!("{f:e}");
        let (mant, exp) = s.split_once('e')?;
        let exp: i32 = exp.parse().ok()?;
        let neg = mant.starts_with('-');
        let mant = mant.trim_start_matches('-');
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        let digits = format!("{int}{frac}");
        let coef: i128 = digits.parse().ok()?;
        Some(Decimal { coef: if neg { -coef } else { coef }, exp: exp - frac.len() as i32 })
    }

    fn rescale(self, exp: i32) -> Option<i128> {
        // exp <= self.exp
        let shift = (self.exp - exp) as u32;
        self.coef.checked_mul(10i128.checked_pow(shift)?)
    }

    fn add(self, o: Decimal) -> Option<Decimal> {
        let exp = self.exp.min(o.exp);
        Some(Decimal { coef: self.rescale(exp)?.checked_add(o.rescale(exp)?)?, exp })
    }

    fn sub(self, o: Decimal) -> Option<Decimal> {
        self.add(Decimal { coef: -o.coef, exp: o.exp })
    }

    fn mul(self, o: Decimal) -> Option<Decimal> {
        Some(Decimal { coef: self.coef.checked_mul(o.coef)?, exp: self.exp + o.exp })
    }

    /// shopspring's `Div`: rounded half away from zero at 16 decimal places.
    fn div(self, o: Decimal) -> Option<Decimal> {
        if o.coef == 0 {
            return None;
        }
        const PREC: i32 = 16;
        // result = self.coef / o.coef × 10^(self.exp - o.exp); want exponent -PREC.
        let shift = self.exp - o.exp + PREC;
        let (num, den) = if shift >= 0 {
            (self.coef.checked_mul(10i128.checked_pow(shift as u32)?)?, o.coef)
        } else {
            (self.coef, o.coef.checked_mul(10i128.checked_pow((-shift) as u32)?)?)
        };
        let q = num / den;
        let r = num % den;
        let q = if (r.abs() * 2) >= den.abs() { q + num.signum() * den.signum() } else { q };
        Some(Decimal { coef: q, exp: -PREC })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.coef, self.exp).parse().unwrap_or(f64::NAN)
    }
}

fn decimal_op(
    first: &Value,
    rest: &[Value],
    op: fn(Decimal, Decimal) -> Option<Decimal>,
    float: fn(f64, f64) -> f64,
) -> f64 {
    let mut acc_f = to_float64(first);
    let mut acc = Decimal::from_f64(acc_f);
    for x in rest {
        let xf = to_float64(x);
        acc = match (acc, Decimal::from_f64(xf)) {
            (Some(a), Some(b)) => op(a, b),
            _ => None,
        };
        acc_f = match acc {
            Some(d) => d.to_f64(),
            None => float(acc_f, xf),
        };
        if acc.is_none() {
            acc = Decimal::from_f64(acc_f);
        }
    }
    acc.map(Decimal::to_f64).unwrap_or(acc_f)
}

/// Sprig's `untilStep`.
fn until_step(start: i64, stop: i64, step: i64) -> Vec<i64> {
    let mut v = Vec::new();
    if stop < start {
        if step >= 0 {
            return v;
        }
        let mut i = start;
        while i > stop {
            v.push(i);
            i += step;
        }
        return v;
    }
    if step <= 0 {
        return v;
    }
    let mut i = start;
    while i < stop {
        v.push(i);
        i += step;
    }
    v
}

fn int_list(v: Vec<i64>) -> Value {
    Value::List(Arc::new(v.into_iter().map(Value::Int).collect()), Elem::Int)
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        _ => 0,
    }
}

/// Sprig's `seq`.
fn seq(params: &[i64]) -> String {
    let list = match params {
        [] => return String::new(),
        [end] => {
            let start = 1;
            let inc = if *end < start { -1 } else { 1 };
            until_step(start, end + inc, inc)
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if *step > 0 {
                    return String::new();
                }
            }
            until_step(*start, end + inc, *step)
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step(*start, end + step, step)
        }
        _ => return String::new(),
    };
    list.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" ")
}

pub(super) fn register(m: &mut FuncMap) {
    use Ty::{Any, Int};
    m.insert("add1", Function::fixed(&[Any], |a| Ok(Value::Int64(to_int64(&a[0]).wrapping_add(1)))));
    m.insert(
        "add",
        Function::variadic(&[], Any, |a| Ok(Value::Int64(a.iter().fold(0i64, |acc, x| acc.wrapping_add(to_int64(x)))))),
    );
    m.insert("sub", Function::fixed(&[Any, Any], |a| Ok(Value::Int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))));
    m.insert(
        "div",
        Function::fixed(&[Any, Any], |a| {
            let d = to_int64(&a[1]);
            if d == 0 {
                return Err(div_zero());
            }
            Ok(Value::Int64(to_int64(&a[0]).wrapping_div(d)))
        }),
    );
    m.insert(
        "mod",
        Function::fixed(&[Any, Any], |a| {
            let d = to_int64(&a[1]);
            if d == 0 {
                return Err(div_zero());
            }
            Ok(Value::Int64(to_int64(&a[0]).wrapping_rem(d)))
        }),
    );
    m.insert(
        "mul",
        Function::variadic(&[Any], Any, |a| {
            Ok(Value::Int64(a[1..].iter().fold(to_int64(&a[0]), |acc, x| acc.wrapping_mul(to_int64(x)))))
        }),
    );
    m.insert(
        "randInt",
        Function::fixed(&[Int, Int], |a| {
            let (lo, hi) = (int(&a[0]), int(&a[1]));
            if hi - lo <= 0 {
                return Err(FuncError::msg("invalid argument to Intn"));
            }
            Ok(Value::Int(rand::rng().random_range(0..hi - lo) + lo))
        }),
    );
    m.insert(
        "add1f",
        Function::fixed(&[Any], |a| Ok(Value::Float(decimal_op(&a[0], &[Value::Int(1)], Decimal::add, |x, y| x + y)))),
    );
    m.insert(
        "addf",
        Function::variadic(&[], Any, |a| {
            Ok(Value::Float(decimal_op(&Value::Float(0.0), &a, Decimal::add, |x, y| x + y)))
        }),
    );
    m.insert(
        "subf",
        Function::variadic(&[Any], Any, |a| Ok(Value::Float(decimal_op(&a[0], &a[1..], Decimal::sub, |x, y| x - y)))),
    );
    m.insert(
        "mulf",
        Function::variadic(&[Any], Any, |a| Ok(Value::Float(decimal_op(&a[0], &a[1..], Decimal::mul, |x, y| x * y)))),
    );
    m.insert(
        "divf",
        Function::variadic(&[Any], Any, |a| {
            for x in &a[1..] {
                if to_float64(x) == 0.0 {
                    return Err(FuncError::msg("decimal division by 0"));
                }
            }
            Ok(Value::Float(decimal_op(&a[0], &a[1..], Decimal::div, |x, y| x / y)))
        }),
    );
    let max = || {
        Function::variadic(&[Any], Any, |a| {
            Ok(Value::Int64(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max)))
        })
    };
    m.insert("max", max());
    m.insert("biggest", max());
    m.insert(
        "min",
        Function::variadic(&[Any], Any, |a| {
            Ok(Value::Int64(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::min)))
        }),
    );
    m.insert(
        "maxf",
        Function::variadic(&[Any], Any, |a| {
            Ok(Value::Float(a[1..].iter().map(to_float64).fold(to_float64(&a[0]), go_max)))
        }),
    );
    m.insert(
        "minf",
        Function::variadic(&[Any], Any, |a| {
            Ok(Value::Float(a[1..].iter().map(to_float64).fold(to_float64(&a[0]), go_min)))
        }),
    );
    m.insert("ceil", Function::fixed(&[Any], |a| Ok(Value::Float(to_float64(&a[0]).ceil()))));
    m.insert("floor", Function::fixed(&[Any], |a| Ok(Value::Float(to_float64(&a[0]).floor()))));
    m.insert(
        "round",
        Function::variadic(&[Any, Int], Ty::Float64, |a| {
            let round_on = match a.get(2) {
                Some(Value::Float(f)) => *f,
                _ => 0.5,
            };
            let val = to_float64(&a[0]);
            let pow = 10f64.powf(int(&a[1]) as f64);
            let digit = pow * val;
            let frac = digit - digit.trunc();
            let r = if frac >= round_on { digit.ceil() } else { digit.floor() };
            Ok(Value::Float(r / pow))
        }),
    );
    m.insert(
        "until",
        Function::fixed(&[Int], |a| {
            let c = int(&a[0]);
            Ok(int_list(until_step(0, c, if c < 0 { -1 } else { 1 })))
        }),
    );
    m.insert(
        "untilStep",
        Function::fixed(&[Int, Int, Int], |a| Ok(int_list(until_step(int(&a[0]), int(&a[1]), int(&a[2]))))),
    );
    m.insert("seq", Function::variadic(&[], Int, |a| Ok(Value::from(seq(&a.iter().map(int).collect::<Vec<_>>())))));
}

/// Go's `math.Max` (NaN wins; +0 over -0).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Go's `math.Min`.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_ops() {
        assert_eq!(decimal_op(&Value::Float(0.1), &[Value::Float(0.2)], Decimal::add, |x, y| x + y), 0.3);
        assert_eq!(
            decimal_op(&Value::Float(1.0), &[Value::Float(3.0)], Decimal::div, |x, y| x / y),
            0.3333333333333333
        );
        assert_eq!(seq(&[3]), "1 2 3");
        assert_eq!(seq(&[5, -2, 1]), "5 3 1");
    }
}
