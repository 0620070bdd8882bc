//! A small axum web app: answers on PORT, stops cleanly on SIGTERM.
use axum::{routing::get, Router};
use std::net::SocketAddr;

async fn hello() -> String {
    let service = std::env::var("GAE_SERVICE").unwrap_or_else(|_| "?".into());
    format!("Hello from axum on Rust ({service})\n")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let app = Router::new().route("/", get(hello));
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port))).await.expect("bind PORT");
    println!("listening on :{port}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            term.recv().await;
        })
        .await
        .expect("serve");
}
