//! AWS Signature Version 4 for header-signed requests: the canonical
//! request, the string to sign, the derived signing key and the
//! `Authorization` header, as AWS documents them (S3 flavour: the path is
//! encoded once, the payload hash travels in `x-amz-content-sha256`).
//!
//! Pure functions of their inputs, so that AWS's published examples test
//! them byte for byte.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The signing algorithm's name.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The hex SHA-256 of an empty payload.
pub const EMPTY_PAYLOAD_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Long-lived or temporary keys of an account.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The access key ID.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: String,
    /// The session token of temporary credentials (`x-amz-security-token`).
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key", &self.access_key).finish_non_exhaustive()
    }
}

/// A request to sign: everything the signature covers.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// `GET`, `HEAD`, ...
    pub method: &'a str,
    /// The path, not yet encoded (`/bucket/key`).
    pub path: &'a str,
    /// The query parameters, not yet encoded, in any order.
    pub query: &'a [(String, String)],
    /// The headers to sign (with `host` and `x-amz-date`), names in any case.
    pub headers: &'a [(String, String)],
    /// The hex SHA-256 of the payload (or `UNSIGNED-PAYLOAD`).
    pub payload_sha256: &'a str,
}

/// Where and when a signature applies.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// `YYYYMMDDTHHMMSSZ`, the value of `x-amz-date`.
    pub timestamp: &'a str,
    /// The region (`us-east-1`).
    pub region: &'a str,
    /// The service (`s3`).
    pub service: &'a str,
}

impl Scope<'_> {
    /// `YYYYMMDD/<region>/<service>/aws4_request`.
    pub fn credential_scope(&self) -> String {
        format!("{}/{}/{}/aws4_request", &self.timestamp[..8.min(self.timestamp.len())], self.region, self.service)
    }
}

/// AWS's `UriEncode`: every byte but `A-Za-z0-9-_.~` as `%XX` (upper case),
/// and `/` kept when `keep_slash` (paths).
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') || (keep_slash && byte == b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The query string as signed and sent: encoded pairs sorted by name, then value.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// The canonical headers block and the signed headers list.
fn canonical_headers(headers: &[(String, String)]) -> (String, String) {
    let mut lines: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    lines.sort();
    let block = lines.iter().map(|(name, value)| format!("{name}:{value}\n")).collect::<String>();
    let signed = lines.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";");
    (block, signed)
}

/// The canonical request and its signed headers list.
pub fn canonical_request(request: &Request<'_>) -> (String, String) {
    let (headers, signed) = canonical_headers(request.headers);
    let path = if request.path.is_empty() { "/".to_string() } else { uri_encode(request.path, true) };
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        path,
        canonical_query(request.query),
        headers,
        signed,
        request.payload_sha256
    );
    (canonical, signed)
}

