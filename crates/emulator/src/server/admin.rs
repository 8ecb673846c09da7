//! The admin API under `/_emulator/`, for the binary's users (and tests in other
//! processes). Every call needs `Authorization: Bearer <admin token>` (the token is in the
//! ready file and [`Emulator::admin_token`](crate::Emulator::admin_token)). Admin calls are
//! not counted in the stats and never faulted.
//!
//! | call | does |
//! |---|---|
//! | `GET /_emulator/stats` | [`Stats`](crate::Stats) as JSON |
//! | `GET /_emulator/records?since=N&limit=M` | `{"records": [...], "next": N, "dropped": D}`: records with `seq >= N` (default limit 10,000); `dropped` counts those asked for but no longer in memory |
//! | `GET /_emulator/uploads` | every [`Upload`](crate::Upload) |
//! | `GET /_emulator/faults` | the [`Faults`] in force |
//! | `POST /_emulator/faults` | replaces them (body: a `Faults` JSON object; counters restart) |
//! | `POST /_emulator/revoke` | `{"key": "..."}`: revokes an integration key, SDL key or access token |
//! | `POST /_emulator/integrations` | `{"id": "..."}`: adds an HTTP Ingest integration; replies `{"id", "key", "url"}` |

use super::Shared;
use crate::Faults;
use crate::auth::credential;
use crate::reply::{self, Resp};
use crate::util::{constant_time_eq, param, parse_query};
use http::{Method, Request};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

/// Path prefix of the admin API.
pub(crate) const PREFIX: &str = "/_emulator/";

const BODY_LIMIT: usize = 1 << 20;

fn error(status: u16, message: &str) -> Resp {
    reply::json(status, &serde_json::json!({ "error": message }))
}

pub(crate) async fn handle(shared: &Shared, req: Request<Incoming>) -> Resp {
    let authorized = credential(req.headers(), &["Bearer"])
        .is_some_and(|t| constant_time_eq(t.as_bytes(), shared.admin_token.as_bytes()));
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(400, "cannot read the request body"),
    };
    if !authorized {
        return error(
            401,
            "admin token required: Authorization: Bearer <admin_token from the ready file>",
        );
    }
    if body.len() > BODY_LIMIT {
        return error(413, "admin request body too large");
    }
    let path = &parts.uri.path()[PREFIX.len()..];
    let query = parse_query(parts.uri.query().unwrap_or("")).unwrap_or_default();
    match (&parts.method, path) {
        (&Method::GET, "stats") => reply::json(200, &shared.stats()),
        (&Method::GET, "records") => {
            let since = param(&query, "since")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let limit = param(&query, "limit")
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000);
            reply::json(200, &shared.common.store.since(since, limit))
        }
        (&Method::GET, "uploads") => reply::json(200, &shared.common.store.uploads()),
        (&Method::GET, "faults") => reply::json(200, shared.common.faults().faults()),
        (&Method::POST | &Method::PUT, "faults") => match serde_json::from_slice::<Faults>(&body) {
            Ok(faults) => match faults.validate() {
                Ok(()) => {
                    shared.common.faults().replace(faults);
                    reply::json(200, &serde_json::json!({ "ok": true }))
                }
                Err(e) => error(400, &e.to_string()),
            },
            Err(e) => error(400, &format!("not a faults object: {e}")),
        },
        (&Method::POST, "revoke") => {
            #[derive(Deserialize)]
            struct Revoke {
                key: String,
            }
            match serde_json::from_slice::<Revoke>(&body) {
                Ok(r) => reply::json(
                    200,
                    &serde_json::json!({ "revoked": shared.revoke(&r.key) }),
                ),
                Err(e) => error(400, &format!("expected {{\"key\": \"...\"}}: {e}")),
            }
        }
        (&Method::POST, "integrations") => {
            #[derive(Deserialize)]
            struct Add {
                id: String,
            }
            #[derive(Serialize)]
            struct Added {
                id: String,
                key: String,
                url: String,
            }
            match serde_json::from_slice::<Add>(&body) {
                Ok(a) if !a.id.is_empty() && !a.id.contains('/') => {
                    let key = shared.http_ingest.add_integration(&a.id);
                    let url = format!("{}/http-endpoint/v1/{}", shared.common.base_url, a.id);
                    reply::json(200, &Added { id: a.id, key, url })
                }
                Ok(_) => error(400, "the id must be non-empty and contain no `/`"),
                Err(e) => error(400, &format!("expected {{\"id\": \"...\"}}: {e}")),
            }
        }
        _ => error(404, "unknown admin call"),
    }
}
