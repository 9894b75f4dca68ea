//! Built-in plugin configurations (`apiVersion: builtin`) listed under `generators` and
//! `transformers`. Other plugins need kustomize's alpha flags, and are refused.

use crate::context::Ctx;
use crate::generator;
use crate::loader::Loader;
use crate::resource::{FieldSpec, Resource};
use crate::transform;
use crate::types::{FieldSpecDef, GeneratorArgs, GeneratorOptions, Image, Patch, ReplacementField, Replica, Selector};
use crate::{Error, Result, patch, replacement};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

fn kind_of(cfg: &Value) -> Result<(&str, &str)> {
    let api_version = cfg.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = cfg.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != "builtin" {
        return Err(Error::msg(format!(
            "external plugins disabled; unable to load external plugin '{kind}' ({api_version}): kustomize needs --enable-alpha-plugins for it, and Ferry does not run plugins"
        )));
    }
    Ok((api_version, kind))
}

fn parse<T: DeserializeOwned>(cfg: &Value, kind: &str) -> Result<T> {
    let mut cfg = cfg.clone();
    if let Some(m) = cfg.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    serde_json::from_value(cfg).map_err(|e| Error::msg(format!("invalid {kind} configuration: {e}")))
}

fn specs(defs: &[FieldSpecDef]) -> Vec<FieldSpec> {
    defs.iter().map(FieldSpec::from_def).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

/// A built-in generator configuration.
pub(crate) fn generate(cfg: &Value, global: Option<&GeneratorOptions>, loader: &dyn Loader) -> Result<Resource> {
    let (_, kind) = kind_of(cfg)?;
    let secret = match kind {
        "ConfigMapGenerator" => false,
        "SecretGenerator" => true,
        other => return Err(Error::msg(format!("builtin generator {other:?} is not supported"))),
    };
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Gen {
        metadata: Meta,
        #[serde(flatten)]
        args: GeneratorArgs,
    }
    let mut cfg = cfg.clone();
    if let Some(m) = cfg.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
    }
    let g: Gen = serde_json::from_value(cfg).map_err(|e| Error::msg(format!("invalid {kind} configuration: {e}")))?;
    let mut args = g.args;
    if args.name.is_none() {
        args.name = Some(g.metadata.name);
    }
    if args.namespace.is_none() && !g.metadata.namespace.is_empty() {
        args.namespace = Some(g.metadata.namespace);
    }
    generator::generate(&args, secret, global, loader)
}

/// A built-in transformer configuration, applied to the resources.
pub(crate) fn transform(cfg: &Value, resources: &mut Vec<Resource>, ctx: &Ctx<'_>) -> Result<()> {
    let (_, kind) = kind_of(cfg)?;
    match kind {
        "NamespaceTransformer" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct C {
                metadata: Meta,
                #[serde(default)]
                field_specs: Vec<FieldSpecDef>,
                #[serde(default)]
                unset_only: bool,
                #[serde(default)]
                set_role_binding_subjects: String,
            }
            let c: C = parse(cfg, kind)?;
            if c.metadata.namespace.is_empty() {
                return Ok(());
            }
            let mode =
                if c.set_role_binding_subjects.is_empty() { "defaultOnly" } else { &c.set_role_binding_subjects };
            transform::namespace(&c.metadata.namespace, resources, &specs(&c.field_specs), c.unset_only, mode)
        }
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct C {
                #[serde(default)]
                prefix: String,
                #[serde(default)]
                suffix: String,
                #[serde(default)]
                field_specs: Vec<FieldSpecDef>,
            }
            let c: C = parse(cfg, kind)?;
            let fs = specs(&c.field_specs);
            if kind != "SuffixTransformer" {
                transform::name_affix(&c.prefix, true, resources, &fs);
            }
            if kind != "PrefixTransformer" {
                transform::name_affix(&c.suffix, false, resources, &fs);
            }
            Ok(())
        }
        "LabelTransformer" | "AnnotationsTransformer" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct C {
                #[serde(default)]
                labels: BTreeMap<String, String>,
                #[serde(default)]
                annotations: BTreeMap<String, String>,
                #[serde(default)]
                field_specs: Vec<FieldSpecDef>,
            }
            let c: C = parse(cfg, kind)?;
            let pairs = if kind == "LabelTransformer" { &c.labels } else { &c.annotations };
            transform::set_map_entries(pairs, resources, &specs(&c.field_specs))
        }
        "ImageTagTransformer" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct C {
                image_tag: Image,
                #[serde(default)]
                field_specs: Vec<FieldSpecDef>,
            }
            let c: C = parse(cfg, kind)?;
            transform::image_tag(&c.image_tag, resources, &specs(&c.field_specs))
        }
        "ReplicaCountTransformer" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct C {
                replica: Replica,
                #[serde(default)]
                field_specs: Vec<FieldSpecDef>,
            }
            let c: C = parse(cfg, kind)?;
            transform::replicas(std::slice::from_ref(&c.replica), resources, &specs(&c.field_specs))
        }
        "PatchTransformer" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct C {
                path: Option<String>,
                patch: Option<String>,
                target: Option<Selector>,
                options: Option<BTreeMap<String, bool>>,
            }
            let c: C = parse(cfg, kind)?;
            patch::patch_entry(
                &Patch { path: c.path, patch: c.patch, target: c.target, options: c.options },
                resources,
                ctx,
            )
        }
        "PatchStrategicMergeTransformer" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct C {
                #[serde(default)]
                paths: Vec<String>,
                patches: Option<String>,
            }
            let c: C = parse(cfg, kind)?;
            let mut list = c.paths;
            if let Some(p) = c.patches {
                list.push(p);
            }
            patch::strategic_merge_legacy(&list, resources, ctx)
        }
        "PatchJson6902Transformer" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct C {
                target: Option<Selector>,
                path: Option<String>,
                json_op: Option<String>,
            }
            let c: C = parse(cfg, kind)?;
            patch::json6902_legacy(
                &Patch { path: c.path, patch: c.json_op, target: c.target, options: None },
                resources,
                ctx,
            )
        }
        "ReplacementTransformer" => {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct C {
                #[serde(default)]
                replacements: Vec<ReplacementField>,
            }
            let c: C = parse(cfg, kind)?;
            replacement::run(&c.replacements, resources, ctx.loader)
        }
        other => Err(Error::msg(format!("builtin transformer {other:?} is not supported"))),
    }
}
