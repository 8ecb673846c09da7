//! The Taegis XDR File Upload backend: whole log files uploaded through presigned S3 URLs,
//! streamed from disk, retried, and reported file by file.
//!
//! From `taegis-file-upload-api.txt`: "You can use the File Upload API to send properly
//! formatted log files to Secureworks® Taegis™ XDR for ingestion and normalization
//! without a Taegis™ XDR Collector." The process: "1. Generate an Access Token 2. Request
//! the S3 Presigned URL 3. PUT the log file".
//!
//! Key items:
//! - [`Region`]: the seed's four API endpoints (US1, US2, US3, EU) or a custom one;
//! - [`Credentials`] and [`TokenProvider`]: a static access token, or OAuth2 client
//!   credentials exchanged at `POST {endpoint}/auth/api/v2/auth/token`, cached, refreshed
//!   before expiry and once on a 401, one request for all concurrent waiters;
//! - [`Uploader`] (from a [`Config`]): presign, streamed `PUT` with the exact signed
//!   `Content-Length`, retries through `logferry-retry`, presign-again on a refused URL,
//!   bounded concurrency over many files, an [`UploadReport`] per file and [`Stats`];
//! - [`parse_token_response`] and [`parse_presign_response`]: the two JSON replies,
//!   fuzzed (harnesses in [`fuzzing`]);
//! - [`Error`]: why a file was not uploaded, in one line an operator can act on.
//!
//! In the flow (`source → … → transport → report → ack`) this is a transport whose unit
//! is a whole file: it does not frame, batch or compress (the contract takes the file
//! as it is), and it does not remember what was uploaded across runs; the caller keeps
//! checkpoints from the reports. It does not do multipart uploads: a file is one `PUT` of
//! at most [`MAX_PUT_BYTES`].
//!
//! # Decisions the contract leaves open
//!
//! - **Empty files** are refused before presigning ([`Error::EmptyFile`]): the contract
//!   says nothing about them, an empty object carries no logs, and a presign for zero
//!   bytes would only spend a request.
//! - **`file_name`** is the path's last component, not the path the seed's script sends:
//!   the local directory layout is not the server's business.
//! - **`sensor_id`** is always sent (default `toaster.localhost`, what the seed says the
//!   server assumes); **`service`** is `Syslog` by default, as in the seed's only working
//!   example, and can be changed or left out.
//! - **Binary files** (gzip-compressed, or not UTF-8) are refused before presigning
//!   ([`Error::NotText`]) unless [`Config::allow_binary`]: the contract takes "properly
//!   formatted log files" and normalizes them line by line. [`TextCheck`] is the rule,
//!   shared with `logferry check --backend file-upload`.
//! - A file that **changes size** during an upload fails with [`Error::FileChanged`];
//!   the body checks one byte past the signed length before its last chunk leaves, so no
//!   complete (and wrong) object is stored. A rewrite that keeps the size is not detected.
//!
//! # Performance
//!
//! Memory does not grow with the file: one chunk ([`Config::read_chunk`], 256 KiB) is
//! read ahead, plus what hyper and TLS buffer. `examples/upload_big.rs` uploads a 1 GiB
//! file to the in-process emulator in count-only mode; under `/usr/bin/time -v` on the
//! 2-core development machine (shared with other builds, so throughput varied widely
//! between runs):
//!
//! | transport | MB/s | peak RSS (whole process, emulator included) |
//! |---|---|---|
//! | HTTPS, HTTP/1.1 (what S3 speaks) | 370–1170 | 17–18 MB |
//! | HTTPS, HTTP/2 by ALPN (the emulator offers it) | 170–435 | 13–17 MB |
//! | plain HTTP/1.1 on loopback | 1290–1975 | 11–17 MB |
//!
//! HTTP/2 uploads are slower through hyper's HTTP/2 flow control; S3 negotiates
//! HTTP/1.1, so that is the figure that matters for real uploads.
//!
//! # Example
//!
//! Against the emulator, as the tests do:
//!
//! ```
//! use logferry_http::{Client, ClientConfig, Secret};
//! use logferry_taegis_upload::{Config, Credentials, Region, Uploader};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let emu = logferry_emulator::Emulator::builder().start().await?;
//! let client = Client::new(ClientConfig {
//!     ca_pem: emu.ca_cert_pem().map(str::to_owned),
//!     ..ClientConfig::default()
//! })?;
//! let region: Region = emu.taegis_api_endpoint().parse()?;
//! let credentials = Credentials::client(emu.taegis_client_id(), emu.taegis_client_secret());
//! let uploader = Uploader::new(client, &region, credentials, Config::default())?;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("firewall.log");
//! std::fs::write(&path, "<13>Jan  1 00:00:00 fw1 accept\n")?;
//! let report = uploader.upload(&path).await;
//! assert!(report.is_delivered(), "{:?}", report.result);
//! assert_eq!(emu.uploads()[0].file_name, "firewall.log");
//! assert_eq!(uploader.stats().files_delivered, 1);
//! # Ok(()) }
//! ```

mod body;
mod content;
mod error;
pub mod fuzzing;
mod presign;
mod region;
mod s3;
mod token;
mod upload;

pub use content::{NotText, TextCheck};
pub use error::{Error, ParseError};
pub use presign::{DEFAULT_SENSOR_ID, DEFAULT_SERVICE, PRESIGN_PATH, parse_presign_response};
pub use region::Region;
pub use s3::S3Error;
pub use token::{
    AccessToken, Credentials, TOKEN_PATH, TokenConfig, TokenProvider, TokenResponse,
    parse_token_response,
};
pub use upload::{Config, MAX_PUT_BYTES, Progress, Stats, UploadReport, Uploader};
