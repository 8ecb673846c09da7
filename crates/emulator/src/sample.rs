//! Deterministic sample logs: syslog-like text ([`syslog`]) and NDJSON security events
//! ([`ndjson`]) with realistic variety (several programs, IP addresses, users, URLs,
//! durations), the same bytes for a given size and seed on every run and every machine.
//! `logferry demo` sends them to the emulator; the benchmarks measure them.
//!
//! Every generator takes a target size and a seed and returns whole newline-terminated
//! records, at least `bytes` long.
//!
//! ```
//! let a = logferry_emulator::sample::syslog(10_000, 7);
//! assert_eq!(a, logferry_emulator::sample::syslog(10_000, 7));
//! assert!(a.len() >= 10_000 && a.ends_with(b"\n"));
//! ```

use std::fmt::Write;

const HOSTS: &[&str] = &[
    "web-01",
    "web-02",
    "db-primary",
    "bastion",
    "k8s-node-7",
    "mail-gw",
    "fw-edge-1",
    "build-runner-3",
];
const USERS: &[&str] = &[
    "root",
    "admin",
    "deploy",
    "alice",
    "bob",
    "svc-backup",
    "jenkins",
    "ubuntu",
    "oracle",
];
const PATHS: &[&str] = &[
    "/",
    "/login",
    "/api/v1/users",
    "/api/v1/orders?page=2",
    "/static/app.js",
    "/wp-login.php",
    "/healthz",
    "/api/v2/search?q=invoice",
    "/admin/config",
    "/.env",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
];
const MONTHS: &[&str] = &["Nov", "Dec"];

fn ip(rng: &mut fastrand::Rng) -> String {
    match rng.u8(0..4) {
        0 => format!(
            "10.{}.{}.{}",
            rng.u8(0..=255),
            rng.u8(0..=255),
            rng.u8(1..255)
        ),
        1 => format!("192.168.{}.{}", rng.u8(0..=20), rng.u8(1..255)),
        _ => format!(
            "{}.{}.{}.{}",
            rng.u8(1..224),
            rng.u8(0..=255),
            rng.u8(0..=255),
            rng.u8(1..255)
        ),
    }
}

fn pick<'a>(rng: &mut fastrand::Rng, items: &[&'a str]) -> &'a str {
    items[rng.usize(0..items.len())]
}

