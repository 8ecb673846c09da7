//! The HTTP server itself: routes, methods, binding errors, shutdown.

use crate::support::{get, request, server};
use logferry_observe::{Error, Observe, serve};

#[tokio::test]
async fn unknown_paths_are_404_and_other_methods_405() {
    let observe = Observe::new("0");
    let server = server(&observe).await;
    let addr = server.local_addr();
    assert_eq!(get(addr, "/").await.status, 404);
    assert_eq!(get(addr, "/metrics/x").await.status, 404);
    assert_eq!(request(addr, "POST", "/metrics").await.status, 405);
    assert_eq!(request(addr, "DELETE", "/ready").await.status, 405);
    let head = request(addr, "HEAD", "/health").await;
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    // A query string is not part of the path.
    assert_eq!(get(addr, "/health?verbose=1").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn a_busy_address_is_an_error_at_start() {
    let observe = Observe::new("0");
    let first = server(&observe).await;
    let err = serve(observe.clone(), first.local_addr())
        .await
        .expect_err("the port is taken");
    assert!(matches!(err, Error::Bind { addr, .. } if addr == first.local_addr()));
    assert!(
        err.to_string().contains(&first.local_addr().to_string()),
        "{err}"
    );
    first.shutdown().await;
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let observe = Observe::new("0");
    let server = server(&observe).await;
    let addr = server.local_addr();
    assert_eq!(get(addr, "/health").await.status, 200);
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let dropped = crate::support::server(&observe).await;
    let addr = dropped.local_addr();
    drop(dropped);
    crate::support::eventually("the dropped server to stop listening", || async {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let observe = Observe::new("0");
    let server = server(&observe).await;
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let two = "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    tcp.write_all(two.as_bytes()).await.unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    assert_eq!(raw.matches("HTTP/1.1 200 OK").count(), 2, "{raw}");
    server.shutdown().await;
}
