//! Which subcharts are enabled, under which names, and which of their values the parent imports
//! (`pkg/chartutil/dependencies.go`): `condition`, `tags`, `alias`, `import-values`.

use super::coalesce::{Error, coalesce_values, merge_tables_into, merge_values};
use crate::chart::Chart;
use crate::value::{Map, Value, path_value, table};

/// Helm's `ProcessDependenciesWithMerge`, what `helm template` runs: drops disabled subcharts,
/// renames aliased ones, and merges imported values into each chart's values.
pub fn process_dependencies(chart: &mut Chart, vals: &Map) -> Result<(), Error> {
    process_enabled(chart, vals, "")?;
    process_import_values(chart);
    Ok(())
}

fn compatible(range: &str, version: &str) -> bool {
    let Ok(c) = range.parse::<ferry_semver::Constraints>() else { return false };
    let Ok(v) = version.parse::<ferry_semver::Version>() else { return false };
    c.matches(&v)
}

fn process_enabled(c: &mut Chart, v: &Map, path: &str) -> Result<(), Error> {
    if c.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let existing = std::mem::take(&mut c.dependencies);
    let mut deps: Vec<Chart> = existing
        .iter()
        .filter(|e| {
            !c.metadata.dependencies.iter().any(|r| e.name() == r.name && compatible(&r.version, &e.metadata.version))
        })
        .cloned()
        .collect();
    for req in &mut c.metadata.dependencies {
        if let Some(found) =
            existing.iter().find(|e| e.name() == req.name && compatible(&req.version, &e.metadata.version))
        {
            let mut copy = found.clone();
            if !req.alias.is_empty() {
                copy.metadata.name = req.alias.clone();
            }
            deps.push(copy);
        }
        if !req.alias.is_empty() {
            req.name = req.alias.clone();
        }
    }
    c.dependencies = deps;
    for r in &mut c.metadata.dependencies {
        r.enabled = true;
    }
    let cvals = coalesce_values(c, v)?;
    // Tags.
    if let Some(tags) = cvals.get("tags").and_then(Value::as_map) {
        for r in &mut c.metadata.dependencies {
            let (mut has_true, mut has_false) = (false, false);
            for k in &r.tags {
                if let Some(Value::Bool(b)) = tags.get(k) {
                    if *b {
                        has_true = true;
                    } else {
                        has_false = true;
                    }
                }
            }
            r.enabled = has_true || !has_false;
        }
    }
    // Conditions: the first path that holds a boolean decides.
    for r in &mut c.metadata.dependencies {
        for cond in r.condition.trim().split(',') {
            if cond.is_empty() {
                continue;
            }
            if let Some(Value::Bool(b)) = path_value(&cvals, &format!("{path}{cond}")) {
                r.enabled = *b;
                break;
            }
        }
    }
    let disabled: Vec<String> = c.metadata.dependencies.iter().filter(|r| !r.enabled).map(|r| r.name.clone()).collect();
    c.dependencies.retain(|d| !disabled.contains(&d.metadata.name));
    c.metadata.dependencies.retain(|r| !disabled.contains(&r.name));
    for t in &mut c.dependencies {
        let sub_path = format!("{path}{}.", t.metadata.name);
        process_enabled(t, &cvals, &sub_path)?;
    }
    Ok(())
}

fn path_to_map(path: &str, data: Map) -> Map {
    if path == "." {
        return data;
    }
    let mut cur = data;
    for part in path.split('.').rev() {
        cur = Map::from([(part.to_string(), Value::Map(cur))]);
    }
    cur
}

fn process_import_values(c: &mut Chart) {
    for d in &mut c.dependencies {
        process_import_values(d);
    }
    if c.metadata.dependencies.is_empty() {
        return;
    }
    let Ok(cvals) = merge_values(c, &Map::new()) else { return };
    let mut b = Map::new();
    for r in &mut c.metadata.dependencies {
        let mut out = Vec::new();
        for riv in &r.import_values {
            match riv {
                Value::Map(iv) => {
                    let child = crate::render::fmt::sprint(iv.get("child").unwrap_or(&Value::Null));
                    let parent = crate::render::fmt::sprint(iv.get("parent").unwrap_or(&Value::Null));
                    out.push(Value::Map(Map::from([
                        ("child".to_string(), Value::String(child.clone())),
                        ("parent".to_string(), Value::String(parent.clone())),
                    ])));
                    if let Some(vv) = table(&cvals, &format!("{}.{child}", r.name)) {
                        merge_tables_into(&mut b, &path_to_map(&parent, vv.clone()));
                    }
                }
                Value::String(iv) => {
                    let child = format!("exports.{iv}");
                    out.push(Value::Map(Map::from([
                        ("child".to_string(), Value::String(child.clone())),
                        ("parent".to_string(), Value::String(".".into())),
                    ])));
                    if let Some(vm) = table(&cvals, &format!("{}.{child}", r.name)) {
                        merge_tables_into(&mut b, vm);
                    }
                }
                _ => {}
            }
        }
        r.import_values = out;
    }
    let mut values = cvals;
    merge_tables_into(&mut values, &b);
    c.values = values;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::File;
    use crate::chart::load::load_files;
    use crate::yaml::decode::{Numbers, from_str};

    fn f(n: &str, d: &str) -> File {
        File { name: n.into(), data: d.as_bytes().to_vec() }
    }

    #[test]
    fn conditions_tags_alias_imports() {
        let mut c = load_files(vec![
            f(
                "Chart.yaml",
                "apiVersion: v2\nname: p\nversion: 1.0.0\ndependencies:\n- name: a\n  version: 1.x\n  condition: a.enabled\n- name: a\n  alias: b\n  version: '*'\n  import-values: [data]\n- name: c\n  tags: [off-tag]\n",
            ),
            f("values.yaml", "a: {enabled: false}\ntags: {off-tag: false}\n"),
            f("charts/a/Chart.yaml", "name: a\nversion: 1.2.0\n"),
            f("charts/a/values.yaml", "exports: {data: {imported: yes}}\n"),
            f("charts/c/Chart.yaml", "name: c\nversion: 1.0.0\n"),
        ])
        .unwrap();
        let user = from_str("{}", Numbers::Json).unwrap();
        process_dependencies(&mut c, user.as_map().unwrap()).unwrap();
        let names: Vec<&str> = c.dependencies.iter().map(|d| d.name()).collect();
        assert_eq!(names, vec!["b"]);
        assert_eq!(c.values["imported"], Value::Bool(true));
    }
}
