//! `helm template` as a library call: dependencies processed, values coalesced and validated,
//! templates rendered, NOTES.txt set apart, manifests and hooks in Helm's order with their
//! `# Source:` headers, `--show-only`, `--skip-tests` and `--include-crds`.

use std::sync::Arc;

use crate::chart::Chart;
use crate::chart::ignore::glob_match;
use crate::release::manifest::{self, Hook, Manifest, split_manifests};
use crate::render::engine::{self, EngineOptions, TopValues};
use crate::render::funcs::{Lookup, NoLookup};
use crate::render::objects::Capabilities;
use crate::value::{Map, Value};
use crate::values::{coalesce, dependencies};

/// The Kubernetes version `helm template` assumes (Helm stamps it from its client-go version).
pub const DEFAULT_KUBE_VERSION: &str = "v1.37.0";
/// The Helm version Ferry renders as (`.Capabilities.HelmVersion`).
pub const HELM_VERSION: &str = "v3.22.0";
/// The Go version of that Helm build, as `.Capabilities.HelmVersion.GoVersion` shows it.
pub const GO_VERSION: &str = "go1.26.8";

/// The group versions and kinds Helm's client-go scheme knows (`DefaultVersionSet`).
pub fn default_api_versions() -> Vec<String> {
    include_str!("api_versions.txt").lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// The options of `helm template`.
#[derive(Clone)]
pub struct TemplateOptions {
    /// The release name (`release-name` by default).
    pub release_name: String,
    /// `--namespace` (`default`).
    pub namespace: String,
    /// `--is-upgrade`.
    pub is_upgrade: bool,
    /// `.Release.Revision`: 1 for `helm template` and installs, the new revision for upgrades.
    pub revision: i64,
    /// `--include-crds`.
    pub include_crds: bool,
    /// `--skip-tests`.
    pub skip_tests: bool,
    /// `--no-hooks`.
    pub disable_hooks: bool,
    /// `--show-only`.
    pub show_only: Vec<String>,
    /// `--kube-version`.
    pub kube_version: Option<String>,
    /// `--api-versions`.
    pub api_versions: Vec<String>,
    /// `--skip-schema-validation`.
    pub skip_schema_validation: bool,
    /// `--strict` (lint's): missing keys are errors.
    pub strict: bool,
    /// How `lookup` reads live objects.
    pub lookup: Arc<dyn Lookup>,
    /// `--post-renderer`: rewrites the manifests (not the hooks) before they are printed.
    pub post_renderer: Option<Arc<PostRenderer>>,
}

/// A post-renderer: manifests in, manifests out, or the reason it failed.
pub type PostRenderer = dyn Fn(&str) -> Result<String, String> + Send + Sync;

impl Default for TemplateOptions {
    fn default() -> Self {
        TemplateOptions {
            release_name: "release-name".into(),
            namespace: "default".into(),
            is_upgrade: false,
            revision: 1,
            include_crds: false,
            skip_tests: false,
            disable_hooks: false,
            show_only: Vec::new(),
            kube_version: None,
            api_versions: Vec::new(),
            skip_schema_validation: false,
            strict: false,
            lookup: Arc::new(NoLookup),
            post_renderer: None,
        }
    }
}

/// Why `helm template` failed, worded as Helm's.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A library chart was asked to render.
    #[error("{0}")]
    NotInstallable(String),
    /// Declared dependencies are not vendored.
    #[error(
        "An error occurred while checking for chart dependencies. You may need to run `helm dependency build` to fetch missing dependencies: found in Chart.yaml, but missing in charts/ directory: {0}"
    )]
    MissingDependencies(String),
    /// `--kube-version` does not parse.
    #[error("invalid kube version '{0}': {1}")]
    KubeVersion(String, String),
    /// The chart's kubeVersion range excludes the target.
    #[error("chart requires kubeVersion: {range} which is incompatible with Kubernetes {version}")]
    IncompatibleKube {
        /// The chart's range.
        range: String,
        /// The target version.
        version: String,
    },
    /// Values could not be coalesced.
    #[error(transparent)]
    Coalesce(#[from] coalesce::Error),
    /// values.schema.json refused the values.
    #[error("values don't meet the specifications of the schema(s) in the following chart(s):\n{0}")]
    Schema(String),
    /// Rendering failed.
    #[error(transparent)]
    Render(#[from] engine::Error),
    /// A rendered document is not YAML.
    #[error(transparent)]
    Manifest(manifest::Error),
    /// The post-renderer failed.
    #[error("error while running post render on files: {0}")]
    PostRender(String),
    /// `--show-only` named nothing.
    #[error("could not find template {0} in chart")]
    ShowOnly(String),
}

impl Error {
    /// The message `helm template` prints: errors after the release was created (rendering,
    /// manifests, kubeVersion, post-rendering) get Helm's hint about `--debug`.
    pub fn cli_message(&self) -> String {
        match self {
            Error::IncompatibleKube { .. } | Error::Render(_) | Error::Manifest(_) | Error::PostRender(_) => {
                format!("{self}\n\nUse --debug flag to render out invalid YAML")
            }
            _ => self.to_string(),
        }
    }
}

/// What `helm template` produced.
#[derive(Debug, Clone, Default)]
pub struct Rendered {
    /// The manifests (CRDs first when asked), as printed.
    pub manifest: String,
    /// Hooks in Helm's order.
    pub hooks: Vec<Hook>,
    /// Non-hook manifests in install order.
    pub manifests: Vec<Manifest>,
    /// The root chart's rendered NOTES.txt.
    pub notes: String,
    /// What `helm template` prints.
    pub output: String,
}

fn parse_kube_version(v: &str) -> Result<String, Error> {
    let trimmed = v.trim_start_matches('v');
    let version: ferry_semver::Version =
        trimmed.parse().map_err(|e: ferry_semver::Error| Error::KubeVersion(v.to_string(), e.to_string()))?;
    Ok(format!("v{}", version.original().trim_start_matches('v')))
}

/// Renders `chart` with user values `vals`, as `helm template` does.
pub fn template(mut chart: Chart, vals: &Map, opts: &TemplateOptions) -> Result<Rendered, Error> {
    chart.metadata.check_installable().map_err(Error::NotInstallable)?;
    if !chart.metadata.dependencies.is_empty() {
        let missing: Vec<String> = chart
            .metadata
            .dependencies
            .iter()
            .filter(|r| !chart.dependencies.iter().any(|d| d.name() == r.name))
            .map(|r| r.name.clone())
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingDependencies(missing.join(", ")));
        }
    }
    dependencies::process_dependencies(&mut chart, vals)?;
    let kube_version = match &opts.kube_version {
        Some(v) => parse_kube_version(v)?,
        None => DEFAULT_KUBE_VERSION.to_string(),
    };
    let mut api_versions = default_api_versions();
    api_versions.extend(opts.api_versions.iter().cloned());
    let caps = Capabilities {
        kube_version: kube_version.clone(),
        api_versions,
        helm_version: HELM_VERSION.into(),
        go_version: GO_VERSION.into(),
    };
    if !chart.metadata.kube_version.is_empty() {
        let ok = chart.metadata.kube_version.parse::<ferry_semver::Constraints>().ok().is_some_and(|c| {
            kube_version.trim_start_matches('v').parse::<ferry_semver::Version>().is_ok_and(|v| c.matches(&v))
        });
        if !ok {
            return Err(Error::IncompatibleKube { range: chart.metadata.kube_version.clone(), version: kube_version });
        }
    }
    let values = coalesce::coalesce_values(&chart, vals)?;
    if !opts.skip_schema_validation {
        let problems = crate::schema::validate_chart(&chart, &values);
        if !problems.is_empty() {
            return Err(Error::Schema(problems));
        }
    }
    let is_upgrade = opts.is_upgrade;
    let release = Map::from([
        ("Name".to_string(), Value::String(opts.release_name.clone())),
        ("Namespace".to_string(), Value::String(opts.namespace.clone())),
        ("IsUpgrade".to_string(), Value::Bool(is_upgrade)),
        ("IsInstall".to_string(), Value::Bool(!is_upgrade)),
        ("Revision".to_string(), Value::Int(opts.revision)),
        ("Service".to_string(), Value::String("Helm".into())),
    ]);
    let top = TopValues { values, release, capabilities: caps };
    let engine_opts = EngineOptions { strict: opts.strict, lookup: opts.lookup.clone() };
    let mut files = engine::render(&chart, &top, &engine_opts)?;
    // NOTES.txt: the root chart's is kept apart; every one is removed from the manifests.
    let root_notes = format!("{}/templates/NOTES.txt", chart.name());
    let mut notes = String::new();
    let note_keys: Vec<String> = files.keys().filter(|k| k.ends_with("NOTES.txt")).cloned().collect();
    for k in note_keys {
        if let Some(v) = files.remove(&k)
            && k == root_notes
        {
            notes.push_str(&v);
        }
    }
    let (hooks, manifests) = manifest::sort_manifests(files.iter()).map_err(Error::Manifest)?;
    let mut b = String::new();
    if opts.include_crds {
        for (path, file) in chart.crd_objects() {
            b.push_str(&format!("---\n# Source: {path}\n{}\n", String::from_utf8_lossy(&file.data)));
        }
    }
    for m in &manifests {
        b.push_str(&format!("---\n# Source: {}\n{}\n", m.name, m.content));
    }
    if let Some(post) = &opts.post_renderer {
        b = post(&b).map_err(Error::PostRender)?;
    }
    let mut all = format!("{}\n", b.trim());
    if !opts.disable_hooks {
        for h in &hooks {
            if opts.skip_tests && h.is_test() {
                continue;
            }
            all.push_str(&format!("---\n# Source: {}\n{}\n", h.path, h.manifest));
        }
    }
    let output = if opts.show_only.is_empty() { all } else { show_only(&all, &opts.show_only)? };
    Ok(Rendered { manifest: b, hooks, manifests, notes, output })
}

