//! The build: load a kustomization tree, accumulate resources, run generators and transformers
//! in kustomize's order, then fix names and print.

use crate::config::TransformerConfig;
use crate::context::Ctx;
use crate::fs::{FileSystem, normalize};
use crate::generator;
use crate::loader::{DirLoader, LoadRestrictions, is_remote};
use crate::remote::{NoRemoteBases, RemoteResolver};
use crate::resource::{Behavior, Gvk, Origin, ResId, Resource};
use crate::smp::Schema;
use crate::types::{Kustomization, Var};
use crate::{Error, Result, nameref, plugin, replacement, sort, transform, vars, yaml};
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The output order of a build whose kustomization sets no `sortOptions`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reorder {
    /// kustomize's legacy order, by kind (the default of `kustomize build` and `kubectl kustomize`).
    #[default]
    Legacy,
    /// The order the resources were read in: krusty's when its options leave
    /// the order unset, as Flux's kustomize-controller builds.
    None,
}

/// Options of one build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Which files a kustomization may read.
    pub load_restrictions: LoadRestrictions,
    /// The output order when the kustomization sets no `sortOptions`.
    pub reorder: Reorder,
}

/// Builds the kustomization in `dir` and returns the YAML stream `kustomize build` prints.
pub fn build(fs: &dyn FileSystem, dir: &Path, options: &BuildOptions) -> Result<String> {
    let docs = build_resources(fs, dir, options)?;
    Ok(yaml::to_yaml_stream(&docs))
}

/// Builds the kustomization in `dir` and returns the resulting objects in output order.
pub fn build_resources(fs: &dyn FileSystem, dir: &Path, options: &BuildOptions) -> Result<Vec<Value>> {
    build_resources_with(fs, dir, options, &NoRemoteBases)
}

/// [`build_resources`], with `remotes` turning remote bases (git repositories
/// in `resources`) into directories instead of refusing them.
pub fn build_resources_with(
    fs: &dyn FileSystem,
    dir: &Path,
    options: &BuildOptions,
    remotes: &dyn RemoteResolver,
) -> Result<Vec<Value>> {
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| Error::msg(e.to_string()))?.join(dir)
    };
    let root = fs.canonicalize(&normalize(&abs)).map_err(|e| Error::in_file(dir.display(), e.to_string()))?;
    if !fs.is_dir(&root) {
        return Err(Error::in_file(dir.display(), "must build at directory: not a valid directory"));
    }
    let builder = Builder {
        fs,
        options,
        remotes,
        root: root.clone(),
        stack: RefCell::new(Vec::new()),
        schema: RefCell::new(None),
    };
    let (kust, kust_file) = builder.load_kustomization(&root)?;
    let mut acc = Acc::new();
    builder.stack.borrow_mut().push(root.clone());
    builder.accumulate_target(&root, &kust, &kust_file, &mut acc)?;
    builder.stack.borrow_mut().pop();

    // Done once, at the top: hash suffixes, then name references, then vars.
    for r in &mut acc.resources {
        if r.needs_hash {
            let hash = generator::content_hash(&r.obj)?;
            r.store_previous_id();
            let name = format!("{}-{}", r.name(), hash);
            r.set_name(&name);
        }
    }
    let top = builder.rel(&kust_file);
    nameref::fix(&mut acc.resources, &acc.config).map_err(|e| e.with_file(&top))?;
    vars::resolve(&mut acc.resources, &acc.vars, &acc.config).map_err(|e| e.with_file(&top))?;

    let mut resources = acc.resources;
    // Resources marked local-config take part in the whole build (as name-reference sources,
    // say) and are dropped only now, as kustomize drops them after its last step.
    resources.retain(|r| {
        let mark = r.obj.pointer("/metadata/annotations").and_then(|a| a.get(LOCAL_CONFIG));
        mark.is_none_or(|v| v.as_str() == Some("false"))
    });
    transform::build_metadata(&mut resources, &kust, &builder.root);
    match (kust.sort_options.as_ref(), options.reorder) {
        (None, Reorder::None) => {}
        (sort_options, _) => sort::sort(&mut resources, sort_options)?,
    }
    for r in &resources {
        // kustomize prints resources and reads them back: Go's YAML reader refuses these.
        if yaml::has_control_character(&r.obj) {
            return Err(Error::in_file(&top, format!("{}: yaml: control characters are not allowed", r.id())));
        }
    }
    Ok(resources.into_iter().map(|r| r.obj).collect())
}

