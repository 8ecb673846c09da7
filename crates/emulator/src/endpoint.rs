//! The emulated endpoints, as named in stats, records, fault settings and the admin API.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One emulated endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Endpoint {
    /// Taegis HTTP Ingest: `POST /http-endpoint/v1/{integration}` (alias `/ingest/v1/...`).
    HttpIngest,
    /// Taegis OAuth2 client credentials: `POST /auth/api/v2/auth/token`.
    TaegisAuth,
    /// Taegis File Upload presign: `POST /s3-signer/v2/signed-s3url`.
    UploadPresign,
    /// The presigned S3-style `PUT` of a file.
    UploadPut,
    /// SDL `POST /api/addEvents`.
    SdlAddEvents,
    /// SDL `POST /api/uploadLogs`.
    SdlUploadLogs,
    /// Anything else (answered 404 or 405).
    Unknown,
}

impl Endpoint {
    /// Every endpoint, in a stable order.
    pub const ALL: [Endpoint; 7] = [
        Endpoint::HttpIngest,
        Endpoint::TaegisAuth,
        Endpoint::UploadPresign,
        Endpoint::UploadPut,
        Endpoint::SdlAddEvents,
        Endpoint::SdlUploadLogs,
        Endpoint::Unknown,
    ];

    /// The snake_case name used in JSON and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Endpoint::HttpIngest => "http_ingest",
            Endpoint::TaegisAuth => "taegis_auth",
            Endpoint::UploadPresign => "upload_presign",
            Endpoint::UploadPut => "upload_put",
            Endpoint::SdlAddEvents => "sdl_add_events",
            Endpoint::SdlUploadLogs => "sdl_upload_logs",
            Endpoint::Unknown => "unknown",
        }
    }

    /// True for the two SDL endpoints, whose errors carry an SDL `status` string.
    pub const fn is_sdl(self) -> bool {
        matches!(self, Endpoint::SdlAddEvents | Endpoint::SdlUploadLogs)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Endpoint::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Endpoint::ALL.iter().map(|e| e.as_str()).collect();
                format!(
                    "unknown endpoint `{s}` (expected one of {})",
                    names.join(", ")
                )
            })
    }
}
