//! A `nats-server` that wants TLS and a credentials file, for tests of both (feature
//! `testing`): [`secured`].

use crate::server::Server;
use base64::Engine as _;
use nkeys::KeyPair;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair as CertKey};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// A NATS JWT (v2) for `claims` of kind `kind` about `subject`, signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, kind: serde_json::Value) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "jti": format!("{subject}-{iat}"),
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": kind,
    });
    let body = format!("{header}.{}", b64(claims.to_string().as_bytes()));
    let signature = issuer.sign(body.as_bytes()).unwrap();
    format!("{body}.{}", b64(&signature))
}

/// An account's claims: nothing limited, JetStream on when `jetstream` (the server
/// refuses it on the system account).
fn account(jetstream: bool) -> serde_json::Value {
    let storage = if jetstream { -1 } else { 0 };
    json!({
        "limits": {
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1,
            "mem_storage": storage, "disk_storage": storage, "streams": storage,
            "consumer": storage
        },
        "default_permissions": { "pub": {}, "sub": {} },
        "type": "account",
        "version": 2
    })
}

/// A secured server and what a client needs to reach it.
#[derive(Debug)]
pub struct Secured {
    /// The server: TLS on its client port, operator mode (no anonymous clients).
    pub server: Server,
    /// The CA (PEM) that signed the server's certificate for 127.0.0.1.
    pub ca: PathBuf,
    /// A user's `.creds` file (its JWT and NKey seed), of an account with JetStream.
    pub creds: PathBuf,
}

/// Starts a `nats-server` in operator mode behind TLS, its files in `dir`: a CA and a
/// server certificate for 127.0.0.1 made here, operator, account and user JWTs signed
/// here with NKeys (the accounts preloaded in a memory resolver), and the user's `.creds`
/// file. Panics when any step fails (it is for tests).
pub fn secured(dir: &Path) -> Secured {
    // TLS: a CA, and a certificate for 127.0.0.1 signed by it.
    let ca_key = CertKey::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = CertKey::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let (ca_file, cert_file, key_file) = (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    );
    std::fs::write(&ca_file, ca.pem()).unwrap();
    std::fs::write(&cert_file, leaf.pem()).unwrap();
    std::fs::write(&key_file, leaf_key.serialize_pem()).unwrap();

    // Operator mode: operator → accounts (the system one and ours) → a user of ours.
    let operator = KeyPair::new_operator();
    let system = KeyPair::new_account();
    let logs = KeyPair::new_account();
    let user = KeyPair::new_user();
    let operator_jwt = jwt(
        &operator,
        &operator.public_key(),
        "op",
        json!({ "type": "operator", "version": 2 }),
    );
    let system_jwt = jwt(&operator, &system.public_key(), "SYS", account(false));
    let logs_jwt = jwt(&operator, &logs.public_key(), "logs", account(true));
    let user_jwt = jwt(
        &logs,
        &user.public_key(),
        "shipper",
        json!({
            "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2
        }),
    );
    let operator_file = dir.join("operator.jwt");
    std::fs::write(&operator_file, &operator_jwt).unwrap();
    let creds = dir.join("shipper.creds");
    std::fs::write(
        &creds,
        format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap()
        ),
    )
    .unwrap();
    let conf = format!(
        r#"
operator: "{operator}"
system_account: {system}
resolver: MEMORY
resolver_preload: {{
  {system}: "{system_jwt}"
  {logs}: "{logs_jwt}"
}}
tls {{
  cert_file: "{cert}"
  key_file: "{key}"
}}
"#,
        operator = operator_file.display(),
        system = system.public_key(),
        logs = logs.public_key(),
        cert = cert_file.display(),
        key = key_file.display(),
    );
    let server = Server::start_configured(&dir.join("store"), &conf).unwrap();
    Secured {
        server,
        ca: ca_file,
        creds,
    }
}
