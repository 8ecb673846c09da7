//! The `PUT` body: a file streamed from disk in chunks, exactly as long as presigned.
//!
//! The presigned URL signs the file's length ("content_length: The size in bytes of the
//! file you are attempting to upload"), so the body must be exactly that many bytes. A
//! file that shrinks is caught when it ends early; a file that grows is caught by reading
//! one byte past the signed length **before the last chunk is handed over**, so the server
//! never holds a complete body for a file that changed: the request fails, and S3 (which
//! stores an object only when its body is complete) stores nothing.
//!
//! Memory: one chunk read ahead (plus what hyper and TLS buffer), whatever the file size.

use crate::Error;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, ReadBuf};

/// Called after each chunk is read with (bytes in the chunk, bytes read so far).
pub(crate) type OnRead = Arc<dyn Fn(u64, u64) + Send + Sync>;

/// Where a failing body leaves its error for the uploader (hyper only passes on an
/// opaque transport failure).
#[derive(Clone, Default)]
pub(crate) struct FailureSlot(Arc<Mutex<Option<Error>>>);

impl FailureSlot {
    fn put(&self, err: Error) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(err);
    }

    /// The body's error, if it failed.
    pub(crate) fn take(&self) -> Option<Error> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

enum State {
    /// Reading chunks; `read` bytes so far.
    Reading,
    /// All `len` bytes read; the last chunk waits until a read past the end finds EOF.
    Holding(Bytes),
    Done,
}

/// A file's first `len` bytes, failing unless the file is exactly `len` bytes long.
pub(crate) struct FileBody {
    file: tokio::fs::File,
    path: Arc<Path>,
    len: u64,
    read: u64,
    chunk: usize,
    state: State,
    failure: FailureSlot,
    on_read: Option<OnRead>,
}

impl FileBody {
    /// Opens `path`, checking that it is still `len` bytes long.
    pub(crate) async fn open(
        path: Arc<Path>,
        len: u64,
        chunk: usize,
        failure: FailureSlot,
        on_read: Option<OnRead>,
    ) -> Result<FileBody, Error> {
        let io_error = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = tokio::fs::File::open(&path).await.map_err(io_error)?;
        let now = file.metadata().await.map_err(io_error)?.len();
        if now != len {
            return Err(changed(
                &path,
                len,
                format!("it is now {now} bytes long, not the {len} bytes presigned"),
            ));
        }
        Ok(FileBody {
            file,
            path,
            len,
            read: 0,
            chunk: chunk.max(1),
            state: State::Reading,
            failure,
            on_read,
        })
    }

    fn fail(&mut self, err: Error) -> Poll<Option<Result<Frame<Bytes>, logferry_http::BoxError>>> {
        let shown = err.to_string();
        self.failure.put(err);
        self.state = State::Done;
        Poll::Ready(Some(Err(Box::new(io::Error::other(shown)))))
    }
}