/// `to` relative to the directory `from`, both absolute and normalized; `None` when they share
/// no root (different prefixes on Windows).
fn relative_path(from: &Path, to: &Path) -> Option<String> {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c.as_os_str());
    }
    Some(out.display().to_string())
}

/// The annotation that keeps a resource out of the output (kustomize's `IgnoredByKustomizeAnnotation`).
const LOCAL_CONFIG: &str = "config.kubernetes.io/local-config";

/// Resources collected so far, with the configuration and vars that came with them.
pub(crate) struct Acc {
    pub resources: Vec<Resource>,
    pub config: TransformerConfig,
    pub vars: Vec<Var>,
    /// The ids of `resources` while a kustomization's `resources` are
    /// loaded (when they only grow, through [`Acc::append_all`]); `None`
    /// otherwise, as transformers rename. Without it each file appended
    /// would rebuild the set: quadratic in the number of files.
    loading_ids: Option<HashSet<(Gvk, String, String)>>,
}

/// The key two resources collide on: kind, name and effective namespace.
fn id_key(id: &ResId) -> (Gvk, String, String) {
    (id.gvk.clone(), id.name.clone(), id.effective_namespace().to_string())
}

impl Acc {
    fn new() -> Self {
        Acc { resources: Vec::new(), config: TransformerConfig::builtin(), vars: Vec::new(), loading_ids: None }
    }

    fn append(&mut self, r: Resource) -> Result<()> {
        self.append_all(vec![r])
    }

    /// Appends resources, failing on an id already present (the ids are checked through a set,
    /// as resources can number in the thousands).
    fn append_all(&mut self, new: Vec<Resource>) -> Result<()> {
        let mut own = None;
        let seen = match &mut self.loading_ids {
            Some(ids) => ids,
            None => own.insert(self.resources.iter().map(|r| id_key(&r.id())).collect::<HashSet<_>>()),
        };
        for r in new {
            let id = r.id();
            if !seen.insert(id_key(&id)) {
                return Err(Error::msg(format!("may not add resource with an already registered id: {id}")));
            }
            self.resources.push(r);
        }
        Ok(())
    }

    /// Keeps the ids of the resources from now on, while only
    /// [`Acc::append_all`] changes them.
    fn start_loading(&mut self) {
        self.loading_ids = Some(self.resources.iter().map(|r| id_key(&r.id())).collect());
    }

    /// Ends [`Acc::start_loading`]: other changes may follow.
    fn stop_loading(&mut self) {
        self.loading_ids = None;
    }