/// The string to sign for a canonical request.
pub fn string_to_sign(canonical_request: &str, scope: &Scope<'_>) -> String {
    format!(
        "{ALGORITHM}\n{}\n{}\n{}",
        scope.timestamp,
        scope.credential_scope(),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The key derived from the secret for one day, region and service.
pub fn signing_key(secret_key: &str, scope: &Scope<'_>) -> Vec<u8> {
    let date = &scope.timestamp[..8.min(scope.timestamp.len())];
    let key = hmac(format!("AWS4{secret_key}").as_bytes(), date.as_bytes());
    let key = hmac(&key, scope.region.as_bytes());
    let key = hmac(&key, scope.service.as_bytes());
    hmac(&key, b"aws4_request")
}

/// The hex signature of `request`.
pub fn signature(request: &Request<'_>, scope: &Scope<'_>, secret_key: &str) -> String {
    let (canonical, _) = canonical_request(request);
    let to_sign = string_to_sign(&canonical, scope);
    hex::encode(hmac(&signing_key(secret_key, scope), to_sign.as_bytes()))
}

/// The `Authorization` header's value for `request`.
pub fn authorization(request: &Request<'_>, scope: &Scope<'_>, credentials: &Credentials) -> String {
    let (canonical, signed) = canonical_request(request);
    let to_sign = string_to_sign(&canonical, scope);
    let signature = hex::encode(hmac(&signing_key(&credentials.secret_key, scope), to_sign.as_bytes()));
    format!(
        "{ALGORITHM} Credential={}/{},SignedHeaders={signed},Signature={signature}",
        credentials.access_key,
        scope.credential_scope()
    )
}

/// `YYYYMMDDTHHMMSSZ` for seconds since the Unix epoch (UTC).
pub fn timestamp(unix_seconds: u64) -> String {
    let at = i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
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

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The keys of AWS's S3 examples (sig-v4-header-based-auth).
    fn s3_example_credentials() -> Credentials {
        Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        }
    }

    const S3_SCOPE: Scope<'static> = Scope { timestamp: "20130524T000000Z", region: "us-east-1", service: "s3" };

    /// AWS's "Example: GET Object" (the first 10 bytes of test.txt).
    #[test]
    fn aws_s3_example_get_object() {
        let headers = pairs(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_PAYLOAD_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let request = Request {
            method: "GET",
            path: "/test.txt",
            query: &[],
            headers: &headers,
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        let (canonical, signed) = canonical_request(&request);
        assert_eq!(
            canonical,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n\
             x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n\
             x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(signed, "host;range;x-amz-content-sha256;x-amz-date");
        assert_eq!(
            string_to_sign(&canonical, &S3_SCOPE),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\
             7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let credentials = s3_example_credentials();
        assert_eq!(
            signature(&request, &S3_SCOPE, &credentials.secret_key),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert_eq!(
            authorization(&request, &S3_SCOPE, &credentials),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    /// AWS's "Example: GET Bucket (List Objects)" (`?max-keys=2&prefix=J`).
    #[test]
    fn aws_s3_example_list_objects() {
        let headers = pairs(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY_PAYLOAD_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let query = pairs(&[("prefix", "J"), ("max-keys", "2")]);
        let request = Request {
            method: "GET",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        assert_eq!(canonical_query(&query), "max-keys=2&prefix=J");
        assert_eq!(
            signature(&request, &S3_SCOPE, &s3_example_credentials().secret_key),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    /// AWS's "Example: GET Bucket Lifecycle" (a query parameter without value).
    #[test]
    fn aws_s3_example_get_bucket_lifecycle() {
        let headers = pairs(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY_PAYLOAD_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let query = pairs(&[("lifecycle", "")]);
        let request = Request {
            method: "GET",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_PAYLOAD_SHA256,
        };
        assert_eq!(
            signature(&request, &S3_SCOPE, &s3_example_credentials().secret_key),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
        );
    }

    /// AWS's Signature Version 4 test suite, `get-vanilla` and
    /// `get-vanilla-query-order-key-case` (service `service`).
    #[test]
    fn aws_test_suite_get_vanilla() {
        let scope = Scope { timestamp: "20150830T123600Z", region: "us-east-1", service: "service" };
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let headers = pairs(&[("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]);
        let request =
            Request { method: "GET", path: "/", query: &[], headers: &headers, payload_sha256: EMPTY_PAYLOAD_SHA256 };
        let (canonical, _) = canonical_request(&request);
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            signature(&request, &scope, secret),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        let query = pairs(&[("Param2", "value2"), ("Param1", "value1")]);
        let request = Request { query: &query, ..request };
        assert_eq!(
            signature(&request, &scope, secret),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn encodes_as_aws_uri_encode() {
        assert_eq!(uri_encode("a b/c~d_e.f-g", true), "a%20b/c~d_e.f-g");
        assert_eq!(uri_encode("a/b+c=ü", false), "a%2Fb%2Bc%3D%C3%BC");
    }

    #[test]
    fn formats_timestamps() {
        assert_eq!(timestamp(0), "19700101T000000Z");
        assert_eq!(timestamp(1_369_353_600), "20130524T000000Z");
        assert_eq!(timestamp(1_440_938_160), "20150830T123600Z");
        assert_eq!(timestamp(951_782_400), "20000229T000000Z");
    }
}
