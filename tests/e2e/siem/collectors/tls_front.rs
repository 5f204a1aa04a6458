//! A TLS front on a thread: terminates TLS (rustls; ALPN h2, http/1.1) with a test certificate
//! and relays the clear bytes to a loopback port, so that the clear-text test collectors are
//! reached over TLS (`otlps://`, `otlp+https://`) exactly as behind a TLS-terminating collector.

use std::sync::Arc;

use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::tls_peer::Certs;

pub struct TlsFront {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TlsFront {
    /// TLS on a free loopback port with `certs`' server certificate, relayed to 127.0.0.1:`to`.
    pub fn start(certs: &Certs, to: u16) -> TlsFront {
        let chain = CertificateDer::pem_file_iter(&certs.cert)
            .expect("the test certificate")
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM certificates");
        let key = PrivateKeyDer::from_pem_file(&certs.key).expect("the test key");
        let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("a server configuration");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let tcp = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((tcp, _)) => tcp,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // A client that refuses the certificate ends here: nothing is relayed.
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let Ok(mut clear) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await
                        else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut clear).await;
                    });
                }
            });
        });
        TlsFront {
            port,
            stop: Some(stop),
        }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
