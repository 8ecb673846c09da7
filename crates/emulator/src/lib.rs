//! A strict local emulator of the three ingest APIs logferry ships to (Taegis XDR HTTP
//! Ingest, Taegis File Upload, SentinelOne SDL `addEvents` and `uploadLogs`), with fault
//! injection: the test double of every backend, the target of `logferry demo`, and the
//! server of the benchmarks.
//!
//! Key items:
//! - [`Emulator::builder`] → [`EmulatorBuilder`] → [`Emulator`]: a running server (HTTPS
//!   with a CA generated at start, or plain HTTP on loopback) on its own runtime, with the
//!   URLs and credentials clients need, the received [`Record`]s and [`Upload`]s, the
//!   [`Stats`], run-time [`Faults`], and [`Emulator::shutdown`];
//! - [`cli`]: the `logferry-emulator` command line (ready file, admin API), reusable by
//!   the `logferry emulator` subcommand;
//! - [`sample`]: deterministic sample logs (syslog text, NDJSON events) for demos and
//!   benchmarks;
//! - [`charging`]: SDL `bytesCharged` from the seed's rules;
//! - [`fuzzing`]: harnesses for the fuzz targets.
//!
//! **Every rule is the seed's** (`../shared/seeds/`): each module quotes the sentences it
//! enforces (the `http_ingest`, `upload` and `sdl` modules). What a seed makes a
//! MUST or a limit is refused with the documented status; what it only recommends is
//! accepted and counted in [`Stats::violations`]. The emulator is a test double: it binds
//! loopback unless told otherwise with a `danger` flag, and keeps received data in memory
//! (bounded) and optionally in a JSONL file.
//!
//! # Endpoints
//!
//! | endpoint | path |
//! |---|---|
//! | HTTP Ingest | `POST /http-endpoint/v1/{integration}` (alias `/ingest/v1/{integration}`) |
//! | Taegis token | `POST /auth/api/v2/auth/token` |
//! | File Upload presign | `POST /s3-signer/v2/signed-s3url?file_name=&content_length=&sensor_id=&service=` |
//! | File Upload PUT | the presigned `location` (`/s3/logferry-uploads/...`) |
//! | SDL | `POST /api/addEvents`, `POST /api/uploadLogs` |
//! | admin | `/_emulator/...` (see the `admin` section of [`cli`]) |
//!
//! # Speed
//!
//! Count-only mode ([`EmulatorBuilder::count_only`]) reads and discards bodies. Measured by
//! `cargo bench -p logferry-benches --bench emulator` on the 2-core development machine
//! (client and emulator sharing both cores): a hyper client POSTing 1 MiB bodies over 4
//! plain HTTP/1.1 loopback connections is answered at **≈ 2.3 GiB/s** of request bodies.
//! In normal mode the cost is what the checks cost (gzip decoding, UTF-8 and JSON
//! validation, storing records).
//!
//! # Layout
//!
//! Imports go one way. At the bottom, leaves that know no API: `reply` (response
//! builders), `ctx` (the request context: body reading, the fault point, the services all
//! APIs share), `auth` (credential checks and key rings), `faults`, `stats`, `store`,
//! `config`, `util`. Above them one module per API, each owning its state and handlers:
//! `http_ingest`, `upload` (with the Taegis token endpoint) and `sdl`. Above those the
//! router, `server` (with the admin API), the only module that knows every API; and the
//! [`Emulator`] handle that starts it.
//!
//! It does not implement anything the seeds do not describe (no search, no query API),
//! and count-only mode deliberately checks nothing but header credentials.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), logferry_emulator::Error> {
//! use logferry_emulator::{Emulator, Endpoint, FaultSet, FaultStatus, Faults};
//! let emu = Emulator::builder()
//!     .plain_http()
//!     .faults(Faults::none().with_endpoint(
//!         Endpoint::SdlAddEvents,
//!         FaultSet::fail_first(1, FaultStatus::SdlBackoffIn200),
//!     ))
//!     .start()
//!     .await?;
//! assert!(emu.http_ingest_url().starts_with("http://127.0.0.1:"));
//! assert!(emu.records().is_empty());
//! emu.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod auth;
pub mod charging;
pub mod cli;
mod config;
mod ctx;
mod emulator;
mod endpoint;
mod error;
mod faults;
pub mod fuzzing;
mod http_ingest;
mod reply;
pub mod sample;
mod sdl;
mod server;
mod stats;
mod store;
mod tls;
mod upload;
mod util;

pub use config::{
    Config, HTTP_INGEST_MAX_BODY, S3_MAX_PUT, SDL_MAX_BODY, SDL_SESSION_RATE,
    SDL_SESSIONS_PER_5_MIN,
};
pub use emulator::{DEFAULT_INTEGRATION, Emulator, EmulatorBuilder, ReadyInfo};
pub use endpoint::Endpoint;
pub use error::Error;
pub use faults::{FaultSet, FaultStatus, Faults, LimitOverrides};
pub use stats::{
    EXAMPLES_PER_VIOLATION, EndpointStats, SessionStats, Stats, ViolationKind, ViolationStats,
};
pub use store::{Record, SdlFields, Upload};