    /// Adds a generated resource, honouring its behavior against what is already there.
    fn append_generated(&mut self, mut r: Resource) -> Result<()> {
        let id = r.id();
        let matches: Vec<usize> = self
            .resources
            .iter()
            .enumerate()
            .filter(|(_, o)| o.all_ids().iter().any(|oid| oid.equals(&id)))
            .map(|(i, _)| i)
            .collect();
        match (matches.len(), r.behavior) {
            (0, Behavior::Create) => self.append(r),
            (0, _) => Err(Error::msg(format!("id {id} does not exist; cannot merge or replace"))),
            (1, Behavior::Create) => Err(Error::msg(format!("id {id} exists; behavior must be merge or replace"))),
            (1, behavior) => {
                let old = &self.resources[matches[0]];
                let mut labels = old.labels();
                labels.extend(r.labels());
                let mut annotations = old.annotations();
                annotations.extend(r.annotations());
                if behavior == Behavior::Merge {
                    for field in ["data", "binaryData"] {
                        if let Some(Value::Object(old_data)) = old.obj.get(field) {
                            let mut merged = old_data.clone();
                            if let Some(Value::Object(new_data)) = r.obj.get(field) {
                                merged.extend(new_data.clone());
                            }
                            if let Some(obj) = r.obj.as_object_mut() {
                                obj.insert(field.to_string(), Value::Object(merged));
                            }
                        }
                    }
                }
                let (name, ns) = (old.name().to_string(), old.namespace().to_string());
                let md = r.metadata_mut();
                if labels.is_empty() {
                    md.remove("labels");
                } else {
                    md.insert("labels".into(), Value::Object(labels));
                }
                if annotations.is_empty() {
                    md.remove("annotations");
                } else {
                    md.insert("annotations".into(), Value::Object(annotations));
                }
                r.set_name(&name);
                if ns.is_empty() {
                    r.metadata_mut().remove("namespace");
                } else {
                    r.set_namespace(&ns);
                }
                let old = &self.resources[matches[0]];
                r.prev_ids = old.prev_ids.clone();
                r.orig_id = old.orig_id.clone();
                r.prefixes = old.prefixes.clone();
                r.suffixes = old.suffixes.clone();
                r.needs_hash = old.needs_hash && r.needs_hash;
                r.behavior = old.behavior;
                // A merge keeps the origin of what it merged into; a replacement is the new
                // generator's resource, origin included (as kustomize records them).
                if behavior == Behavior::Merge {
                    r.origin = old.origin.clone();
                }
                r.ref_var_names = old.ref_var_names.clone();
                r.transformations = old.transformations.clone();
                self.resources[matches[0]] = r;
                Ok(())
            }
            _ => Err(Error::msg(format!("found multiple objects that could accept merge of {id}"))),
        }
    }
}

pub(crate) struct Builder<'a> {
    fs: &'a dyn FileSystem,
    options: &'a BuildOptions,
    remotes: &'a dyn RemoteResolver,
    root: PathBuf,
    stack: RefCell<Vec<PathBuf>>,
    schema: RefCell<Option<Schema>>,
}

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

impl<'a> Builder<'a> {
    /// A path as kustomize shows it in messages and origin annotations: relative to the
    /// directory being built, with `..` for files outside it (`../base/deploy.yaml`).
    fn rel(&self, p: &Path) -> String {
        match p.strip_prefix(&self.root) {
            Ok(r) if r.as_os_str().is_empty() => ".".to_string(),
            Ok(r) => r.display().to_string(),
            Err(_) => relative_path(&self.root, p).unwrap_or_else(|| p.display().to_string()),
        }
    }

