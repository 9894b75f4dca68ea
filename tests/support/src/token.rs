//! A token service of the Docker registry token specification, for a
//! [`crate::registry::Registry`] configured with `auth: token`: it checks
//! basic credentials and answers `GET /token?service=..&scope=..` with an
//! ES256 JWT whose `x5c` certificate the registry trusts (its
//! `rootcertbundle`), granting the actions asked for.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use tokio::net::TcpListener;

/// The `service` the registry names in its challenge.
pub const SERVICE: &str = "ferry-test-registry";
/// The `iss` of the tokens.
pub const ISSUER: &str = "ferry-test-token-issuer";

struct Signer {
    key: EcdsaKeyPair,
    certificate_der: Vec<u8>,
    user: String,
    password: String,
    granted: AtomicUsize,
}

/// A token service on a loopback port, stopped when dropped.
pub struct TokenService {
    addr: std::net::SocketAddr,
    certificate_pem: String,
    signer: Arc<Signer>,
    task: tokio::task::JoinHandle<()>,
}

impl TokenService {
    /// Starts a service granting tokens to `user` with `password`.
    pub async fn start(user: String, password: String) -> Result<Self> {
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(rcgen::DnType::CommonName, ISSUER);
        let certificate = params.self_signed(&key)?;
        let rng = ring::rand::SystemRandom::new();
        let signing = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &rng)
            .map_err(|e| anyhow::anyhow!("loading the token key: {e}"))?;
        let signer = Arc::new(Signer {
            key: signing,
            certificate_der: certificate.der().to_vec(),
            user,
            password,
            granted: AtomicUsize::new(0),
        });
        let router = Router::new().route("/token", axum::routing::get(token)).with_state(signer.clone());
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move { drop(axum::serve(listener, router).await) });
        Ok(Self { addr, certificate_pem: certificate.pem(), signer, task })
    }

    /// The token endpoint, the registry's `realm`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The PEM of the certificate whose key signs the tokens.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// How many tokens were granted.
    pub fn granted(&self) -> usize {
        self.signer.granted.load(Ordering::SeqCst)
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    #[serde(default)]
    scope: Option<String>,
}

async fn token(State(signer): State<Arc<Signer>>, headers: HeaderMap, Query(query): Query<TokenQuery>) -> Response {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", signer.user, signer.password));
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.strip_prefix("Basic ") == Some(expected.as_str()));
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "{\"details\":\"incorrect username or password\"}").into_response();
    }
    let access: Vec<serde_json::Value> = query
        .scope
        .iter()
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    match sign(&signer, access) {
        Ok(token) => {
            signer.granted.fetch_add(1, Ordering::SeqCst);
            axum::Json(serde_json::json!({"token": token, "access_token": token, "expires_in": 300})).into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error).into_response(),
    }
}

/// An ES256 JWT granting `access`, with the signing certificate in `x5c`.
fn sign(signer: &Signer, access: Vec<serde_json::Value>) -> Result<String, String> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let header = serde_json::json!({
        "typ": "JWT", "alg": "ES256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(&signer.certificate_der)],
    });
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": signer.user, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("ferry-{now}-{}", signer.granted.load(Ordering::SeqCst)), "access": access,
    });
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let rng = ring::rand::SystemRandom::new();
    let signature = signer.key.sign(&rng, signing_input.as_bytes()).map_err(|e| e.to_string())?;
    Ok(format!("{signing_input}.{}", b64(signature.as_ref())))
}
