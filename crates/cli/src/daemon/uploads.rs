//! A drop folder for Taegis File Upload: each file matched by the source is uploaded
//! whole once it stopped changing for `settle`, once, then kept, deleted or moved.

use super::plan::RouteSpec;
use super::route::Stage;
use crate::cmd_file_upload::FileUploadArgs;
use crate::driver::Recorder;
use crate::progress::Progress;
use crate::summary::Summary;
use logferry::pipeline::Event;
use logferry::pipeline::file_upload;
use logferry_config::AfterUpload;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

/// How often the folder is scanned.
const SCAN: Duration = Duration::from_secs(1);

/// Uploads settled files until `stage` says stop; a close lets uploads in progress end.
pub(crate) async fn run(
    spec: &RouteSpec,
    args: &FileUploadArgs,
    mut stage: watch::Receiver<Stage>,
    observer: &std::cell::RefCell<super::observer::Watch>,
) -> anyhow::Result<Summary> {
    let (upload, _) = crate::cmd_file_upload::build(args)?;
    let opened = args.sender.open_spool_at(spec.dir.clone())?;
    let checkpoints = Some(opened.checkpoints.clone());
    let dead_letter = args
        .sender
        .dead_letter
        .clone()
        .unwrap_or_else(|| spec.dir.join("dead-letter.jsonl"));
    let mut progress = Progress::new(false);
    let mut recorder = Recorder::new(&upload, dead_letter, &mut progress);
    let globs = logferry::source::follow::Globs::new(
        &spec.source.file().include,
        &spec.source.file().exclude,
    )
    .map_err(|e| anyhow::anyhow!("{}", crate::exit::chain(&e)))?;
    let mut ledger = logferry::pipeline::Ledger::default();
    let mut book = super::ledger::RouteLedger::open(&spec.dir);
    // Each candidate's (size, modified) and since when it has not changed.
    let mut seen: HashMap<PathBuf, ((u64, Option<SystemTime>), Instant)> = HashMap::new();
    // Files uploaded (or found uploaded) by this process, as they were then: offered
    // again only once they change.
    let mut uploaded: HashMap<PathBuf, (u64, Option<SystemTime>)> = HashMap::new();
    loop {
        if *stage.borrow_and_update() != Stage::Running {
            break;
        }
        let now = Instant::now();
        let mut settled = Vec::new();
        for path in globs.matched().into_iter().filter(|p| p.is_file()) {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let state = (meta.len(), meta.modified().ok());
            if uploaded.get(&path) == Some(&state) {
                continue;
            }
            let entry = seen.entry(path.clone()).or_insert((state, now));
            if entry.0 != state {
                *entry = (state, now);
            } else if now.duration_since(entry.1) >= spec.source.file().settle && meta.len() > 0 {
                settled.push(path);
            }
        }
        seen.retain(|p, _| p.exists());
        if !settled.is_empty() {
            let mut done: Vec<String> = Vec::new();
            let round = file_upload::run(&upload, settled, checkpoints.clone(), |e| {
                match &e {
                    Event::Finished { name, .. } | Event::Skipped { name, .. } => {
                        done.push((*name).to_owned());
                    }
                    _ => {}
                }
                ledger.count(&e);
                observer.borrow_mut().event(&e);
                book.event(&e);
                recorder.event(e)
            });
            super::route::until_stopped(&upload, stage.clone(), round).await;
            for name in done {
                let path = PathBuf::from(name);
                if let Some((state, _)) = seen.remove(&path) {
                    uploaded.insert(path.clone(), state);
                }
                after_upload(&path, &spec.source.file().after_upload);
            }
            uploaded.retain(|p, _| p.exists());
        }
        let stats = logferry::pipeline::Control::stats(&upload);
        observer
            .borrow_mut()
            .tick(&stats, &logferry::spool::SpoolStats::default(), None);
        tokio::select! {
            _ = stage.changed() => {}
            () = tokio::time::sleep(SCAN) => {}
        }
    }
    book.write();
    super::route::log_ledger(spec, &book);
    recorder.finish("file-upload", ledger, None)
}

/// Keeps, deletes or moves an uploaded file, saying so when that fails.
fn after_upload(path: &Path, action: &AfterUpload) {
    #[allow(unreachable_patterns)]
    let result = match action {
        AfterUpload::Delete => std::fs::remove_file(path),
        AfterUpload::MoveTo(dir) => {
            let target = dir.join(path.file_name().unwrap_or_default());
            std::fs::create_dir_all(dir).and_then(|()| std::fs::rename(path, &target))
        }
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::error!(
            "{}: uploaded, but cannot apply after_upload: {e}",
            path.display()
        );
    }
}