fn changed(path: &Path, expected: u64, detail: String) -> Error {
    Error::FileChanged {
        path: path.to_path_buf(),
        expected,
        detail,
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = logferry_http::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            match this.state {
                State::Done => return Poll::Ready(None),
                State::Reading => {
                    let want = usize::try_from(this.len - this.read)
                        .unwrap_or(usize::MAX)
                        .min(this.chunk);
                    // Zeroed rather than uninitialised: `unsafe` is forbidden, and zeroing
                    // a chunk costs far less than reading it.
                    let mut buf = vec![0u8; want];
                    let mut read_buf = ReadBuf::new(&mut buf);
                    if let Err(source) =
                        ready!(Pin::new(&mut this.file).poll_read(cx, &mut read_buf))
                    {
                        let path = this.path.to_path_buf();
                        return this.fail(Error::Io { path, source });
                    }
                    let n = read_buf.filled().len();
                    if n == 0 {
                        let detail = format!(
                            "it ended after {} of the {} bytes presigned",
                            this.read, this.len
                        );
                        return this.fail(changed(&this.path, this.len, detail));
                    }
                    buf.truncate(n);
                    this.read += n as u64;
                    if let Some(on_read) = &this.on_read {
                        on_read(n as u64, this.read);
                    }
                    let chunk = Bytes::from(buf);
                    if this.read < this.len {
                        return Poll::Ready(Some(Ok(Frame::data(chunk))));
                    }
                    this.state = State::Holding(chunk);
                }
                State::Holding(_) => {
                    let mut probe = [0u8; 1];
                    let mut read_buf = ReadBuf::new(&mut probe);
                    if let Err(source) =
                        ready!(Pin::new(&mut this.file).poll_read(cx, &mut read_buf))
                    {
                        let path = this.path.to_path_buf();
                        return this.fail(Error::Io { path, source });
                    }
                    if !read_buf.filled().is_empty() {
                        let detail = format!(
                            "it grew past the {} bytes presigned while being read",
                            this.len
                        );
                        return this.fail(changed(&this.path, this.len, detail));
                    }
                    if let State::Holding(last) = std::mem::replace(&mut this.state, State::Done) {
                        return Poll::Ready(Some(Ok(Frame::data(last))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        let remaining = match &self.state {
            State::Done => 0,
            State::Holding(last) => last.len() as u64,
            State::Reading => self.len - self.read,
        };
        SizeHint::with_exact(remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;

    async fn open(
        file: &tempfile::NamedTempFile,
        len: u64,
        chunk: usize,
    ) -> (Result<FileBody, Error>, FailureSlot) {
        let slot = FailureSlot::default();
        let body = FileBody::open(file.path().into(), len, chunk, slot.clone(), None).await;
        (body, slot)
    }

    fn temp(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(content).unwrap();
        f.flush().unwrap();
        f
    }

    #[tokio::test]
    async fn streams_exactly_the_file_in_chunks() {
        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let file = temp(&content);
        let (body, slot) = open(&file, content.len() as u64, 4096).await;
        let mut body = body.unwrap();
        assert_eq!(body.size_hint().exact(), Some(10_000));
        let mut frames = Vec::new();
        while let Some(frame) = body.frame().await {
            frames.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(
            frames.iter().map(Bytes::len).collect::<Vec<_>>(),
            [4096, 4096, 1808]
        );
        assert_eq!(frames.concat(), content);
        assert!(body.is_end_stream());
        assert!(slot.take().is_none());
    }

    #[tokio::test]
    async fn a_size_change_before_opening_is_refused() {
        let file = temp(b"12345");
        let (body, _) = open(&file, 4, 2).await;
        assert_eq!(
            body.err().unwrap().to_string(),
            format!(
                "{} changed while uploading: it is now 5 bytes long, not the 4 bytes presigned; the upload was abandoned and nothing was stored",
                file.path().display()
            )
        );
    }

    #[tokio::test]
    async fn growth_while_reading_fails_before_the_last_chunk() {
        let mut file = temp(&[b'a'; 100]);
        let (body, slot) = open(&file, 100, 40).await;
        let mut body = body.unwrap();
        let mut sent = 0;
        let mut result = Ok(());
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    sent += f.into_data().unwrap().len();
                    if sent == 40 {
                        file.write_all(b"more\n").unwrap();
                        file.flush().unwrap();
                    }
                }
                Err(e) => result = Err(e),
            }
        }
        assert_eq!(sent, 80, "the last 20 bytes are never handed over");
        assert!(result.is_err());
        let err = slot.take().expect("the failure is recorded");
        assert!(
            err.to_string()
                .contains("it grew past the 100 bytes presigned while being read"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn shrinking_while_reading_fails() {
        let file = temp(&[b'a'; 100]);
        let (body, slot) = open(&file, 100, 40).await;
        let mut body = body.unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap().len(), 40);
        file.as_file().set_len(50).unwrap();
        let mut failed = false;
        while let Some(frame) = body.frame().await {
            failed |= frame.is_err();
        }
        assert!(failed);
        let err = slot.take().unwrap();
        assert!(
            err.to_string()
                .contains("it ended after 50 of the 100 bytes presigned"),
            "{err}"
        );
    }
}
