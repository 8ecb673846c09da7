//! The crate's errors: [`Error`] for everything an upload can meet, [`ParseError`] for the
//! token and presign responses.
//!
//! No message ever holds a credential: access tokens, client secrets and presigned URLs'
//! query strings are never formatted into an error (URLs print through
//! [`IngestUrl`](logferry_http::IngestUrl), which hides the query).

use logferry_retry::FatalReason;
use std::path::PathBuf;

/// Why a file was not uploaded, or an uploader could not be built.
///
/// `Display` says what happened at this layer, in one lowercase line; an underlying I/O or
/// HTTP error is available through [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`Config`](crate::Config) or [`TokenConfig`](crate::TokenConfig) field is out of
    /// range.
    #[error("invalid file upload config: `{field}` {reason}")]
    InvalidConfig {
        /// The field, as named in the config struct.
        field: &'static str,
        /// The rule it broke.
        reason: String,
    },
    /// A region name that is none of the seed's.
    #[error("unknown region `{name}`: expected US1, US2, US3, EU or an https:// API URL")]
    UnknownRegion {
        /// What was given (cut to 100 characters).
        name: String,
    },
    /// A custom endpoint or a URL derived from it was refused by
    /// [`IngestUrl`](logferry_http::IngestUrl) (plain HTTP to a remote host, credentials
    /// in the URL, not a URL).
    #[error("invalid taegis api endpoint")]
    InvalidEndpoint(#[source] logferry_http::Error),
    /// The file could not be opened, examined or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The path is a directory or another non-regular file.
    #[error("{} is not a regular file", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is empty. The contract does not say what an empty upload means, and there
    /// are no logs in it to ingest, so it is refused before anything is sent.
    #[error("{} is empty: there is nothing to upload (refused before presigning)", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a text log file (gzip-compressed, or not UTF-8), and
    /// [`Config::allow_binary`](crate::Config) is off. Refused before presigning.
    #[error("{}: {problem}", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// What makes it binary.
        problem: crate::NotText,
    },
    /// The file is larger than one S3 `PUT` takes.
    #[error(
        "{} is {size} bytes, more than the {limit} bytes a single S3 PUT takes",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit ([`MAX_PUT_BYTES`](crate::MAX_PUT_BYTES)).
        limit: u64,
    },
    /// The file's size changed between the presign request (which signs its length) and
    /// the end of the upload. The upload was abandoned before its last byte, so nothing
    /// was stored.
    #[error(
        "{} changed while uploading: {detail}; the upload was abandoned and nothing was stored",
        path.display()
    )]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// The size presigned.
        expected: u64,
        /// What was seen instead.
        detail: String,
    },
    /// The token endpoint refused the client credentials (400, 401, 403, ...).
    #[error("cannot obtain an access token: {reason}{}", oauth_suffix(.oauth_error))]
    TokenRefused {
        /// The status, what it means and what to check.
        reason: FatalReason,
        /// The OAuth2 `error` and `error_description` of the reply (RFC 6749, 5.2), if any.
        oauth_error: Option<String>,
    },
    /// The token endpoint answered 200 with a body that holds no usable token.
    #[error("the token endpoint answered 200 without a usable access token")]
    TokenResponse(#[source] ParseError),
    /// The presign endpoint answered 401 to an access token: a static token (which cannot
    /// be refreshed), or a token just obtained from the token endpoint.
    #[error(
        "the presign endpoint rejected the access token (http 401{}): {}",
        server_suffix(.message),
        if *.refreshed {
            "a freshly issued token was refused too; check the API client's permissions and that the endpoint is your region's"
        } else {
            "use a valid, unexpired access token, or client credentials so that tokens are refreshed"
        }
    )]
    AccessTokenRejected {
        /// True when the token had just been refreshed.
        refreshed: bool,
        /// What the server said, if anything.
        message: Option<String>,
    },
    /// The presign endpoint refused the request (400, 403, 404, ...).
    #[error("the presign request for `{file_name}` was refused with http {status}{}", server_suffix(.message))]
    PresignRefused {
        /// The `file_name` sent.
        file_name: String,
        /// The HTTP status.
        status: u16,
        /// What the server said, if anything.
        message: Option<String>,
    },
    /// The presign endpoint answered 200 with a body that holds no usable `location`.
    #[error("the presign endpoint answered 200 for `{file_name}` without a usable location")]
    PresignResponse {
        /// The `file_name` sent.
        file_name: String,
        /// What was wrong with the body.
        #[source]
        source: ParseError,
    },
    /// S3 refused the upload for a reason a new presigned URL cannot fix.
    #[error("the upload of {} was refused: {reason}", path.display())]
    PutRefused {
        /// The file.
        path: PathBuf,
        /// The status, the S3 error code, and what to check.
        reason: FatalReason,
    },
    /// S3 refused every presigned URL (403 `AccessDenied` / `SignatureDoesNotMatch`, an
    /// expired URL), [`Config::max_presigns`](crate::Config::max_presigns) times in a row.
    #[error(
        "the upload of {} was refused with {presigns} presigned URLs in a row (last: {last}); check the clock of this host and the tenant's File Upload access",
        path.display()
    )]
    PresignsExhausted {
        /// The file.
        path: PathBuf,
        /// Presigned URLs tried.
        presigns: u32,
        /// The last refusal.
        last: String,
    },
    /// S3 answered that the file needs a multipart upload (400 `EntityTooLarge` or 413),
    /// which File Upload's single `PUT` cannot do.
    #[error("{} is too large for a single S3 PUT (the server answered {last})", path.display())]
    NeedsMultipart {
        /// The file.
        path: PathBuf,
        /// The answer.
        last: String,
    },
    /// A step kept failing with retryable errors until the retry policy's stop condition.
    #[error("gave up on {step} after {attempts} attempts (last: {last})")]
    GaveUp {
        /// The step: "the token request", "the presign request for `x`", "the upload of x".
        step: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's outcome.
        last: String,
    },
    /// A request could not be sent at all (bad URL or client configuration).
    #[error("cannot send {step}")]
    Http {
        /// The step.
        step: String,
        /// The client's error.
        #[source]
        source: logferry_http::Error,
    },
    /// The uploader was shutting down: the file was not sent (or not sent again).
    #[error("{} was not uploaded: the uploader is shutting down", path.display())]
    Shutdown {
        /// The file.
        path: PathBuf,
    },
}

