//! Helm's index types written as Go's `json.MarshalIndent(v, "", "  ")`
//! writes them: fields in struct order (the embedded `*chart.Metadata`'s
//! first), `omitempty` fields left out when empty, nil slices and maps as
//! `null`, map keys sorted, empty objects and arrays as `{}` and `[]`.

use std::collections::BTreeMap;

use super::golang::{ZERO_TIME, format_float64_json, write_string};
use super::{Any, ChartVersion, Dependency, Error, IndexFile, Maintainer, Metadata};

/// A JSON value in the making, written with Go's indentation.
enum J {
    Raw(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
    Map(Vec<(String, J)>),
}

fn render(out: &mut String, value: &J, depth: usize) {
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    match value {
        J::Raw(raw) => out.push_str(raw),
        J::Str(s) => write_string(out, s),
        J::Arr(items) if items.is_empty() => out.push_str("[]"),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                render(out, item, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        J::Obj(fields) => render_pairs(out, fields.iter().map(|(k, v)| (*k, v)), depth),
        J::Map(pairs) => render_pairs(out, pairs.iter().map(|(k, v)| (k.as_str(), v)), depth),
    }
}

fn render_pairs<'a>(out: &mut String, pairs: impl ExactSizeIterator<Item = (&'a str, &'a J)>, depth: usize) {
    if pairs.len() == 0 {
        out.push_str("{}");
        return;
    }
    out.push('{');
    for (i, (key, value)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth + 1));
        write_string(out, key);
        out.push_str(": ");
        render(out, value, depth + 1);
    }
    out.push('\n');
    out.extend(std::iter::repeat_n("  ", depth));
    out.push('}');
}

/// The index as Flux stores it.
pub fn index(index: &IndexFile) -> Result<String, Error> {
    let mut fields = Vec::new();
    if let Some(info) = index.server_info.as_ref().filter(|m| !m.is_empty()) {
        fields.push(("serverInfo", any_map(info)?));
    }
    fields.push(("apiVersion", J::Str(index.api_version.clone())));
    fields.push(("generated", time(&index.generated)));
    fields.push((
        "entries",
        match &index.entries {
            None => null(),
            Some(entries) => J::Map(
                entries
                    .iter()
                    .map(|(name, versions)| Ok((name.clone(), chart_versions(versions.as_deref())?)))
                    .collect::<Result<_, Error>>()?,
            ),
        },
    ));
    if let Some(keys) = index.public_keys.as_ref().filter(|k| !k.is_empty()) {
        fields.push(("publicKeys", strings(keys)));
    }
    if let Some(annotations) = index.annotations.as_ref().filter(|a| !a.is_empty()) {
        fields.push(("annotations", string_map(annotations)));
    }
    let mut out = String::new();
    render(&mut out, &J::Obj(fields), 0);
    Ok(out)
}

fn null() -> J {
    J::Raw("null".into())
}

fn time(t: &Option<String>) -> J {
    J::Str(t.clone().unwrap_or_else(|| ZERO_TIME.to_string()))
}

fn strings(items: &[String]) -> J {
    J::Arr(items.iter().cloned().map(J::Str).collect())
}

fn string_map(map: &BTreeMap<String, String>) -> J {
    J::Map(map.iter().map(|(k, v)| (k.clone(), J::Str(v.clone()))).collect())
}

fn any(value: &Any) -> Result<J, Error> {
    Ok(match value {
        Any::Null => null(),
        Any::Bool(b) => J::Raw(b.to_string()),
        Any::Number(n) => J::Raw(format_float64_json(*n).ok_or_else(|| Error::Unsupported(n.to_string()))?),
        Any::String(s) => J::Str(s.clone()),
        Any::Array(items) => J::Arr(items.iter().map(any).collect::<Result<_, _>>()?),
        Any::Object(map) => any_map(map)?,
    })
}

fn any_map(map: &BTreeMap<String, Any>) -> Result<J, Error> {
    Ok(J::Map(map.iter().map(|(k, v)| Ok((k.clone(), any(v)?))).collect::<Result<_, Error>>()?))
}

