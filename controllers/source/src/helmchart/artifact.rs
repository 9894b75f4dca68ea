//! Source artifacts as a consumer reads them: downloaded from the URL the
//! source advertises, checked against its digest while streaming (the
//! SDK's fetch), and, for a HelmRepository, loaded as the index it is.

use std::path::Path;
use std::time::Duration;

use ferry_api_meta::Artifact;
use ferry_sdk::artifact::Fetcher;

use crate::helmrepository::index::{self, IndexFile};

/// How long downloads of source artifacts may take.
const SOURCE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a stored index could not be had.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The download failed.
    #[error("failed to fetch source artifact: {source}")]
    Fetch {
        /// The SDK's error.
        source: ferry_sdk::artifact::Error,
    },
    /// The scratch file could not be made or read.
    #[error("failed to read the downloaded artifact: {source}")]
    Scratch {
        /// The cause.
        source: std::io::Error,
    },
    /// The stored index does not load.
    #[error("failed to load Helm repository index: {source}")]
    Index {
        /// Why.
        source: index::Error,
    },
}

/// Downloads `artifact` into the file `dest`, checking its digest.
pub async fn fetch(artifact: &Artifact, dest: &Path) -> Result<(), Error> {
    let fetcher = Fetcher::new(SOURCE_TIMEOUT)
        .map_err(|source| Error::Fetch { source })?
        .with_retries(2, Duration::from_millis(200));
    fetcher.fetch(&artifact.url, &artifact.digest, dest).await.map_err(|source| Error::Fetch { source })
}

/// A HelmRepository's stored index, downloaded and loaded.
pub async fn index(artifact: &Artifact) -> Result<IndexFile, Error> {
    let scratch =
        tempfile::Builder::new().prefix("helmchart-index-").tempdir().map_err(|source| Error::Scratch { source })?;
    let path = scratch.path().join("index.json");
    fetch(artifact, &path).await?;
    let raw = std::fs::read(&path).map_err(|source| Error::Scratch { source })?;
    index::load(&raw).map_err(|source| Error::Index { source })
}
