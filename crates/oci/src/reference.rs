//! Where an artifact lives: a registry host and a repository path.

use crate::{Error, Result};

/// A repository in a registry, `host[:port]/path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// The registry host, with its port when given.
    pub registry: String,
    /// The repository path inside the registry.
    pub path: String,
}

impl Repository {
    /// Parses `oci://host/path` (Flux's `spec.url`; no tag or digest).
    pub fn from_url(url: &str) -> Result<Self> {
        const FORMAT: &str = "URL must be in format 'oci://<domain>/<org>/<repo>'";
        let invalid = |reason: String| Error::InvalidReference { reference: url.to_string(), reason };
        let rest = url.strip_prefix("oci://").ok_or_else(|| invalid(FORMAT.into()))?;
        // Flux's check: a tag belongs in `spec.ref`.
        if let Some((_, path)) = rest.split_once('/')
            && let Some((_, tag)) = path.split_once(':')
        {
            return Err(invalid(format!("URL must not contain a tag; remove ':{tag}'")));
        }
        Self::parse(rest).map_err(|_| invalid(FORMAT.into()))
    }

    /// Parses `host/path`.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| Error::InvalidReference { reference: text.to_string(), reason: reason.into() };
        let (registry, path) = text.split_once('/').ok_or_else(|| invalid("no repository path after the host"))?;
        if registry.is_empty() || path.is_empty() {
            return Err(invalid("empty host or repository path"));
        }
        let path_ok = path.split('/').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
        });
        if !path_ok {
            return Err(invalid("the repository path must be lowercase letters, digits and separators"));
        }
        Ok(Self { registry: registry.to_string(), path: path.to_string() })
    }

    /// Parses `oci://host/path[:tag][@digest]` (the CLI's argument): the
    /// repository and the tag or digest, `latest` when neither is given.
    pub fn parse_reference(url: &str) -> Result<(Self, String)> {
        let text = url.strip_prefix("oci://").unwrap_or(url);
        if let Some((repo, digest)) = text.split_once('@') {
            return Ok((Self::parse(repo)?, digest.to_string()));
        }
        let last_slash = text.rfind('/').unwrap_or(0);
        match text[last_slash..].rfind(':') {
            Some(colon) => {
                let at = last_slash + colon;
                Ok((Self::parse(&text[..at])?, text[at + 1..].to_string()))
            }
            None => Ok((Self::parse(text)?, "latest".to_string())),
        }
    }

    /// `host/path`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// The host without the port, to decide on plain HTTP.
    pub fn hostname(&self) -> &str {
        match self.registry.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => &self.registry,
        }
    }

    /// Whether go-containerregistry tries plain HTTP after HTTPS for this
    /// registry without being told to: loopback, `localhost` and RFC 1918
    /// addresses.
    pub fn is_local(&self) -> bool {
        let host = self.hostname().trim_start_matches('[').trim_end_matches(']');
        if host == "localhost" {
            return true;
        }
        match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
            Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_references_parse() {
        let repo = Repository::from_url("oci://127.0.0.1:5000/org/app").unwrap();
        assert_eq!(repo.registry, "127.0.0.1:5000");
        assert_eq!(repo.path, "org/app");
        assert!(repo.is_local());
        assert!(Repository::from_url("https://ghcr.io/x").is_err());
        assert!(Repository::from_url("oci://ghcr.io").is_err());
        assert!(!Repository::from_url("oci://ghcr.io/x").unwrap().is_local());

        let (repo, tag) = Repository::parse_reference("oci://localhost:5000/app:v1.0.0").unwrap();
        assert_eq!((repo.registry.as_str(), repo.path.as_str(), tag.as_str()), ("localhost:5000", "app", "v1.0.0"));
        let (repo, tag) = Repository::parse_reference("oci://localhost:5000/app").unwrap();
        assert_eq!((repo.path.as_str(), tag.as_str()), ("app", "latest"));
        let (_, digest) = Repository::parse_reference("oci://h/app@sha256:abc").unwrap();
        assert_eq!(digest, "sha256:abc");
    }
}
