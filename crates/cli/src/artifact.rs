//! `ferry push artifact` and `ferry pull artifact`: Flux's OCI artifacts
//! (`flux push artifact`'s shape), to and from a registry.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use ferry_oci::flux::{self, Metadata};
use ferry_oci::{Client, ClientOptions, Credentials, Repository};
use ferry_storage::{ArtifactPath, DigestAlgorithm, SourceIgnore, Storage};

/// The flags of `ferry push artifact`.
#[derive(clap::Args)]
pub struct PushArgs {
    /// Where to push, `oci://<host>/<repository>:<tag>`.
    url: String,
    /// The directory to package.
    #[arg(long)]
    path: PathBuf,
    /// The source address, e.g. the Git URL (the `org.opencontainers.image.source` annotation).
    #[arg(long)]
    source: String,
    /// The source revision, `<branch|tag>@sha1:<commit>` (the `org.opencontainers.image.revision` annotation).
    #[arg(long)]
    revision: String,
    /// Credentials for the registry, `<username>:<password>` or a token.
    #[arg(long)]
    creds: Option<String>,
    /// Allow plain HTTP to the registry.
    #[arg(long = "insecure-registry")]
    insecure_registry: bool,
    /// Paths to leave out, `.gitignore` syntax (comma separated).
    #[arg(long = "ignore-paths", value_delimiter = ',')]
    ignore_paths: Vec<String>,
    /// Set the created annotation to the Unix epoch, for reproducible digests.
    #[arg(long)]
    reproducible: bool,
    /// Print only the pushed digest URL.
    #[arg(long, short = 'o', value_parser = ["", "json", "yaml"], default_value = "")]
    output: String,
}

/// The flags of `ferry pull artifact`.
#[derive(clap::Args)]
pub struct PullArgs {
    /// What to pull, `oci://<host>/<repository>:<tag>` or `@<digest>`.
    url: String,
    /// The directory to extract the content into.
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Credentials for the registry, `<username>:<password>` or a token.
    #[arg(long)]
    creds: Option<String>,
    /// Allow plain HTTP to the registry.
    #[arg(long = "insecure-registry")]
    insecure_registry: bool,
}

fn client(url: &str, creds: Option<&str>, insecure: bool) -> Result<(Client, String)> {
    let (repository, reference) =
        Repository::parse_reference(url).with_context(|| format!("invalid artifact URL '{url}'"))?;
    let options = ClientOptions {
        credentials: creds.map(Credentials::parse),
        insecure,
        timeout: Duration::from_secs(60),
        user_agent: concat!("ferry/", env!("CARGO_PKG_VERSION")).into(),
        ..Default::default()
    };
    Ok((Client::new(repository, options)?, reference))
}

/// Packs `args.path` reproducibly and pushes it as a Flux artifact.
pub async fn push(args: PushArgs) -> Result<()> {
    if !args.url.starts_with("oci://") {
        bail!("URL must be in format 'oci://<domain>/<org>/<repo>:<tag>'");
    }
    if !args.path.is_dir() {
        bail!("invalid path '{}': not a directory", args.path.display());
    }
    let (client, tag) = client(&args.url, args.creds.as_deref(), args.insecure_registry)?;
    let layer = tarball(&args.path, &args.ignore_paths)?;
    let created = if args.reproducible { rfc3339(UNIX_EPOCH) } else { rfc3339(SystemTime::now()) };
    let metadata = Metadata { source: args.source, revision: args.revision, created };
    let name = client.repository().name();
    if args.output.is_empty() {
        eprintln!("► pushing artifact to {name}:{tag}");
    }
    let digest = flux::push(&client, &tag, Bytes::from(layer), &metadata).await?;
    match args.output.as_str() {
        "json" => println!("{}", serde_json::json!({"repository": name, "tag": tag, "digest": digest})),
        "yaml" => println!("repository: {name}\ntag: {tag}\ndigest: {digest}"),
        _ => eprintln!("✔ artifact successfully pushed to {name}@{digest}"),
    }
    Ok(())
}

/// Pulls a Flux artifact and extracts its content layer into `args.output`.
pub async fn pull(args: PullArgs) -> Result<()> {
    let (client, reference) = client(&args.url, args.creds.as_deref(), args.insecure_registry)?;
    eprintln!("► pulling artifact from {}", args.url.trim_start_matches("oci://"));
    let pulled = client.manifest(&reference).await?;
    let metadata = Metadata::of(&pulled.manifest);
    if !metadata.source.is_empty() {
        eprintln!("✔ source {}", metadata.source);
    }
    if !metadata.revision.is_empty() {
        eprintln!("✔ revision {}", metadata.revision);
    }
    let layer = pulled
        .manifest
        .layers
        .iter()
        .find(|l| l.media_type == flux::CONTENT_MEDIA_TYPE)
        .or(pulled.manifest.layers.first())
        .context("the artifact has no layers")?;
    let limits = ferry_sdk::artifact::Limits::default();
    let blob = client.blob(&layer.digest, limits.max_size).await?;
    std::fs::create_dir_all(&args.output).with_context(|| format!("creating {}", args.output.display()))?;
    ferry_sdk::artifact::extract_tar_gz(blob.as_slice(), &args.output, limits)
        .with_context(|| format!("extracting the layer {} into {}", layer.digest, args.output.display()))?;
    eprintln!("✔ artifact content extracted to {}", args.output.display());
    Ok(())
}

/// `dir` as a reproducible tar.gz, as source-controller packs artifacts
/// (ferry-storage's tarball: sorted entries, zero owners and times).
fn tarball(dir: &Path, ignore: &[String]) -> Result<Vec<u8>> {
    let scratch = tempfile::Builder::new().prefix("ferry-push-").tempdir()?;
    let storage = Storage::new(scratch.path(), "localhost", Duration::ZERO, 1, DigestAlgorithm::Sha256)?;
    let path = ArtifactPath::new("push", "cli", "artifact", "artifact.tar.gz")?;
    let rules = SourceIgnore::from_patterns(dir, ignore)?;
    storage.archive(&path, dir, &rules).with_context(|| format!("packing {}", dir.display()))?;
    Ok(std::fs::read(storage.local_path(&path))?)
}

/// `time` as RFC 3339 in UTC, to the second (Go's `time.RFC3339`).
fn rfc3339(moment: SystemTime) -> String {
    let at = time::OffsetDateTime::from(moment);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_000_000)), "2026-11-18T11:06:40Z");
    }
}