fn show_only(all: &str, patterns: &[String]) -> Result<String, Error> {
    let split = split_manifests(all);
    let mut out = String::new();
    for f in patterns {
        let f = f.replace('\\', "/");
        let mut missing = true;
        for m in &split {
            let Some(name) = source_name(m) else { continue };
            if !glob_match(&f, name).unwrap_or(false) {
                continue;
            }
            out.push_str(&format!("---\n{m}\n"));
            missing = false;
        }
        if missing {
            return Err(Error::ShowOnly(f));
        }
    }
    Ok(out)
}

/// `# Source: [^/]+/(.+)`: the template path without the chart's name.
fn source_name(m: &str) -> Option<&str> {
    let i = m.find("# Source: ")?;
    let rest = &m[i + "# Source: ".len()..];
    let slash = rest.find('/')?;
    if slash == 0 || rest[..slash].contains('\n') {
        return None;
    }
    let tail = &rest[slash + 1..];
    let end = tail.find('\n').unwrap_or(tail.len());
    let name = &tail[..end];
    if name.is_empty() { None } else { Some(name) }
}

/// `--name-template`: renders the template with Sprig's functions and no data.
pub fn name_from_template(text: &str) -> Result<String, String> {
    let mut set = ferry_gotemplate::Templates::new("name-template");
    set.add_funcs(crate::render::engine::func_map(&EngineOptions::default()));
    set.parse("name-template", text).map_err(|e| e.to_string())?;
    set.execute("name-template", &ferry_gotemplate::Value::Nil).map_err(|e| e.to_string())
}
