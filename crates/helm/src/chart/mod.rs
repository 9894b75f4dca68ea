//! Charts: the model Helm's loader builds (`pkg/chart`), its metadata, and loading from files,
//! directories and archives.

pub mod ignore;
pub mod load;
pub mod metadata;

pub use metadata::{Dependency, Maintainer, Metadata};

use crate::value::Map;

/// A file of a chart, by its path inside the chart (forward slashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Path relative to the chart's root, `/`-separated.
    pub name: String,
    /// The contents, without a UTF-8 byte order mark.
    pub data: Vec<u8>,
}

/// A loaded chart with its vendored subcharts.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// Chart.yaml (with requirements.yaml's dependencies for apiVersion v1).
    pub metadata: Metadata,
    /// Chart.lock or requirements.lock, as read.
    pub lock: Option<crate::value::Value>,
    /// Files under `templates/`, in load order.
    pub templates: Vec<File>,
    /// values.yaml.
    pub values: Map,
    /// values.schema.json, as read.
    pub schema: Option<Vec<u8>>,
    /// Every other file (what `.Files` sees), in load order.
    pub files: Vec<File>,
    /// Every file as loaded, in load order (what `helm package` copies for a few of them).
    pub raw: Vec<File>,
    /// Subcharts from `charts/`.
    pub dependencies: Vec<Chart>,
}

impl Chart {
    /// The chart's name.
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// True for `type: library` charts, whose templates render nothing themselves.
    pub fn is_library(&self) -> bool {
        self.metadata.chart_type == "library"
    }

    /// CRD files of `crds/` (`.yaml`, `.yml`, `.json`) of this chart and its subcharts, with the
    /// path Helm prints for them (`parent/charts/child/crds/x.yaml`).
    pub fn crd_objects(&self) -> Vec<(String, &File)> {
        let mut out = Vec::new();
        self.collect_crds(self.name(), &mut out);
        out
    }

    fn collect_crds<'a>(&'a self, full_path: &str, out: &mut Vec<(String, &'a File)>) {
        for f in &self.files {
            if f.name.starts_with("crds/") && has_manifest_extension(&f.name) {
                out.push((format!("{full_path}/{}", f.name), f));
            }
        }
        for dep in &self.dependencies {
            dep.collect_crds(&format!("{full_path}/charts/{}", dep.name()), out);
        }
    }
}

fn has_manifest_extension(name: &str) -> bool {
    let ext = match name.rfind('.') {
        Some(i) if !name[i..].contains('/') => &name[i..],
        _ => return false,
    };
    ext.eq_ignore_ascii_case(".yaml") || ext.eq_ignore_ascii_case(".yml") || ext.eq_ignore_ascii_case(".json")
}
