//! Uploads one large file (1 GB by default) to the in-process emulator in count-only mode
//! and prints the throughput. Run under `/usr/bin/time -v` to see the peak RSS:
//!
//! ```text
//! cargo build --release -p logferry-taegis-upload --example upload_big
//! /usr/bin/time -v target/release/examples/upload_big [--size-mb 1024] [--plain] [--http1]
//!     [--file PATH] [--chunk-kb 256]
//! ```
//!
//! Without `--file`, a sparse temporary file of `--size-mb` MiB is created (it reads as
//! zeros from the page cache, so the disk is not what is measured).

use anyhow::{Context, bail};
use logferry_http::{Client, ClientConfig};
use logferry_taegis_upload::{Config, Credentials, Region, Uploader};
use std::path::PathBuf;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut size_mb: u64 = 1024;
    let mut plain = false;
    let mut http2 = true;
    let mut file: Option<PathBuf> = None;
    let mut chunk_kb: usize = 256;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--size-mb" => size_mb = args.next().context("--size-mb needs a value")?.parse()?,
            "--plain" => plain = true,
            "--http1" => http2 = false,
            "--file" => file = Some(args.next().context("--file needs a path")?.into()),
            "--chunk-kb" => chunk_kb = args.next().context("--chunk-kb needs a value")?.parse()?,
            other => bail!("unknown argument `{other}`"),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(size_mb, plain, http2, file, chunk_kb))
}

async fn run(
    size_mb: u64,
    plain: bool,
    http2: bool,
    file: Option<PathBuf>,
    chunk_kb: usize,
) -> anyhow::Result<()> {
    let mut builder = logferry_emulator::Emulator::builder().count_only();
    if plain {
        builder = builder.plain_http();
    }
    let emu = builder.start().await?;
    let _dir;
    let path = match file {
        Some(path) => path,
        None => {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("big.log");
            std::fs::File::create(&path)?.set_len(size_mb * 1024 * 1024)?;
            _dir = dir;
            path
        }
    };
    let client = Client::new(ClientConfig {
        ca_pem: emu.ca_cert_pem().map(str::to_owned),
        http2,
        ..ClientConfig::default()
    })?;
    let region: Region = emu.taegis_api_endpoint().parse()?;
    let uploader = Uploader::new(
        client,
        &region,
        Credentials::token(emu.taegis_access_token()),
        Config {
            read_chunk: chunk_kb * 1024,
            ..Config::default()
        },
    )?;
    let started = Instant::now();
    let report = uploader.upload(&path).await;
    let elapsed = started.elapsed();
    if let Err(e) = &report.result {
        bail!("upload failed: {e}");
    }
    let mb = report.bytes as f64 / 1e6;
    println!(
        "uploaded {} bytes over {} ({}) in {:.2} s: {:.0} MB/s",
        report.bytes,
        if plain { "http" } else { "https" },
        if http2 && !plain {
            "h2 by ALPN"
        } else {
            "http/1.1"
        },
        elapsed.as_secs_f64(),
        mb / elapsed.as_secs_f64()
    );
    emu.shutdown().await;
    Ok(())
}
