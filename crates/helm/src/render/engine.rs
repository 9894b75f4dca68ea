//! Helm's engine (`pkg/engine/engine.go`): every template of the chart and its enabled
//! subcharts parsed into one set (deepest paths first, so a parent's `define` wins), each
//! non-partial executed with its chart's top-level object, `<no value>` removed, errors cleaned
//! up as Helm prints them.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_gotemplate::{self as gt, MissingKey, Templates};

use super::convert::{map_to_template, to_template};
use super::funcs::{Lookup, WARN_END, WARN_START, helm_funcs};
use super::objects::{Capabilities, Files};
use crate::chart::Chart;
use crate::value::{Map, Value};

/// A rendering failure, worded as Helm's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A template does not parse.
    #[error("parse error at ({location}): {message}")]
    Parse {
        /// `file:line`.
        location: String,
        /// Go's message.
        message: String,
        /// The parser's error.
        #[source]
        source: gt::Error,
    },
    /// `required` or `fail` stopped rendering.
    #[error("execution error at ({location}): {message}")]
    Failed {
        /// `file:line:col`.
        location: String,
        /// The chart's message.
        message: String,
    },
    /// Any other execution error, as Go prints it.
    #[error(transparent)]
    Exec(gt::Error),
}

/// What the engine needs besides the chart.
#[derive(Clone)]
pub struct EngineOptions {
    /// `--strict`: missing keys are errors.
    pub strict: bool,
    /// How `lookup` reads objects.
    pub lookup: Arc<dyn Lookup>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { strict: false, lookup: Arc::new(super::funcs::NoLookup) }
    }
}

/// The release-wide part of the top-level object.
#[derive(Debug, Clone)]
pub struct TopValues {
    /// Coalesced values of the root chart.
    pub values: Map,
    /// `.Release`.
    pub release: Map,
    /// `.Capabilities`.
    pub capabilities: Capabilities,
}

struct Renderable {
    text: String,
    vals: gt::Map,
    base_path: String,
}

/// Builds the function map templates see: Sprig without `env`/`expandenv`, then Helm's.
pub fn func_map(options: &EngineOptions) -> gt::FuncMap {
    let mut f = gt::sprig::funcs();
    f.remove("env");
    f.remove("expandenv");
    f.extend(helm_funcs(options.lookup.clone()));
    f
}

/// Renders every template; returns file name → output (partials left out).
pub fn render(chart: &Chart, top: &TopValues, options: &EngineOptions) -> Result<BTreeMap<String, String>, Error> {
    let release = map_to_template(&top.release);
    let caps = top.capabilities.to_template();
    let values = map_to_template(&top.values);
    let mut tpls: BTreeMap<String, Renderable> = BTreeMap::new();
    collect(chart, true, chart.name(), &values, &release, &caps, &mut tpls);

    let mut set = Templates::new("gotpl");
    set.add_funcs(func_map(options));
    set.missing_key(if options.strict { MissingKey::Error } else { MissingKey::Zero });
    let mut keys: Vec<&String> = tpls.keys().collect();
    keys.sort_by(|a, b| by_path_len(b, a));
    for name in &keys {
        set.parse(name, &tpls[*name].text).map_err(|e| parse_error(name, e))?;
    }
    let mut out = BTreeMap::new();
    for name in keys {
        let base = name.rsplit('/').next().unwrap_or(name);
        if base.starts_with('_') {
            continue;
        }
        let r = &tpls[name];
        r.vals.insert(
            "Template",
            gt::Value::map(
                [
                    ("Name".to_string(), gt::Value::string(name)),
                    ("BasePath".to_string(), gt::Value::string(&r.base_path)),
                ]
                .into_iter()
                .collect(),
            ),
        );
        let rendered = set.execute(name, &gt::Value::Map(r.vals.clone())).map_err(exec_error)?;
        out.insert(name.clone(), rendered.replace("<no value>", ""));
    }
    Ok(out)
}

/// Helm's template order: by number of `/`, then by name.
fn by_path_len(a: &str, b: &str) -> std::cmp::Ordering {
    let (ca, cb) = (a.matches('/').count(), b.matches('/').count());
    ca.cmp(&cb).then_with(|| a.cmp(b))
}

fn collect(
    c: &Chart,
    is_root: bool,
    full_path: &str,
    parent_values: &gt::Value,
    release: &gt::Value,
    caps: &gt::Value,
    out: &mut BTreeMap<String, Renderable>,
) -> gt::Value {
    let values = if is_root {
        parent_values.clone()
    } else {
        match parent_values {
            gt::Value::Map(m) => match m.get(c.name()) {
                Some(v @ gt::Value::Map(_)) => v,
                _ => gt::Value::map(Default::default()),
            },
            _ => gt::Value::map(Default::default()),
        }
    };
    let mut chart_value = c.metadata.to_template_value();
    if let Value::Map(m) = &mut chart_value {
        m.insert("IsRoot".into(), Value::Bool(is_root));
    }
    let subcharts = gt::Map::new();
    let next = gt::Map::new();
    next.insert("Chart", to_template(&chart_value));
    next.insert("Files", gt::Value::Object(Arc::new(Files::new(&c.files))));
    next.insert("Release", release.clone());
    next.insert("Capabilities", caps.clone());
    next.insert("Values", values.clone());
    next.insert("Subcharts", gt::Value::Map(subcharts.clone()));
    for child in &c.dependencies {
        let child_path = format!("{full_path}/charts/{}", child.name());
        let v = collect(child, false, &child_path, &values, release, caps, out);
        subcharts.insert(child.name(), v);
    }
    for t in &c.templates {
        if c.is_library() && !t.name.rsplit('/').next().unwrap_or(&t.name).starts_with('_') {
            continue;
        }
        out.insert(
            format!("{full_path}/{}", t.name),
            Renderable {
                text: String::from_utf8_lossy(&t.data).into_owned(),
                vals: next.clone(),
                base_path: format!("{full_path}/templates"),
            },
        );
    }
    gt::Value::Map(next)
}

fn parse_error(name: &str, e: gt::Error) -> Error {
    let text = e.to_string();
    let tokens: Vec<&str> = text.split(": ").collect();
    if tokens.len() == 1 {
        return Error::Parse { location: name.to_string(), message: text, source: e };
    }
    Error::Parse { location: tokens[1].to_string(), message: tokens[tokens.len() - 1].to_string(), source: e }
}

fn exec_error(e: gt::Error) -> Error {
    if e.exec().is_none() {
        return Error::Exec(e);
    }
    let text = e.to_string();
    let tokens: Vec<&str> = text.splitn(3, ": ").collect();
    if tokens.len() == 3
        && let Some(start) = tokens[2].find(WARN_START)
        && let Some(end) = tokens[2].rfind(WARN_END)
        && end >= start + WARN_START.len()
    {
        return Error::Failed {
            location: tokens[1].to_string(),
            message: tokens[2][start + WARN_START.len()..end].to_string(),
        };
    }
    Error::Exec(e)
}
