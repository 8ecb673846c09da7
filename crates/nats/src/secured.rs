//! `nats-server`s that want something of their clients, for tests (feature `testing`):
//! TLS and a credentials file ([`secured`]), a client certificate ([`mutual_tls`]), and
//! the files the other ways to authenticate need ([`nkey_user`]).

use crate::server::Server;
use base64::Engine as _;
use nkeys::KeyPair;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
    KeyPair as CertKey,
};
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

/// A new CA, its certificate written to `dir/NAME.pem`.
fn new_ca(dir: &Path, name: &str) -> (CertifiedIssuer<'static, CertKey>, PathBuf) {
    let ca_key = CertKey::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let file = dir.join(format!("{name}.pem"));
    std::fs::write(&file, ca.pem()).unwrap();
    (ca, file)
}

/// A certificate for `names` signed by `ca`, for `usage`, written to `dir/NAME.pem` and
/// its key to `dir/NAME.key`: the two paths.
fn new_leaf(
    ca: &CertifiedIssuer<'static, CertKey>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    dir: &Path,
    name: &str,
) -> (PathBuf, PathBuf) {
    let key = CertKey::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params.extended_key_usages = vec![usage];
    let leaf = params.signed_by(&key, ca).unwrap();
    let (cert_file, key_file) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_file, leaf.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (cert_file, key_file)
}

/// A CA (`dir/ca.pem`) and a server certificate for 127.0.0.1 signed by it: the CA,
/// its file, and the server's certificate and key files.
fn server_tls(dir: &Path) -> (CertifiedIssuer<'static, CertKey>, PathBuf, PathBuf, PathBuf) {
    let (ca, ca_file) = new_ca(dir, "ca");
    let (cert_file, key_file) = new_leaf(
        &ca,
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
        dir,
        "server",
    );
    (ca, ca_file, cert_file, key_file)
}

/// Starts a `nats-server` in operator mode behind TLS, its files in `dir`: a CA and a
/// server certificate for 127.0.0.1 made here, operator, account and user JWTs signed
/// here with NKeys (the accounts preloaded in a memory resolver), and the user's `.creds`
/// file. Panics when any step fails (it is for tests).
pub fn secured(dir: &Path) -> Secured {
    // TLS: a CA, and a certificate for 127.0.0.1 signed by it.
    let (_, ca_file, cert_file, key_file) = server_tls(dir);

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

/// A server that wants a client certificate, and the files of clients it takes and
/// refuses.
#[derive(Debug)]
pub struct MutualTls {
    /// The server: TLS on its client port with `verify: true` (a client without a
    /// certificate signed by [`ca`](Self::ca) is refused), JetStream, no other
    /// authorization.
    pub server: Server,
    /// The CA (PEM) that signed the server's certificate and the client's.
    pub ca: PathBuf,
    /// A client certificate (PEM) signed by `ca`, and its key.
    pub client: (PathBuf, PathBuf),
    /// A client certificate signed by another CA, and its key: refused.
    pub stranger: (PathBuf, PathBuf),
}

/// Starts a `nats-server` behind TLS that verifies client certificates, its files in
/// `dir`. Panics when any step fails (it is for tests).
pub fn mutual_tls(dir: &Path) -> MutualTls {
    let (ca, ca_file, cert_file, key_file) = server_tls(dir);
    let client = new_leaf(
        &ca,
        &["shipper"],
        ExtendedKeyUsagePurpose::ClientAuth,
        dir,
        "client",
    );
    let (other_ca, _) = new_ca(dir, "other-ca");
    let stranger = new_leaf(
        &other_ca,
        &["shipper"],
        ExtendedKeyUsagePurpose::ClientAuth,
        dir,
        "stranger",
    );
    let conf = format!(
        r#"
tls {{
  cert_file: "{cert}"
  key_file: "{key}"
  ca_file: "{ca}"
  verify: true
}}
"#,
        cert = cert_file.display(),
        key = key_file.display(),
        ca = ca_file.display(),
    );
    let server = Server::start_configured(&dir.join("store"), &conf).unwrap();
    MutualTls {
        server,
        ca: ca_file,
        client,
        stranger,
    }
}

/// A new user NKey: its public key (`U...`, for the server's `authorization { users = [{
/// nkey: ... }] }`) and a file in `dir` named `NAME.nk` holding its seed.
pub fn nkey_user(dir: &Path, name: &str) -> (String, PathBuf) {
    let user = KeyPair::new_user();
    let file = dir.join(format!("{name}.nk"));
    std::fs::write(&file, format!("{}\n", user.seed().unwrap())).unwrap();
    (user.public_key(), file)
}
