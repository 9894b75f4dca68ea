//! Coalescing values exactly as Helm does (`pkg/chartutil/coalesce.go`): user values over chart
//! defaults, subchart defaults under the subchart's key, `global` copied down to every subchart,
//! and `null` deleting a default (only when coalescing; merging keeps the `null`).

use crate::chart::Chart;
use crate::value::{Map, Value};

/// The key of values shared with every subchart.
pub const GLOBAL_KEY: &str = "global";

/// A values tree Helm cannot coalesce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A subchart's key holds something other than a map.
    #[error("type mismatch on {name}: %!t({kind}={value})")]
    TypeMismatch {
        /// The subchart's name.
        name: String,
        /// Go's type name of the value found.
        kind: String,
        /// The value found, as Go prints it.
        value: String,
    },
}

/// Helm's `CoalesceValues`: `vals` (user values) over the chart's defaults, recursively for
/// subcharts, deleting keys set to `null`.
pub fn coalesce_values(chart: &Chart, vals: &Map) -> Result<Map, Error> {
    coalesce(chart, vals.clone(), "", false)
}

/// Helm's `MergeValues`: as [`coalesce_values`] but keeping `null`s.
pub fn merge_values(chart: &Chart, vals: &Map) -> Result<Map, Error> {
    coalesce(chart, vals.clone(), "", true)
}

fn concat_prefix(a: &str, b: &str) -> String {
    if a.is_empty() { b.to_string() } else { format!("{a}.{b}") }
}

fn coalesce(chart: &Chart, mut dest: Map, prefix: &str, merge: bool) -> Result<Map, Error> {
    coalesce_chart_values(chart, &mut dest, prefix, merge);
    coalesce_deps(chart, dest, prefix, merge)
}

fn coalesce_deps(chart: &Chart, mut dest: Map, prefix: &str, merge: bool) -> Result<Map, Error> {
    for sub in &chart.dependencies {
        let name = sub.name().to_string();
        match dest.get(&name) {
            None => {
                dest.insert(name.clone(), Value::Map(Map::new()));
            }
            Some(Value::Map(_)) => {}
            Some(other) => {
                return Err(Error::TypeMismatch {
                    name,
                    kind: other.go_type().to_string(),
                    value: crate::render::fmt::sprint(other),
                });
            }
        }
        let mut dvmap = match dest.remove(&name) {
            Some(Value::Map(m)) => m,
            _ => Map::new(),
        };
        let sub_prefix = concat_prefix(prefix, chart.name());
        coalesce_globals(&mut dvmap, &dest, merge);
        let coalesced = coalesce(sub, dvmap, &sub_prefix, merge)?;
        dest.insert(name, Value::Map(coalesced));
    }
    Ok(dest)
}

/// Copies the parent's globals into the subchart's values: the parent's win, maps merge.
fn coalesce_globals(dest: &mut Map, src: &Map, _merge: bool) {
    let mut dg = match dest.get(GLOBAL_KEY) {
        None => Map::new(),
        Some(Value::Map(m)) => m.clone(),
        Some(_) => return,
    };
    let sg = match src.get(GLOBAL_KEY) {
        None => Map::new(),
        Some(Value::Map(m)) => m.clone(),
        Some(_) => return,
    };
    for (key, val) in sg {
        match val {
            Value::Map(vv) => match dg.get_mut(&key) {
                None => {
                    dg.insert(key, Value::Map(vv));
                }
                Some(Value::Map(destv)) => {
                    let mut vv = vv;
                    let mut src = destv.clone();
                    coalesce_tables(&mut vv, &mut src, true);
                    dg.insert(key, Value::Map(vv));
                }
                Some(_) => {}
            },
            other => {
                if dg.get(&key).is_some_and(Value::is_table) {
                    continue;
                }
                dg.insert(key, other);
            }
        }
    }
    dest.insert(GLOBAL_KEY.to_string(), Value::Map(dg));
}

/// Merges the chart's own defaults into `v` (the user's values for this chart).
fn coalesce_chart_values(chart: &Chart, v: &mut Map, _prefix: &str, merge: bool) {
    for (key, val) in chart.values.clone() {
        match v.get_mut(&key) {
            Some(Value::Null) if !merge => {
                v.remove(&key);
            }
            Some(Value::Map(dest)) => {
                if let Value::Map(mut src) = val {
                    let merge = merge || chart.dependencies.iter().any(|d| d.name() == key);
                    coalesce_tables(dest, &mut src, merge);
                }
            }
            Some(_) => {}
            None => {
                v.insert(key, val);
            }
        }
    }
}

/// Helm's `CoalesceTables`: `src` fills what `dst` lacks; `dst` wins; `null` in `dst` deletes.
pub fn coalesce_tables_into(dst: &mut Map, src: &Map) {
    let mut src = src.clone();
    coalesce_tables(dst, &mut src, false);
}

/// Helm's `MergeTables`: as [`coalesce_tables_into`] but `null`s stay.
pub fn merge_tables_into(dst: &mut Map, src: &Map) {
    let mut src = src.clone();
    coalesce_tables(dst, &mut src, true);
}

fn coalesce_tables(dst: &mut Map, src: &mut Map, merge: bool) {
    let src_non_nil: std::collections::HashSet<String> =
        src.iter().filter(|(_, v)| !matches!(v, Value::Null)).map(|(k, _)| k.clone()).collect();
    for (key, val) in dst.iter() {
        if matches!(val, Value::Null) {
            src.insert(key.clone(), Value::Null);
        }
    }
    for (key, val) in std::mem::take(src) {
        match dst.get_mut(&key) {
            Some(Value::Null) if !merge && src_non_nil.contains(&key) => {
                dst.remove(&key);
            }
            None => {
                dst.insert(key, val);
            }
            Some(dv) => {
                if let (Value::Map(mut sv), Value::Map(dm)) = (val, dv) {
                    coalesce_tables(dm, &mut sv, merge);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::File;
    use crate::chart::load::load_files;
    use crate::yaml::decode::{Numbers, from_str};

    fn chart() -> Chart {
        let f = |n: &str, d: &str| File { name: n.into(), data: d.as_bytes().to_vec() };
        load_files(vec![
            f("Chart.yaml", "apiVersion: v2\nname: parent\nversion: 1.0.0\n"),
            f("values.yaml", "a: 1\nb: {c: 2, d: 3}\nglobal: {g: parent, m: {x: 1}}\nsub: {s: parent}\n"),
            f("charts/sub/Chart.yaml", "apiVersion: v2\nname: sub\nversion: 1.0.0\n"),
            f("charts/sub/values.yaml", "s: default\nt: default\nglobal: {g: sub, h: sub, m: {z: 2}}\n"),
        ])
        .unwrap()
    }

    fn yaml(m: Map) -> String {
        crate::yaml::encode::to_string(&Value::Map(m)).unwrap()
    }

    #[test]
    fn defaults_globals_and_null() {
        let user = from_str("b: {c: null}\na: 5\n", Numbers::Json).unwrap();
        let out = coalesce_values(&chart(), user.as_map().unwrap()).unwrap();
        assert_eq!(
            yaml(out),
            "a: 5\nb:\n  d: 3\nglobal:\n  g: parent\n  m:\n    x: 1\nsub:\n  global:\n    g: parent\n    h: sub\n    m:\n      x: 1\n      z: 2\n  s: parent\n  t: default\n"
        );
    }
}
