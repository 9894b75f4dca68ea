//! Writes a chart archive as `helm package` does (`chartutil.Save`): `name/Chart.yaml` rewritten
//! from the metadata (keys sorted, empty fields left out), `Chart.lock` for v2 charts,
//! `values.yaml` as written, `values.schema.json`, templates and other files in load order, then
//! each subchart under `name/charts/`; every entry a regular file with mode 0644; the gzip header
//! carries Helm's extra field and the comment `Helm`.

use std::io::Write;

use crate::chart::{Chart, Dependency, Metadata};
use crate::value::{Map, Value};

/// A chart that cannot be packaged.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Chart.yaml fails validation.
    #[error("chart validation: {0}")]
    Validation(#[source] crate::chart::metadata::Error),
    /// The chart's name is not a single path component.
    #[error("chart name {0:?} is invalid")]
    InvalidName(String),
    /// values.schema.json is not JSON.
    #[error("Invalid JSON in values.schema.json")]
    InvalidSchema,
    /// Writing the archive failed.
    #[error("writing chart archive")]
    Io(#[source] std::io::Error),
}

/// Helm's gzip extra field.
const HEADER_EXTRA: &[u8] = b"+aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=";

/// The archive's file name, `name-version.tgz`.
pub fn archive_name(chart: &Chart) -> String {
    format!("{}-{}.tgz", chart.name(), chart.metadata.version)
}

/// Packages `chart` into a `.tgz`; `mtime` (seconds since the epoch) stamps every entry, where
/// Helm uses the current time.
pub fn package(chart: &Chart, mtime: u64) -> Result<Vec<u8>, Error> {
    let mut md = chart.metadata.clone();
    md.validate().map_err(Error::Validation)?;
    let gz = flate2::GzBuilder::new()
        .extra(HEADER_EXTRA.to_vec())
        .comment("Helm")
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    write_chart(&mut tar, chart, "", mtime)?;
    let gz = tar.into_inner().map_err(Error::Io)?;
    gz.finish().map_err(Error::Io)
}

fn write_chart<W: Write>(tar: &mut tar::Builder<W>, c: &Chart, prefix: &str, mtime: u64) -> Result<(), Error> {
    let name = c.name();
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Error::InvalidName(name.to_string()));
    }
    let base = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
    let chart_yaml = chart_yaml(&c.metadata);
    entry(tar, &format!("{base}/Chart.yaml"), chart_yaml.as_bytes(), mtime)?;
    if c.metadata.api_version == "v2"
        && let Some(lock) = &c.lock
    {
        let text =
            crate::yaml::encode::to_string(&lock_value(lock)).map_err(|e| Error::Io(std::io::Error::other(e)))?;
        entry(tar, &format!("{base}/Chart.lock"), text.as_bytes(), mtime)?;
    }
    for f in &c.raw {
        if f.name == "values.yaml" {
            entry(tar, &format!("{base}/values.yaml"), &f.data, mtime)?;
        }
    }
    if let Some(schema) = &c.schema {
        if serde_json::from_slice::<serde_json::Value>(schema).is_err() {
            return Err(Error::InvalidSchema);
        }
        entry(tar, &format!("{base}/values.schema.json"), schema, mtime)?;
    }
    for f in c.templates.iter().chain(c.files.iter()) {
        entry(tar, &format!("{base}/{}", f.name), &f.data, mtime)?;
    }
    for dep in &c.dependencies {
        write_chart(tar, dep, &format!("{base}/charts"), mtime)?;
    }
    Ok(())
}

fn entry<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8], mtime: u64) -> Result<(), Error> {
    let mut h = tar::Header::new_ustar();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_uid(0);
    h.set_gid(0);
    tar.append_data(&mut h, name, data).map_err(Error::Io)
}

fn put_str(m: &mut Map, key: &str, v: &str) {
    if !v.is_empty() {
        m.insert(key.into(), Value::String(v.into()));
    }
}

fn put_list(m: &mut Map, key: &str, v: &[String]) {
    if !v.is_empty() {
        m.insert(key.into(), Value::List(v.iter().map(|s| Value::String(s.clone())).collect()));
    }
}

fn dependency_value(d: &Dependency) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(d.name.clone()));
    put_str(&mut m, "version", &d.version);
    m.insert("repository".into(), Value::String(d.repository.clone()));
    put_str(&mut m, "condition", &d.condition);
    put_list(&mut m, "tags", &d.tags);
    if d.enabled {
        m.insert("enabled".into(), Value::Bool(true));
    }
    if !d.import_values.is_empty() {
        m.insert("import-values".into(), Value::List(d.import_values.clone()));
    }
    put_str(&mut m, "alias", &d.alias);
    Value::Map(m)
}

