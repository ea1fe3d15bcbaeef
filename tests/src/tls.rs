//! TLS in front of local test servers, as Lambda meets AWS: a test CA made at run time (the
//! functions trust it through `SSL_CERT_FILE`, as the deploy rehearsal's issuer does) and a
//! proxy that ends TLS and passes the bytes on to a plain-TCP upstream (moto, a JWKS server).

use crate::stack::{test_ca, tls_acceptor};
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A CA made for this run and a server certificate it issued for 127.0.0.1.
pub struct TestCa {
    /// The CA certificate (PEM): what `SSL_CERT_FILE` names.
    pub ca: PathBuf,
    acceptor: TlsAcceptor,
}

impl TestCa {
    /// A fresh CA under a new temporary directory (made with `openssl`).
    pub fn new() -> TestCa {
        let dir = std::env::temp_dir().join(crate::aws::unique_name("keygate-tls"));
        std::fs::create_dir_all(&dir).expect("CA dir");
        let (ca, cert, key) = test_ca(&dir);
        TestCa {
            ca,
            acceptor: tls_acceptor(&cert, &key),
        }
    }

    /// `SSL_CERT_FILE` for a function that should trust this CA.
    pub fn ssl_cert_file(&self) -> (&'static str, String) {
        ("SSL_CERT_FILE", self.ca.display().to_string())
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// What a [`TlsFront`] does with a connection.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    /// Complete the handshake and relay to the upstream.
    Relay(SocketAddr),
    /// Accept the TCP connection and never answer (a peer that hangs).
    Stall,
}

/// A TLS endpoint on 127.0.0.1. Stops on drop.
pub struct TlsFront {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsFront {
    /// Ends TLS with `ca`'s server certificate and relays each connection to `upstream`, a
    /// plain HTTP URL such as moto's `http://127.0.0.1:5000`.
    pub async fn start(ca: &TestCa, upstream: &str) -> TlsFront {
        let up = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .unwrap_or_else(|_| panic!("{upstream} is not http://IP:PORT"));
        TlsFront::serve(ca.acceptor.clone(), Behaviour::Relay(up)).await
    }

    /// A peer that accepts TCP connections and never answers, not even the TLS handshake.
    pub async fn stalled(ca: &TestCa) -> TlsFront {
        TlsFront::serve(ca.acceptor.clone(), Behaviour::Stall).await
    }

    async fn serve(acceptor: TlsAcceptor, behaviour: Behaviour) -> TlsFront {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the TLS front");
        let addr = listener.local_addr().expect("TLS front address");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                match behaviour {
                    Behaviour::Stall => held.push(tcp),
                    Behaviour::Relay(up) => {
                        tokio::spawn(relay(acceptor.clone(), tcp, up));
                    }
                }
            }
        });
        TlsFront { addr, task }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

async fn relay(acceptor: TlsAcceptor, tcp: TcpStream, upstream: SocketAddr) {
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    let Ok(mut up) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
}