/// One syslog (RFC 3164 style) line without its newline.
fn syslog_line(rng: &mut fastrand::Rng, seq: u64, out: &mut String) {
    let host = pick(rng, HOSTS);
    let secs = seq / 40;
    let (d, h, m, s) = (
        1 + (secs / 86_400) % 30,
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    let month = MONTHS[((secs / 86_400) / 30 % 2) as usize];
    let pid = rng.u32(300..65_000);
    let _ = match rng.u8(0..10) {
        0..=2 => {
            let user = pick(rng, USERS);
            let src = ip(rng);
            let port = rng.u16(1024..65_535);
            let what = match rng.u8(0..4) {
                0 => format!(
                    "Accepted publickey for {user} from {src} port {port} ssh2: ED25519 SHA256:{:016x}",
                    rng.u64(..)
                ),
                1 => format!("Failed password for invalid user {user} from {src} port {port} ssh2"),
                2 => format!(
                    "Disconnected from authenticating user {user} {src} port {port} [preauth]"
                ),
                _ => format!(
                    "pam_unix(sshd:session): session opened for user {user}(uid={}) by (uid=0)",
                    rng.u16(0..2000)
                ),
            };
            write!(
                out,
                "<38>{month} {d:>2} {h:02}:{m:02}:{s:02} {host} sshd[{pid}]: {what}"
            )
        }
        3..=5 => {
            let status = [200, 200, 200, 304, 301, 404, 403, 500, 502][rng.usize(0..9)];
            write!(
                out,
                "<190>{month} {d:>2} {h:02}:{m:02}:{s:02} {host} nginx: {} - - [{d:02}/{month}/2026:{h:02}:{m:02}:{s:02} +0000] \"{} {} HTTP/1.1\" {status} {} \"-\" \"{}\" rt={}.{:03}",
                ip(rng),
                ["GET", "GET", "POST", "PUT", "DELETE"][rng.usize(0..5)],
                pick(rng, PATHS),
                rng.u32(0..250_000),
                pick(rng, AGENTS),
                rng.u8(0..3),
                rng.u16(0..1000)
            )
        }
        6 | 7 => write!(
            out,
            "<4>{month} {d:>2} {h:02}:{m:02}:{s:02} {host} kernel: [{}.{:06}] [UFW BLOCK] IN=eth0 OUT= MAC={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} SRC={} DST={} LEN={} TOS=0x00 PREC=0x00 TTL={} ID={} PROTO={} SPT={} DPT={} WINDOW={} RES=0x00 SYN URGP=0",
            rng.u32(1000..9_999_999),
            rng.u32(0..1_000_000),
            rng.u8(..),
            rng.u8(..),
            rng.u8(..),
            rng.u8(..),
            rng.u8(..),
            rng.u8(..),
            ip(rng),
            ip(rng),
            rng.u16(40..1500),
            rng.u8(30..128),
            rng.u16(..),
            ["TCP", "UDP"][rng.usize(0..2)],
            rng.u16(1024..65_535),
            [22, 23, 80, 443, 445, 3389, 8080][rng.usize(0..7)],
            rng.u16(1024..65_535)
        ),
        8 => write!(
            out,
            "<86>{month} {d:>2} {h:02}:{m:02}:{s:02} {host} sudo: {} : TTY=pts/{} ; PWD=/home/{} ; USER=root ; COMMAND=/usr/bin/systemctl restart {}",
            pick(rng, USERS),
            rng.u8(0..8),
            pick(rng, USERS),
            ["nginx", "postgresql", "sshd", "docker", "cron"][rng.usize(0..5)]
        ),
        _ => write!(
            out,
            "<30>{month} {d:>2} {h:02}:{m:02}:{s:02} {host} systemd[1]: {}.service: {}",
            ["nginx", "postgresql", "logrotate", "apt-daily", "certbot"][rng.usize(0..5)],
            [
                "Deactivated successfully.",
                "Main process exited, code=exited, status=1/FAILURE",
                "Scheduled restart job, restart counter is at 3.",
                "Consumed 1.204s CPU time.",
            ][rng.usize(0..4)]
        ),
    };
}

/// About `bytes` of syslog-like text (RFC 3164 lines from sshd, nginx, kernel firewall,
/// sudo and systemd), newline-terminated, deterministic for a given `seed`.
pub fn syslog(bytes: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = String::with_capacity(bytes + 512);
    let mut seq = 0u64;
    while out.len() < bytes {
        syslog_line(&mut rng, seq, &mut out);
        out.push('\n');
        seq += 1;
    }
    out.into_bytes()
}

/// About `bytes` of NDJSON security events (one compact JSON object per line) with
/// Kubernetes-style metadata, deterministic for a given `seed`.
pub fn ndjson(bytes: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = String::with_capacity(bytes + 1024);
    let mut line = String::new();
    let mut seq = 0u64;
    while out.len() < bytes {
        line.clear();
        syslog_line(&mut rng, seq, &mut line);
        let message = line.replace('\\', "\\\\").replace('"', "\\\"");
        let ns = 1_763_900_000_000_000_000u64 + seq * 25_000_000 + rng.u64(0..1_000_000);
        let _ = writeln!(
            out,
            r#"{{"timestamp":"{ns}","severity":"{}","message":"{message}","src_ip":"{}","bytes":{},"latency_ms":{}.{},"k8s":{{"namespace":"{}","pod":"{}-{:05x}","node":"{}","container":"app"}},"cluster":"prod-eu-1","tags":["siem","{}"]}}"#,
            ["info", "warn", "error", "debug", "notice"][rng.usize(0..5)],
            ip(&mut rng),
            rng.u32(0..1_000_000),
            rng.u16(0..2000),
            rng.u8(0..100),
            ["payments", "auth", "ingress", "default"][rng.usize(0..4)],
            ["api", "worker", "frontend"][rng.usize(0..3)],
            rng.u32(0..0xfffff),
            pick(&mut rng, HOSTS),
            ["edr", "netflow", "auth"][rng.usize(0..3)],
        );
        seq += 1;
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(bytes: &[u8]) -> String {
        crate::util::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
    }

    /// The output is pinned: these digests and lengths were taken from the generators
    /// before they moved here from `logferry-benches`, so benchmark figures and demo runs
    /// stay comparable across versions.
    #[test]
    fn output_is_pinned_byte_for_byte() {
        let cases: [(&str, Vec<u8>, usize, &str); 4] = [
            (
                "syslog 100000 2026",
                syslog(100_000, 2026),
                100_027,
                "70f4294f703bfaf9c017da112ba0ae03f174de3bfb65dbb56ca1be0a4152d595",
            ),
            (
                "ndjson 100000 2027",
                ndjson(100_000, 2027),
                100_051,
                "a98aeefdb60b0adf84d9f7fd81ce066397253fb00687b5278f0a89fb88f9b297",
            ),
            (
                "syslog 1 MiB 1",
                syslog(1 << 20, 1),
                1_048_638,
                "cca1d2e11c608000bd228bd3a89a2caa789ec983c766f200310e975129257d23",
            ),
            (
                "ndjson 1 MiB 2",
                ndjson(1 << 20, 2),
                1_048_902,
                "fecce6344160def0a0e7121b26980d2ed9ec48ed0fb75515ec3f70a65ad2c159",
            ),
        ];
        for (name, bytes, len, digest) in cases {
            assert_eq!(bytes.len(), len, "{name}: length");
            assert_eq!(sha256(&bytes), digest, "{name}: SHA-256");
        }
        assert!(syslog(100_000, 2026).starts_with(
            b"<190>Nov  1 00:00:00 fw-edge-1 nginx: 178.123.17.185 - - [01/Nov/2026:00:00:00 +0000] \"GET /healthz HTTP/1.1\" 304 44168"
        ));
        assert!(ndjson(100_000, 2027).starts_with(
            br#"{"timestamp":"1763900000000776061","severity":"notice","message":"<30>Nov  1 00:00:00 fw-edge-1 systemd[1]: certbot.service: Scheduled restart job, restart counter is at 3.""#
        ));
    }

    #[test]
    fn samples_are_deterministic_and_line_terminated() {
        for f in [syslog, ndjson] {
            let a = f(50_000, 1);
            assert_eq!(a, f(50_000, 1));
            assert_ne!(a, f(50_000, 2));
            assert!(a.ends_with(b"\n"));
            assert!(a.len() >= 50_000);
            assert!(std::str::from_utf8(&a).is_ok());
        }
    }

    #[test]
    fn ndjson_lines_are_objects() {
        for line in ndjson(20_000, 3)
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
        {
            assert!(line.starts_with(b"{") && line.ends_with(b"}"));
            assert!(
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(line).is_ok()
            );
        }
    }
}
