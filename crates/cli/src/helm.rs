//! `ferry helm template`: Helm's command, flags and exit codes, rendered by `ferry-helm`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;

use clap::{Args, Subcommand};
use ferry_helm::template::{TemplateOptions, template};
use ferry_helm::values::options::ValueOptions;

/// Helm, natively.
#[derive(Subcommand)]
pub enum HelmCmd {
    /// Render chart templates locally and display the output (as `helm template`).
    Template(Box<TemplateArgs>),
}

/// The flags of `helm template`.
#[derive(Args)]
pub struct TemplateArgs {
    /// `[NAME] CHART`: a chart directory or archive, optionally after the release name.
    #[arg(num_args = 1..=3, required = true)]
    args: Vec<String>,
    /// Values files (repeatable, or comma-separated).
    #[arg(short = 'f', long = "values", value_delimiter = ',')]
    values: Vec<PathBuf>,
    /// Values on the command line (`a.b=c,d=e`).
    #[arg(long = "set")]
    set: Vec<String>,
    /// String values on the command line.
    #[arg(long = "set-string")]
    set_string: Vec<String>,
    /// Values read from files (`key=path`).
    #[arg(long = "set-file")]
    set_file: Vec<String>,
    /// JSON values on the command line.
    #[arg(long = "set-json")]
    set_json: Vec<String>,
    /// Literal string values on the command line.
    #[arg(long = "set-literal")]
    set_literal: Vec<String>,
    /// The release namespace.
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    namespace: String,
    /// A template for the release name.
    #[arg(long = "name-template")]
    name_template: Option<String>,
    /// Generate the release name.
    #[arg(short = 'g', long = "generate-name")]
    generate_name: bool,
    /// Include CRDs in the output.
    #[arg(long = "include-crds")]
    include_crds: bool,
    /// Leave out test hooks.
    #[arg(long = "skip-tests")]
    skip_tests: bool,
    /// Leave out hooks.
    #[arg(long = "no-hooks")]
    no_hooks: bool,
    /// Set `.Release.IsUpgrade` instead of `.Release.IsInstall`.
    #[arg(long = "is-upgrade")]
    is_upgrade: bool,
    /// The Kubernetes version for `.Capabilities.KubeVersion`.
    #[arg(long = "kube-version")]
    kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions`.
    #[arg(short = 'a', long = "api-versions", value_delimiter = ',')]
    api_versions: Vec<String>,
    /// Only show manifests rendered from these templates.
    #[arg(short = 's', long = "show-only")]
    show_only: Vec<String>,
    /// Skip values.schema.json validation.
    #[arg(long = "skip-schema-validation")]
    skip_schema_validation: bool,
    /// A program that rewrites the manifests (stdin to stdout).
    #[arg(long = "post-renderer")]
    post_renderer: Option<String>,
    /// Arguments for the post-renderer.
    #[arg(long = "post-renderer-args")]
    post_renderer_args: Vec<String>,
    /// Print more on errors (accepted for compatibility).
    #[arg(long = "debug")]
    debug: bool,
}

fn read_value_file(path: &str) -> Result<String, String> {
    if path.trim() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| e.to_string())?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| format!("open {path}: {}", io_reason(&e)))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn release_name(args: &TemplateArgs) -> Result<(String, String), String> {
    match args.args.len() {
        3 => Err(format!("expected at most two arguments, unexpected arguments: {}", args.args[2])),
        2 => {
            if args.generate_name {
                return Err("cannot set --generate-name and also specify a name".into());
            }
            if args.name_template.is_some() {
                return Err("cannot set --name-template and also specify a name".into());
            }
            Ok((args.args[0].clone(), args.args[1].clone()))
        }
        _ => {
            if let Some(t) = &args.name_template {
                return Ok((ferry_helm::template::name_from_template(t)?, args.args[0].clone()));
            }
            Ok(("release-name".into(), args.args[0].clone()))
        }
    }
}

fn run(args: &TemplateArgs) -> Result<String, String> {
    let (name, chart_path) = release_name(args)?;
    let mut opts = ValueOptions::default();
    for f in &args.values {
        let text = read_value_file(&f.display().to_string())?;
        opts.value_files.push((f.display().to_string(), text));
    }
    opts.values = args.set.clone();
    opts.string_values = args.set_string.clone();
    opts.file_values = args.set_file.clone();
    opts.json_values = args.set_json.clone();
    opts.literal_values = args.set_literal.clone();
    let vals = opts.merge(&mut read_value_file).map_err(|e| e.to_string())?;
    let path = PathBuf::from(&chart_path);
    if !path.exists() {
        return Err(format!("path {chart_path:?} not found"));
    }
    let chart = ferry_helm::chart::load::load(&path).map_err(|e| error_chain(&e))?;
    let post_renderer = args.post_renderer.clone().map(|program| {
        let extra = args.post_renderer_args.clone();
        Arc::new(move |input: &str| post_render(&program, &extra, input)) as Arc<ferry_helm::template::PostRenderer>
    });
    let topts = TemplateOptions {
        release_name: name,
        namespace: args.namespace.clone(),
        is_upgrade: args.is_upgrade,
        include_crds: args.include_crds,
        skip_tests: args.skip_tests,
        disable_hooks: args.no_hooks,
        show_only: args.show_only.clone(),
        kube_version: args.kube_version.clone(),
        api_versions: args.api_versions.clone(),
        skip_schema_validation: args.skip_schema_validation,
        post_renderer,
        ..TemplateOptions::default()
    };
    template(chart, &vals, &topts).map(|r| r.output).map_err(|e| e.cli_message())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    e.to_string()
}

fn post_render(program: &str, args: &[String], input: &str) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("unable to run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "error while running command {program}. error output:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a `ferry helm` command: output on stdout, `Error: ...` on stderr and exit code 1 on
/// failure, as Helm.
pub fn main(cmd: HelmCmd) -> ExitCode {
    match cmd {
        HelmCmd::Template(args) => match run(&args) {
            Ok(out) => {
                let mut stdout = std::io::stdout().lock();
                if stdout.write_all(out.as_bytes()).and_then(|_| stdout.flush()).is_err() {
                    return ExitCode::FAILURE;
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                let _ = args.debug;
                eprintln!("Error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