    fn loader(&self, dir: &Path) -> DirLoader<'_> {
        DirLoader {
            fs: self.fs,
            dir: dir.to_path_buf(),
            restrictions: self.options.load_restrictions,
            root: &self.root,
        }
    }

    fn load_kustomization(&self, dir: &Path) -> Result<(Kustomization, PathBuf)> {
        let found: Vec<PathBuf> =
            KUSTOMIZATION_FILES.iter().map(|f| dir.join(f)).filter(|p| self.fs.is_file(p)).collect();
        let file = match found.len() {
            0 => {
                return Err(Error::in_file(
                    self.rel(dir),
                    "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory",
                ));
            }
            1 => found[0].clone(),
            _ => return Err(Error::in_file(self.rel(dir), "found multiple kustomization files")),
        };
        let shown = self.rel(&file);
        let bytes = self.fs.read(&file).map_err(|e| Error::in_file(&shown, e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| Error::in_file(&shown, "file is not UTF-8"))?;
        let value = yaml::parse_one_yaml11(&text).map_err(|e| Error::in_file(&shown, e.to_string()))?;
        if value.is_null() {
            return Err(Error::in_file(&shown, "kustomization.yaml is empty"));
        }
        if !value.is_object() {
            return Err(Error::in_file(&shown, "a kustomization must be a YAML map"));
        }
        let value = crate::types::canonical_fields(value, crate::types::KUSTOMIZATION);
        let has_content =
            value.as_object().is_some_and(|m| m.iter().any(|(k, v)| k != "apiVersion" && k != "kind" && !v.is_null()));
        if !has_content {
            return Err(Error::in_file(&shown, "kustomization.yaml is empty"));
        }
        let kust: Kustomization =
            serde_json::from_value(value).map_err(|e| Error::in_file(&shown, format!("invalid Kustomization: {e}")))?;
        if let Some(kind) = kust.kind.as_deref()
            && !matches!(kind, "" | "Kustomization" | "Component")
        {
            return Err(Error::in_file(&shown, format!("unknown kind {kind:?}: expected Kustomization or Component")));
        }
        Ok((kust, file))
    }

    fn accumulate_target(&self, dir: &Path, kust: &Kustomization, kust_file: &Path, acc: &mut Acc) -> Result<()> {
        let shown = self.rel(kust_file);
        let loader = self.loader(dir);
        if kust.helm_charts.is_some() || kust.helm_chart_inflation_generator.is_some() || kust.helm_globals.is_some() {
            return Err(Error::in_file(
                &shown,
                "helmCharts are not supported: kustomize refuses them without --enable-helm, and Ferry does not run Helm here",
            ));
        }
        if kust.validators.as_ref().is_some_and(|l| !l.is_empty()) {
            return Err(Error::in_file(
                &shown,
                "validators: plugins are not supported (kustomize needs --enable-alpha-plugins for them)",
            ));
        }
        if let Some(openapi) = &kust.openapi
            && let Some(path) = openapi.get("path")
        {
            let text = loader.read_text(path)?;
            let doc = yaml::parse_one(&text).map_err(|e| Error::in_file(path, e.to_string()))?;
            let table = Schema::table_from_swagger(&doc);
            let mut slot = self.schema.borrow_mut();
            let mut s = slot.take().unwrap_or_default();
            s.extend(Schema::parse_table(&table));
            *slot = Some(s);
        }

        // Resources (and the deprecated bases).
        let entries: Vec<&String> = kust.resources.iter().flatten().chain(kust.bases.iter().flatten()).collect();
        // Non-component entries only append to `acc` (bases build in their own).
        acc.start_loading();
        let loaded = entries
            .into_iter()
            .try_for_each(|entry| self.accumulate_resource(dir, entry, acc, false).map_err(|e| e.with_file(&shown)));
        acc.stop_loading();
        loaded?;
        // Configurations and CRDs.
        for cfg in kust.configurations.iter().flatten() {
            let text = loader.read_text(cfg)?;
            acc.config.merge_file(&text, cfg)?;
        }
        for crd in kust.crds.iter().flatten() {
            let text = loader.read_text(crd)?;
            acc.config.merge_crd_file(&text, crd)?;
        }
        // Generators.
        let global = kust.generator_options.as_ref();
        for args in kust.config_map_generator.iter().flatten() {
            let mut r = generator::generate(args, false, global, &loader).map_err(|e| e.with_file(&shown))?;
            r.origin =
                Some(Origin { path: shown.clone(), config_kind: Some("ConfigMapGenerator".into()), config_name: None });
            acc.append_generated(r).map_err(|e| e.with_file(&shown))?;
        }
        for args in kust.secret_generator.iter().flatten() {
            let mut r = generator::generate(args, true, global, &loader).map_err(|e| e.with_file(&shown))?;
            r.origin =
                Some(Origin { path: shown.clone(), config_kind: Some("SecretGenerator".into()), config_name: None });
            acc.append_generated(r).map_err(|e| e.with_file(&shown))?;
        }
        // Built-in generators configured in `generators`.
        for (cfg, configured_in) in self.plugin_configs(dir, kust.generators.as_deref().unwrap_or_default(), &shown)? {
            let mut r = plugin::generate(&cfg, global, &loader).map_err(|e| e.with_file(&shown))?;
            r.origin = Some(Origin {
                path: configured_in,
                config_kind: cfg.get("kind").and_then(Value::as_str).map(str::to_string),
                config_name: cfg.pointer("/metadata/name").and_then(Value::as_str).map(str::to_string),
            });
            acc.append_generated(r).map_err(|e| e.with_file(&shown))?;
        }
        // Components work on this accumulator directly.
        for entry in kust.components.iter().flatten() {
            self.accumulate_resource(dir, entry, acc, true).map_err(|e| e.with_file(&shown))?;
        }
        // Transformers, in kustomize's fixed order.
        let schema_guard = self.schema.borrow();
        let mut schemas: Vec<&Schema> = Vec::new();
        if let Some(s) = schema_guard.as_ref() {
            schemas.push(s);
        }
        schemas.push(Schema::builtin());
        let ctx = Ctx { loader: &loader, schemas: &schemas, kust_file: &shown };
        transform::run_all(kust, &mut acc.resources, &acc.config, &ctx).map_err(|e| e.with_file(&shown))?;
        if let Some(reps) = kust.replacements.as_ref().filter(|r| !r.is_empty()) {
            replacement::run(reps, &mut acc.resources, &loader).map_err(|e| e.with_file(&shown))?;
            transform::record(&mut acc.resources, &ctx, "ReplacementTransformer");
        }
        // Built-in transformers configured in `transformers`, in order.
        for (cfg, configured_in) in
            self.plugin_configs(dir, kust.transformers.as_deref().unwrap_or_default(), &shown)?
        {
            plugin::transform(&cfg, &mut acc.resources, &ctx).map_err(|e| e.with_file(&shown))?;
            transform::record_plugin(&mut acc.resources, &configured_in, &cfg);
        }
        // Vars: bind each to the resource it reads from, as it is named now.
        for v in kust.vars.iter().flatten() {
            if acc.vars.iter().any(|o| o.name == v.name) {
                return Err(Error::in_file(&shown, format!("var '{}' already encountered", v.name)));
            }
            vars::bind(v, &mut acc.resources).map_err(|e| e.with_file(&shown))?;
            acc.vars.push(v.clone());
        }
        Ok(())
    }

    /// The plugin configurations listed in `generators` or `transformers`: files, inline
    /// documents, or kustomization directories whose output are configurations.
    fn plugin_configs(&self, dir: &Path, entries: &[String], shown: &str) -> Result<Vec<(Value, String)>> {
        let loader = self.loader(dir);
        let mut out = Vec::new();
        for entry in entries {
            let path = normalize(&dir.join(entry));
            // Where each configuration was written, for buildMetadata's `configuredIn`.
            let (docs, configured_in) = if entry.contains('\n') {
                let docs = yaml::parse_documents(entry)
                    .map_err(|e| Error::in_file(shown, format!("inline plugin configuration: {e}")))?;
                (docs, shown.to_string())
            } else if self.fs.is_dir(&path) {
                let mut sub = Acc::new();
                self.accumulate_resource(dir, entry, &mut sub, false)?;
                (sub.resources.into_iter().map(|r| r.obj).collect(), shown.to_string())
            } else {
                let text = loader.read_text(entry)?;
                let docs = yaml::parse_documents(&text).map_err(|e| Error::in_file(entry, e.to_string()))?;
                (docs, self.rel(&path))
            };
            out.extend(docs.into_iter().map(|d| (d, configured_in.clone())));
        }
        Ok(out)
    }

    fn accumulate_resource(&self, dir: &Path, entry: &str, acc: &mut Acc, component: bool) -> Result<()> {
        let mut path = normalize(&dir.join(entry));
        let exists = self.fs.is_dir(&path) || self.fs.is_file(&path);
        if !exists && is_remote(entry) {
            // A remote base: the resolver's directory, read like a local base.
            path = self
                .remotes
                .resolve(entry)
                .map_err(|reason| Error::in_file(entry, format!("remote resource could not be fetched: {reason}")))?;
            if !self.fs.is_dir(&path) {
                return Err(Error::in_file(entry, "remote resource is not a kustomization directory"));
            }
        }
        if self.fs.is_dir(&path) {
            let real = self.fs.canonicalize(&path).unwrap_or(path.clone());
            if self.stack.borrow().contains(&real) {
                let chain: Vec<String> = self.stack.borrow().iter().map(|p| self.rel(p)).collect();
                return Err(Error::in_file(
                    self.rel(&real),
                    format!("cycle detected: kustomization includes itself (via {})", chain.join(" -> ")),
                ));
            }
            let (sub, sub_file) = self.load_kustomization(&real)?;
            let is_component = sub.kind.as_deref() == Some("Component");
            if component && !is_component {
                return Err(Error::in_file(
                    self.rel(&sub_file),
                    format!("expected kind 'Component' for path '{entry}' but got 'Kustomization'"),
                ));
            }
            if !component && is_component {
                return Err(Error::in_file(
                    self.rel(&sub_file),
                    format!("expected kind != 'Component' for path '{entry}'"),
                ));
            }
            self.stack.borrow_mut().push(real.clone());
            let result = if component {
                self.accumulate_target(&real, &sub, &sub_file, acc)
            } else {
                let mut sub_acc = Acc::new();
                sub_acc.config = acc.config.clone();
                self.accumulate_target(&real, &sub, &sub_file, &mut sub_acc).map(|_| sub_acc).and_then(|sub_acc| {
                    acc.append_all(sub_acc.resources)?;
                    merge_config(&mut acc.config, sub_acc.config);
                    for v in sub_acc.vars {
                        if acc.vars.iter().any(|o| o.name == v.name) {
                            return Err(Error::msg(format!("var '{}' already encountered", v.name)));
                        }
                        acc.vars.push(v);
                    }
                    Ok(())
                })
            };
            self.stack.borrow_mut().pop();
            return result;
        }
        if component {
            return Err(Error::in_file(entry, "a component must be a directory holding a kustomization"));
        }
        let loader = self.loader(dir);
        if !self.fs.is_file(&path) {
            return Err(Error::in_file(
                self.rel(&path),
                format!("resource '{entry}' does not exist: no such file or directory"),
            ));
        }
        let text = loader.read_text(entry)?;
        let shown = self.rel(&path);
        acc.append_all(load_resources(&text, &shown)?).map_err(|e| e.with_file(&shown))?;
        Ok(())
    }
}