/// Chart.yaml as `yaml.Marshal(metadata)` writes it; v1 charts keep their dependencies in
/// requirements.yaml.
pub fn chart_yaml(md: &Metadata) -> String {
    let mut m = Map::new();
    put_str(&mut m, "name", &md.name);
    put_str(&mut m, "home", &md.home);
    put_list(&mut m, "sources", &md.sources);
    put_str(&mut m, "version", &md.version);
    put_str(&mut m, "description", &md.description);
    put_list(&mut m, "keywords", &md.keywords);
    if !md.maintainers.is_empty() {
        m.insert(
            "maintainers".into(),
            Value::List(
                md.maintainers
                    .iter()
                    .map(|mt| {
                        let mut x = Map::new();
                        put_str(&mut x, "name", &mt.name);
                        put_str(&mut x, "email", &mt.email);
                        put_str(&mut x, "url", &mt.url);
                        Value::Map(x)
                    })
                    .collect(),
            ),
        );
    }
    put_str(&mut m, "icon", &md.icon);
    put_str(&mut m, "apiVersion", &md.api_version);
    put_str(&mut m, "condition", &md.condition);
    put_str(&mut m, "tags", &md.tags);
    put_str(&mut m, "appVersion", &md.app_version);
    if md.deprecated {
        m.insert("deprecated".into(), Value::Bool(true));
    }
    if !md.annotations.is_empty() {
        m.insert(
            "annotations".into(),
            Value::Map(md.annotations.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()),
        );
    }
    put_str(&mut m, "kubeVersion", &md.kube_version);
    if md.api_version != "v1" && !md.dependencies.is_empty() {
        m.insert("dependencies".into(), Value::List(md.dependencies.iter().map(dependency_value).collect()));
    }
    put_str(&mut m, "type", &md.chart_type);
    crate::yaml::encode::to_string(&Value::Map(m)).unwrap_or_default()
}

/// Chart.lock re-encoded through Helm's `Lock` struct.
fn lock_value(lock: &Value) -> Value {
    let empty = Map::new();
    let l = lock.as_map().unwrap_or(&empty);
    let mut m = Map::new();
    m.insert("generated".into(), l.get("generated").cloned().unwrap_or(Value::String("0001-01-01T00:00:00Z".into())));
    m.insert("digest".into(), l.get("digest").cloned().unwrap_or(Value::String(String::new())));
    let deps = match l.get("dependencies") {
        Some(Value::List(items)) => Value::List(
            items
                .iter()
                .map(|d| {
                    let mut md = Metadata::default();
                    let wrapped = Value::Map(Map::from([("dependencies".to_string(), Value::List(vec![d.clone()]))]));
                    match md.merge_from(&wrapped) {
                        Ok(()) if !md.dependencies.is_empty() => dependency_value(&md.dependencies[0]),
                        _ => d.clone(),
                    }
                })
                .collect(),
        ),
        _ => Value::Null,
    };
    m.insert("dependencies".into(), deps);
    Value::Map(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::File;
    use crate::chart::load::{load_archive, load_files};

    #[test]
    fn round_trip() {
        let files = vec![
            File {
                name: "Chart.yaml".into(),
                data: b"apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: 1.0\n".to_vec(),
            },
            File { name: "values.yaml".into(), data: b"# keep comments\nx: 1\n".to_vec() },
            File { name: "templates/a.yaml".into(), data: b"kind: A\n".to_vec() },
            File { name: "charts/sub/Chart.yaml".into(), data: b"name: sub\nversion: 1.0.0\n".to_vec() },
        ];
        let chart = load_files(files).unwrap();
        assert_eq!(archive_name(&chart), "demo-0.1.0.tgz");
        let tgz = package(&chart, 0).unwrap();
        let back = load_archive(&tgz).unwrap();
        assert_eq!(back.raw[0].data, b"apiVersion: v2\nappVersion: \"1\"\nname: demo\nversion: 0.1.0\n");
        assert_eq!(back.raw[1].data, b"# keep comments\nx: 1\n");
        assert_eq!(back.templates[0].name, "templates/a.yaml");
        assert_eq!(back.dependencies[0].name(), "sub");
        assert_eq!(back.dependencies[0].metadata.api_version, "v1");
    }
}
