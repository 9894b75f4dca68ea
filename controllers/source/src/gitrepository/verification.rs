//! When a stored artifact must be verified again although its revision did
//! not change: Flux's `requiresVerification`.

/// Whether `spec.verify.mode` (`mode`, HEAD when unset) asks for more than
/// `observed` (`status.sourceVerificationMode`) covered: nothing observed,
/// or one of HEAD and Tag observed and the other now asked for.
pub fn required(mode: Option<&str>, observed: Option<&str>) -> bool {
    let mode = mode.filter(|m| !m.is_empty()).unwrap_or("HEAD");
    match observed {
        None => true,
        Some("Tag") => matches!(mode, "HEAD" | "TagAndHEAD"),
        Some("HEAD") => matches!(mode, "Tag" | "TagAndHEAD"),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::required;

    #[test]
    fn more_than_was_verified_is_verified_again() {
        assert!(required(Some("HEAD"), None));
        assert!(required(Some("TagAndHEAD"), Some("HEAD")));
        assert!(required(Some("Tag"), Some("HEAD")));
        assert!(required(Some("HEAD"), Some("Tag")));
        assert!(required(Some("TagAndHEAD"), Some("Tag")));
        assert!(!required(Some("HEAD"), Some("HEAD")));
        assert!(!required(None, Some("HEAD")));
        assert!(!required(Some("HEAD"), Some("TagAndHEAD")));
        assert!(!required(Some("Tag"), Some("TagAndHEAD")));
        assert!(!required(Some("Tag"), Some("Tag")));
    }
}
