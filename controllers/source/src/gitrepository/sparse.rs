//! `spec.sparseCheckout`: every directory asked for must exist in the
//! checkout, as Flux checks after cloning; an artifact without them would
//! look to a pruning Kustomization like "delete everything".

use std::path::{Component, Path, PathBuf};

/// The first directory of `paths` missing under `root`, as Flux's
/// `validateSparseCheckoutPaths` words it.
pub fn validate(root: &Path, paths: &[String]) -> Result<(), String> {
    for path in paths {
        let full = join_within(root, path);
        if let Err(error) = std::fs::symlink_metadata(&full) {
            let cause = match error.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                _ => error.to_string(),
            };
            return Err(format!(
                "failed to sparse checkout directories : sparse checkout dir '{path}' does not exist in repository: lstat {}: {cause}",
                full.display()
            ));
        }
    }
    Ok(())
}

/// `path` under `root`, with `..` unable to climb above `root` (as
/// securejoin resolves it lexically).
fn join_within(root: &Path, path: &str) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    parts.iter().fold(root.to_path_buf(), |full, part| full.join(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directories_are_named_and_paths_stay_inside() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("deploy/base")).unwrap();
        assert!(validate(root.path(), &["deploy".into(), "./deploy/base/".into()]).is_ok());
        let error = validate(root.path(), &["deploy".into(), "./clusters/prod".into()]).unwrap_err();
        assert!(
            error.starts_with(
                "failed to sparse checkout directories : sparse checkout dir './clusters/prod' does not exist in repository: lstat "
            ),
            "{error}"
        );
        assert!(error.ends_with("clusters/prod: no such file or directory"), "{error}");
        assert_eq!(join_within(Path::new("/r"), "../../etc/../deploy"), Path::new("/r/deploy"));
    }
}