impl Error {
    /// True when the file itself is at fault (unreadable, empty, too large, changing), so
    /// other files may still upload; false for credential, endpoint and server problems,
    /// which usually affect every file.
    pub fn is_file_problem(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::NotAFile { .. }
                | Error::EmptyFile { .. }
                | Error::TooLarge { .. }
                | Error::FileChanged { .. }
                | Error::NeedsMultipart { .. }
        )
    }

    /// True for [`Error::Shutdown`]: the file was not sent because the uploader stopped.
    pub fn is_shutdown(&self) -> bool {
        matches!(self, Error::Shutdown { .. })
    }
}

fn oauth_suffix(oauth: &Option<String>) -> String {
    match oauth {
        Some(text) => format!(" (server said: {text})"),
        None => String::new(),
    }
}

fn server_suffix(message: &Option<String>) -> String {
    match message {
        Some(text) => format!(": {text}"),
        None => String::new(),
    }
}

/// Why a token or presign response body was not usable.
///
/// Messages never quote a token; a `location` is shown without its query string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not JSON, or not a JSON object.
    #[error("the body is not a JSON object ({0})")]
    NotAnObject(String),
    /// A required member is missing (or `null`).
    #[error("`{0}` is missing")]
    Missing(&'static str),
    /// A member is present but unusable.
    #[error("`{field}` {problem}")]
    Invalid {
        /// The member.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

pub(crate) use logferry_retry::sanitize_server_text as sanitize;
