//! The artifact server: serves files of the storage root over HTTP, and
//! nothing else (no listings, no escapes, 404 for everything that is not a
//! stored file).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::io::ReaderStream;

/// A router that serves the files under `base` at their relative paths.
pub fn router(base: impl Into<PathBuf>) -> Router {
    let base = Arc::new(base.into());
    Router::new().route("/{*path}", get(serve)).with_state(base)
}

async fn serve(State(base): State<Arc<PathBuf>>, UrlPath(path): UrlPath<String>) -> Response {
    match open(&base, &path).await {
        Some((file, len, content_type)) => (
            [(header::CONTENT_TYPE, content_type), (header::CONTENT_LENGTH, len.to_string())],
            Body::from_stream(ReaderStream::new(file)),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Opens `requested` under `base` when it names a regular file that stays
/// inside `base` after following links.
async fn open(base: &Path, requested: &str) -> Option<(tokio::fs::File, u64, String)> {
    let relative = Path::new(requested.trim_start_matches('/'));
    if relative.as_os_str().is_empty() || !relative.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let root = tokio::fs::canonicalize(base).await.ok()?;
    let resolved = tokio::fs::canonicalize(root.join(relative)).await.ok()?;
    if !resolved.starts_with(&root) {
        return None;
    }
    let meta = tokio::fs::metadata(&resolved).await.ok()?;
    if !meta.is_file() {
        return None;
    }
    let file = tokio::fs::File::open(&resolved).await.ok()?;
    Some((file, meta.len(), content_type(relative).to_string()))
}

fn content_type(path: &Path) -> &'static str {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") || name.ends_with(".gz") {
        "application/gzip"
    } else if name.ends_with(".json") {
        "application/json"
    } else if name.ends_with(".yaml") || name.ends_with(".yml") {
        "application/yaml"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get_status(router: &Router, uri: &str) -> (StatusCode, Option<String>, Vec<u8>) {
        let response = router.clone().oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap().to_vec();
        (status, content_type, body)
    }

    #[tokio::test]
    async fn serves_stored_files_and_nothing_else() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "secret").unwrap();
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("gitrepository/default/app");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("abc.tar.gz"), b"tarball").unwrap();
        std::os::unix::fs::symlink(dir.join("abc.tar.gz"), dir.join("latest.tar.gz")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.join("escape")).unwrap();
        let router = router(base.path());

        let (status, content_type, body) = get_status(&router, "/gitrepository/default/app/abc.tar.gz").await;
        assert_eq!(
            (status, content_type.as_deref(), body.as_slice()),
            (StatusCode::OK, Some("application/gzip"), &b"tarball"[..])
        );
        let (status, _, body) = get_status(&router, "/gitrepository/default/app/latest.tar.gz").await;
        assert_eq!((status, body.as_slice()), (StatusCode::OK, &b"tarball"[..]));

        for uri in [
            "/",
            "/gitrepository",
            "/gitrepository/default/app/",
            "/gitrepository/default/app/missing.tar.gz",
            "/gitrepository/default/app/escape",
            "/gitrepository/default/app/../../../../etc/passwd",
            "/gitrepository/%2e%2e/%2e%2e/etc/passwd",
        ] {
            let (status, _, body) = get_status(&router, uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert!(!String::from_utf8_lossy(&body).contains("secret"), "{uri}");
        }
    }
}