fn merge_config(dst: &mut TransformerConfig, src: TransformerConfig) {
    *dst = src;
}

/// Parses a file of resources (a YAML stream; `List` kinds are flattened).
pub(crate) fn load_resources(text: &str, shown: &str) -> Result<Vec<Resource>> {
    let docs = yaml::parse_resources(text).map_err(|e| Error::in_file(shown, e.to_string()))?;
    let mut out = Vec::new();
    for doc in docs {
        push_doc(doc, shown, &mut out)?;
    }
    Ok(out)
}

fn push_doc(doc: Value, shown: &str, out: &mut Vec<Resource>) -> Result<()> {
    let Value::Object(map) = &doc else {
        return Err(Error::in_file(
            shown,
            format!("expected a YAML map for a resource, got {}", crate::resource::short(&doc)),
        ));
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    if kind.is_empty() {
        return Err(Error::in_file(shown, "missing Resource metadata: a resource must have a kind"));
    }
    if kind.ends_with("List")
        && let Some(Value::Array(items)) = map.get("items")
    {
        for item in items.clone() {
            push_doc(item, shown, out)?;
        }
        return Ok(());
    }
    let mut r = Resource::new(doc)?;
    if r.name().is_empty() && !r.generated {
        return Err(Error::in_file(shown, format!("missing metadata.name in a {kind}")));
    }
    r.origin = Some(Origin { path: shown.to_string(), config_kind: None, config_name: None });
    r.normalize_annotations();
    r.orig_id = r.id();
    out.push(r);
    Ok(())
}

#[allow(dead_code)]
pub(crate) fn id_matches_any(r: &Resource, id: &ResId) -> bool {
    r.all_ids().iter().any(|o| o.equals(id))
}
