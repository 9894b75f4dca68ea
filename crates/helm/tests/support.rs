//! Shared by the golden and differential tests: `helm template` flags turned into a
//! `ferry-helm` call, and the Helm binary when `cargo xtask` provides it.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_helm::template::{TemplateOptions, template};
use ferry_helm::values::options::ValueOptions;

/// Helm from `FERRY_HELM` (set by `cargo xtask test`), if any.
pub fn helm_binary() -> Option<PathBuf> {
    std::env::var_os("FERRY_HELM").map(PathBuf::from).filter(|p| p.is_file())
}

/// Renders like `helm template ARGS...` with `ferry-helm`: the same flags, parsed the same way.
pub fn ferry_template(args: &[String], cwd: &Path) -> Result<String, String> {
    let mut positional = Vec::new();
    let mut values = ValueOptions::default();
    let mut opts = TemplateOptions::default();
    let mut i = 0;
    let next = |i: &mut usize| {
        *i += 1;
        args.get(*i).cloned().ok_or_else(|| format!("flag {} needs a value", args[*i - 1]))
    };
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-f" | "--values" => {
                for f in next(&mut i)?.split(',') {
                    let text = std::fs::read_to_string(cwd.join(f)).map_err(|e| format!("{f}: {e}"))?;
                    values.value_files.push((f.to_string(), text));
                }
            }
            "--set" => values.values.push(next(&mut i)?),
            "--set-string" => values.string_values.push(next(&mut i)?),
            "--set-json" => values.json_values.push(next(&mut i)?),
            "--set-literal" => values.literal_values.push(next(&mut i)?),
            "--set-file" => values.file_values.push(next(&mut i)?),
            "-n" | "--namespace" => opts.namespace = next(&mut i)?,
            "--is-upgrade" => opts.is_upgrade = true,
            "--include-crds" => opts.include_crds = true,
            "--skip-tests" => opts.skip_tests = true,
            "--no-hooks" => opts.disable_hooks = true,
            "--skip-schema-validation" => opts.skip_schema_validation = true,
            "--kube-version" => opts.kube_version = Some(next(&mut i)?),
            "-a" | "--api-versions" => opts.api_versions.extend(next(&mut i)?.split(',').map(str::to_string)),
            "-s" | "--show-only" => opts.show_only.push(next(&mut i)?),
            other if other.starts_with('-') => return Err(format!("unsupported flag {other}")),
            other => positional.push(other.to_string()),
        }
        i += 1;
    }
    let chart_path = match positional.len() {
        1 => positional[0].clone(),
        2 => {
            opts.release_name = positional[0].clone();
            positional[1].clone()
        }
        _ => return Err("expected [NAME] CHART".into()),
    };
    let vals = values
        .merge(&mut |p| std::fs::read_to_string(cwd.join(p)).map_err(|e| e.to_string()))
        .map_err(|e| e.to_string())?;
    let chart = ferry_helm::chart::load::load(&cwd.join(&chart_path)).map_err(|e| e.to_string())?;
    template(chart, &vals, &opts).map(|r| r.output).map_err(|e| e.cli_message().trim_end().to_string())
}

/// Runs `helm template ARGS...` in `cwd`: stdout, or the message after `Error: `.
pub fn helm_template(helm: &Path, args: &[String], cwd: &Path) -> Result<String, String> {
    let out = Command::new(helm)
        .arg("template")
        .args(args)
        .current_dir(cwd)
        .env("HELM_CACHE_HOME", std::env::temp_dir().join("ferry-helm-cache"))
        .env("HELM_CONFIG_HOME", std::env::temp_dir().join("ferry-helm-config"))
        .env("HELM_DATA_HOME", std::env::temp_dir().join("ferry-helm-data"))
        .output()
        .map_err(|e| format!("running helm: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        // Helm logs warnings before the error; the error starts at `Error: `.
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let start = err.find("Error: ").map(|i| i + "Error: ".len()).unwrap_or(0);
        Err(err[start..].trim_end().to_string())
    }
}
