//! Response parsing and classification: the small, per-request work every backend does
//! after each reply (SDL status bodies, Taegis token and presign replies, Retry-After).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench_responses(c: &mut Criterion) {
    let mut group = c.benchmark_group("responses");
    let success = br#"{"bytesCharged":39217,"status":"success"}"#;
    let backoff =
        br#"{"status":"error/server/backoff","message":"too many requests for this session"}"#;
    group.bench_function("sdl_parse_success", |b| {
        b.iter(|| black_box(logferry_sdl_model::parse_response(black_box(success))))
    });
    group.bench_function("sdl_parse_backoff", |b| {
        b.iter(|| black_box(logferry_sdl_model::parse_response(black_box(backoff))))
    });
    let headers = http::HeaderMap::new();
    group.bench_function("sdl_parse_and_classify", |b| {
        b.iter(|| {
            let r = logferry_sdl_model::parse_response(black_box(backoff)).expect("valid");
            black_box(logferry_retry::classify::sdl(
                http::StatusCode::OK,
                &headers,
                Some(&r.status_text),
                r.message.as_deref(),
            ))
        })
    });
    let token = br#"{"access_token":"eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3NjQwMDAwMDB9.c2lnbmF0dXJl","token_type":"bearer","expires_in":3600}"#;
    group.bench_function("token_response", |b| {
        b.iter(|| {
            black_box(logferry_taegis_upload::parse_token_response(black_box(
                token,
            )))
        })
    });
    let presign = br#"{"location":"https://bucket.s3.amazonaws.com/uploads/file.log?X-Amz-Signature=abc&X-Amz-Expires=900"}"#;
    group.bench_function("presign_response", |b| {
        b.iter(|| {
            black_box(logferry_taegis_upload::parse_presign_response(black_box(
                presign,
            )))
        })
    });
    group.bench_function("retry_after_http_date", |b| {
        b.iter(|| {
            black_box(logferry_retry::RetryAfter::from_bytes(black_box(
                b"Wed, 21 Oct 2026 07:28:00 GMT",
            )))
        })
    });
    group.finish();
}

criterion_group!(benches, bench_responses);
criterion_main!(benches);