fn chart_versions(versions: Option<&[Option<ChartVersion>]>) -> Result<J, Error> {
    let Some(versions) = versions else { return Ok(null()) };
    Ok(J::Arr(
        versions
            .iter()
            .map(|cv| match cv {
                None => Ok(null()),
                Some(cv) => chart_version(cv),
            })
            .collect::<Result<_, _>>()?,
    ))
}

/// Pushes a string field unless it is empty (`omitempty`).
fn opt_str(fields: &mut Vec<(&'static str, J)>, name: &'static str, value: &str) {
    if !value.is_empty() {
        fields.push((name, J::Str(value.to_string())));
    }
}

fn chart_version(cv: &ChartVersion) -> Result<J, Error> {
    let mut fields = Vec::new();
    if let Some(md) = &cv.metadata {
        metadata(&mut fields, md)?;
    }
    fields.push(("urls", cv.urls.as_deref().map_or_else(null, strings)));
    fields.push(("created", time(&cv.created)));
    if cv.removed {
        fields.push(("removed", J::Raw("true".into())));
    }
    opt_str(&mut fields, "digest", &cv.digest);
    opt_str(&mut fields, "checksum", &cv.checksum);
    opt_str(&mut fields, "engine", &cv.engine);
    opt_str(&mut fields, "tillerVersion", &cv.tiller_version);
    opt_str(&mut fields, "url", &cv.url);
    Ok(J::Obj(fields))
}

fn metadata(fields: &mut Vec<(&'static str, J)>, md: &Metadata) -> Result<(), Error> {
    opt_str(fields, "name", &md.name);
    opt_str(fields, "home", &md.home);
    if !md.sources.is_empty() {
        fields.push(("sources", strings(&md.sources)));
    }
    opt_str(fields, "version", &md.version);
    opt_str(fields, "description", &md.description);
    if !md.keywords.is_empty() {
        fields.push(("keywords", strings(&md.keywords)));
    }
    if !md.maintainers.is_empty() {
        fields.push((
            "maintainers",
            J::Arr(md.maintainers.iter().map(|m| m.as_ref().map_or_else(null, maintainer)).collect()),
        ));
    }
    opt_str(fields, "icon", &md.icon);
    opt_str(fields, "apiVersion", &md.api_version);
    opt_str(fields, "condition", &md.condition);
    opt_str(fields, "tags", &md.tags);
    opt_str(fields, "appVersion", &md.app_version);
    if md.deprecated {
        fields.push(("deprecated", J::Raw("true".into())));
    }
    if !md.annotations.is_empty() {
        fields.push(("annotations", string_map(&md.annotations)));
    }
    opt_str(fields, "kubeVersion", &md.kube_version);
    if !md.dependencies.is_empty() {
        let deps = md
            .dependencies
            .iter()
            .map(|d| d.as_ref().map_or_else(|| Ok(null()), dependency))
            .collect::<Result<_, Error>>()?;
        fields.push(("dependencies", J::Arr(deps)));
    }
    opt_str(fields, "type", &md.type_);
    Ok(())
}

fn maintainer(m: &Maintainer) -> J {
    let mut fields = Vec::new();
    opt_str(&mut fields, "name", &m.name);
    opt_str(&mut fields, "email", &m.email);
    opt_str(&mut fields, "url", &m.url);
    J::Obj(fields)
}

fn dependency(d: &Dependency) -> Result<J, Error> {
    let mut fields = vec![("name", J::Str(d.name.clone()))];
    opt_str(&mut fields, "version", &d.version);
    fields.push(("repository", J::Str(d.repository.clone())));
    opt_str(&mut fields, "condition", &d.condition);
    if !d.tags.is_empty() {
        fields.push(("tags", strings(&d.tags)));
    }
    if d.enabled {
        fields.push(("enabled", J::Raw("true".into())));
    }
    if !d.import_values.is_empty() {
        fields.push(("import-values", J::Arr(d.import_values.iter().map(any).collect::<Result<_, _>>()?)));
    }
    opt_str(&mut fields, "alias", &d.alias);
    Ok(J::Obj(fields))
}
