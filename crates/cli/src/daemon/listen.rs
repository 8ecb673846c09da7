//! Listening sources in `logferry run`: `type = "syslog"` and `type = "http"` (issue 16).
//!
//! A listening source binds its port once, so it feeds exactly one sink (the
//! configuration reader refuses a second one with the reason); the route binds when it
//! starts and releases the port when it stops. What a message becomes follows the sink:
//! the original text for HTTP Ingest, a JSON event (format json) for SDL.

use super::plan::RouteSpec;
use logferry::pipeline::net::{
    Hec, HecConfig, NetStats, Shape, Stop, Syslog, SyslogConfig, TlsFiles, Transport,
};
use logferry::pipeline::{FrontConfig, Item, Source};
use logferry_config::{Format, HttpSource, SinkKind, SourceKind, SyslogMode, SyslogSource};
use std::sync::Arc;
use std::time::Duration;

/// A listening source of a route, as configured.
#[derive(Debug, Clone)]
pub(crate) enum Listener {
    Syslog(SyslogSource),
    Http(HttpSource),
}

/// The listener of `kind`, if it is one, and the format its records take for `sink`.
pub(crate) fn plan(kind: &SourceKind, sink: SinkKind) -> Option<(Listener, Format)> {
    let listener = match kind {
        SourceKind::Syslog(s) => Listener::Syslog(s.clone()),
        SourceKind::Http(h) => Listener::Http(h.clone()),
        _ => return None,
    };
    let format = if sink == SinkKind::Sdl {
        Format::Json
    } else {
        Format::Text
    };
    Some((listener, format))
}

/// What `records` runs: the bound listener's start, and its counters.
pub(crate) type Start = Box<dyn FnOnce(FrontConfig) -> tokio::sync::mpsc::Receiver<Item> + Send>;

/// Binds the route's listener (waiting up to 5 s for a port a stopping route of the
/// previous configuration still holds).
pub(crate) async fn bind(
    spec: &RouteSpec,
    listener: &Listener,
    shape_sdl: bool,
) -> anyhow::Result<(Start, Arc<NetStats>, Stop)> {
    let name: Arc<str> = Arc::from(spec.from.1.name.as_str());
    let shape = if shape_sdl { Shape::Sdl } else { Shape::Text };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let bound = try_bind(&name, listener, shape);
        match bound {
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::AddrInUse)
                    && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

fn try_bind(
    name: &Arc<str>,
    listener: &Listener,
    shape: Shape,
) -> anyhow::Result<(Start, Arc<NetStats>, Stop)> {
    match listener {
        Listener::Syslog(s) => {
            let transport = match s.mode {
                SyslogMode::Udp => Transport::Udp,
                SyslogMode::Tls => {
                    let files = s
                        .tls
                        .as_ref()
                        .ok_or_else(|| anyhow::anyhow!("mode tls needs cert_file and key_file"))?;
                    Transport::Tls(tls(files, &[])?)
                }
                _ => Transport::Tcp,
            };
            let mut config = SyslogConfig::new(name.clone(), transport);
            config.max_message_bytes = s.max_message_bytes;
            config.max_connections = s.max_connections;
            config.shape = shape;
            let bound = Syslog::bind(s.listen, config).map_err(|e| {
                anyhow::Error::new(std::io::Error::new(
                    e.kind(),
                    format!("syslog source {name} cannot listen on {}: {e}", s.listen),
                ))
            })?;
            tracing::info!(
                "syslog source {name} listening on {} ({:?})",
                bound.local_addr()?,
                s.mode
            );
            let (stats, stop) = (bound.stats(), bound.stopper());
            Ok((Box::new(move |front| bound.start(front)), stats, stop))
        }
        Listener::Http(h) => {
            let mut config = HecConfig::new(name.clone(), h.token.clone());
            config.max_body_bytes = h.max_body_bytes;
            config.shape = shape;
            if let Some(files) = &h.tls {
                config.tls = Some(tls(files, &[b"http/1.1"])?);
            }
            let https = config.tls.is_some();
            let bound = Hec::bind(h.listen, config).map_err(|e| {
                anyhow::Error::new(std::io::Error::new(
                    e.kind(),
                    format!("http source {name} cannot listen on {}: {e}", h.listen),
                ))
            })?;
            tracing::info!(
                "http source {name} listening on {}://{}",
                if https { "https" } else { "http" },
                bound.local_addr()?
            );
            let (stats, stop) = (bound.stats(), bound.stopper());
            Ok((Box::new(move |front| bound.start(front)), stats, stop))
        }
    }
}

fn tls(
    files: &logferry_config::TlsFiles,
    alpn: &[&[u8]],
) -> anyhow::Result<Arc<logferry::pipeline::net::ServerConfig>> {
    let files = TlsFiles {
        cert_file: files.cert_file.clone(),
        key_file: files.key_file.clone(),
        client_ca_file: files.client_ca_file.clone(),
    };
    logferry::pipeline::net::server_config(&files, alpn).map_err(|e| anyhow::anyhow!(e))
}
