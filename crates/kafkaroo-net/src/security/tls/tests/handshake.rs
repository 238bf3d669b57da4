//! Real handshakes on loopback with the configured TLS settings, and the provider measurement.

use super::*;

fn server_config(
    cert: &str,
    key: &str,
    client_ca: Option<&str>,
    version: Option<&'static SupportedProtocolVersion>,
) -> Arc<ServerConfig> {
    let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let versions = version.map_or_else(|| rustls::DEFAULT_VERSIONS.to_vec(), |v| vec![v]);
    let builder = ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&versions)
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(cert.unwrap()).unwrap();
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crypto_provider())
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}

/// A server that answers one connection's `ping` with `pong`.
async fn serve_once(config: Arc<ServerConfig>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let Ok(mut tls) = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await else {
            return;
        };
        let mut ping = [0; 4];
        if tls.read_exact(&mut ping).await.is_ok() {
            let _ = tls.write_all(b"pong").await;
            let _ = tls.shutdown().await;
        }
    });
    addr
}

/// Connects, says `ping` and waits for `pong`; returns the negotiated version, or the explained error.
async fn ping(
    config: Arc<ClientConfig>,
    addr: SocketAddr,
    name: &str,
) -> Result<rustls::ProtocolVersion, String> {
    let explain = |e: io::Error| explain_tls_io_error(&e, name);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(config)
        .connect(server_name, tcp)
        .await
        .map_err(explain)?;
    // TLS 1.3 finishes the client's side before the server has checked the client certificate: a
    // refusal arrives on the first read.
    tls.write_all(b"ping").await.map_err(explain)?;
    let mut pong = [0; 4];
    tls.read_exact(&mut pong).await.map_err(explain)?;
    assert_eq!(&pong, b"pong");
    Ok(tls.get_ref().1.protocol_version().unwrap())
}

#[tokio::test]
async fn handshake_with_the_configured_ca() {
    let f = fixtures();
    let client = options(&[("ssl.ca.pem", &f.ca)]).build().unwrap();
    for name in ["localhost", "127.0.0.1"] {
        let addr = serve_once(server_config(&f.server_cert, &f.server_key, None, None)).await;
        assert_eq!(
            ping(client.clone(), addr, name).await,
            Ok(rustls::ProtocolVersion::TLSv1_3),
            "{name}"
        );
    }
    let tls12 = options(&[("ssl.ca.pem", &f.ca), ("ssl.enabled.protocols", "TLSv1.2")])
        .build()
        .unwrap();
    let addr = serve_once(server_config(&f.server_cert, &f.server_key, None, None)).await;
    assert_eq!(
        ping(tls12, addr, "localhost").await,
        Ok(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[tokio::test]
async fn untrusted_ca_is_explained() {
    let f = fixtures();
    for skip_hostname in ["https", "none"] {
        let client = options(&[
            ("ssl.ca.pem", &f.ca),
            ("ssl.endpoint.identification.algorithm", skip_hostname),
        ])
        .build()
        .unwrap();
        let addr = serve_once(server_config(&f.rogue_cert, &f.server_key, None, None)).await;
        let error = ping(client, addr, "localhost").await.unwrap_err();
        assert_eq!(
            error,
            "the broker's certificate (for localhost) is not signed by a trusted CA: set ssl.ca.location to \
             the CA that signed it"
        );
    }
    // Verification off accepts it (insecure, by request).
    let client = options(&[
        ("ssl.ca.pem", &f.ca),
        ("enable.ssl.certificate.verification", "false"),
    ])
    .build()
    .unwrap();
    let addr = serve_once(server_config(&f.rogue_cert, &f.server_key, None, None)).await;
    assert!(ping(client, addr, "localhost").await.is_ok());
}

#[tokio::test]
async fn hostname_mismatch_is_explained_and_can_be_switched_off() {
    let f = fixtures();
    let strict = options(&[("ssl.ca.pem", &f.ca)]).build().unwrap();
    for name in ["127.0.0.1", "localhost"] {
        let addr = serve_once(server_config(
            &f.server_other_name_cert,
            &f.server_key,
            None,
            None,
        ))
        .await;
        let error = ping(strict.clone(), addr, name).await.unwrap_err();
        assert!(
            error.starts_with(&format!("the broker's certificate is not valid for {name}")),
            "{error}"
        );
        assert!(
            error.contains("broker.example.com")
                && error.contains("ssl.endpoint.identification.algorithm=none"),
            "{error}"
        );
    }
    let relaxed = options(&[
        ("ssl.ca.pem", &f.ca),
        ("ssl.endpoint.identification.algorithm", ""),
    ])
    .build()
    .unwrap();
    let addr = serve_once(server_config(
        &f.server_other_name_cert,
        &f.server_key,
        None,
        None,
    ))
    .await;
    assert!(ping(relaxed, addr, "127.0.0.1").await.is_ok());
}

#[tokio::test]
async fn broker_requiring_a_client_certificate() {
    let f = fixtures();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let server = || server_config(&f.server_cert, &f.server_key, Some(&f.ca), Some(version));
        let without = options(&[("ssl.ca.pem", &f.ca)]).build().unwrap();
        let error = ping(without, serve_once(server()).await, "localhost")
            .await
            .unwrap_err();
        assert!(
            error.contains("set ssl.certificate.location and ssl.key.location"),
            "{version:?}: {error}"
        );

        let with = options(&[
            ("ssl.ca.pem", &f.ca),
            ("ssl.certificate.pem", &f.client_cert),
            ("ssl.key.pem", &f.client_key_encrypted),
            ("ssl.key.password", PASSWORD),
        ])
        .build()
        .unwrap();
        assert_eq!(
            ping(with, serve_once(server()).await, "localhost").await,
            Ok(version.version)
        );
    }
}

#[tokio::test]
async fn crl_revokes_the_broker_certificate() {
    let f = fixtures();
    let dir = TempDir::new("crl");
    let revoking = dir.write("crl.pem", &f.crl_revoking_server);
    let empty = dir.write("crl-empty.pem", &f.crl_empty);
    let client = |crl: &Path| {
        options(&[("ssl.ca.pem", &f.ca), ("ssl.crl.location", crl.to_str().unwrap())])
            .build()
            .unwrap()
    };
    let addr = serve_once(server_config(&f.server_cert, &f.server_key, None, None)).await;
    let error = ping(client(&revoking), addr, "localhost").await.unwrap_err();
    assert!(error.contains("has been revoked"), "{error}");
    let addr = serve_once(server_config(&f.server_cert, &f.server_key, None, None)).await;
    assert!(ping(client(&empty), addr, "localhost").await.is_ok());
    let message = build_error(&[
        ("ssl.ca.pem", &f.ca),
        ("ssl.crl.location", dir.write("x.pem", &f.ca).to_str().unwrap()),
    ]);
    assert!(message.contains("holds no PEM CRL"), "{message}");
}

#[tokio::test]
async fn plaintext_listener_is_named() {
    // A Kafka PLAINTEXT listener reads the ClientHello as an oversized request and closes.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = [0; 4];
        let _ = tcp.read_exact(&mut buf).await;
    });
    let client = options(&[("ssl.ca.pem", &fixtures().ca)]).build().unwrap();
    let error = ping(client, addr, "localhost").await.unwrap_err();
    assert!(error.contains("is this a PLAINTEXT listener?"), "{error}");
}

// ---- measurement, not an assertion:
// cargo test --release -p kafkaroo-net security::tls::tests::handshake::measure -- --ignored --nocapture ----

/// A client pinned to X25519 and TLS_AES_128_GCM_SHA256, to compare providers like for like (their
/// defaults differ: ring prefers P-384 and AES-256, graviola X25519MLKEM768 and AES-128).
fn pinned_client(ca: &str, version: &'static SupportedProtocolVersion) -> ClientConfig {
    let base = crypto_provider();
    let provider = CryptoProvider {
        kx_groups: base
            .kx_groups
            .iter()
            .copied()
            .filter(|g| g.name() == rustls::NamedGroup::X25519)
            .collect(),
        cipher_suites: base
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| iana_name(s) == "TLS_AES_128_GCM_SHA256")
            .collect(),
        ..(*base).clone()
    };
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
        .unwrap();
    ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A server that reads each connection to its end and answers with the byte count.
async fn serve_sink(config: Arc<ServerConfig>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0; 64 << 10];
                let mut total = 0u64;
                while let Ok(n @ 1..) = tls.read(&mut buf).await {
                    total += n as u64;
                }
                let _ = tls.write_all(&total.to_be_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --release --ignored --nocapture"]
async fn measure_handshake_and_bulk() {
    const HANDSHAKES: u32 = 200;
    const BULK: usize = 256 << 20;
    let f = fixtures();
    let ecdsa = (&f.server_cert, &f.server_key);
    let rsa = (&f.server_rsa_cert, &f.server_rsa_key);
    let (tls13, tls12) = (&rustls::version::TLS13, &rustls::version::TLS12);
    println!("crypto provider: {}", crypto_provider_name());
    for (label, (cert, key), version, pinned) in [
        ("ECDSA P-256", ecdsa, tls13, false),
        ("ECDSA P-256", ecdsa, tls12, false),
        ("RSA 2048", rsa, tls13, false),
        ("RSA 2048", rsa, tls12, false),
        ("ECDSA same", ecdsa, tls13, true),
        ("RSA same", rsa, tls13, true),
    ] {
        let mut client = if pinned {
            pinned_client(&f.ca, version)
        } else {
            (*options(&[("ssl.ca.pem", &f.ca)]).build().unwrap()).clone()
        };
        client.resumption = rustls::client::Resumption::disabled();
        let client = Arc::new(client);
        let (addr, server) = serve_sink(server_config(cert, key, None, Some(version))).await;
        let connect = || async {
            let tcp = TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            tokio_rustls::TlsConnector::from(client.clone())
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap()
        };

        let start = Instant::now();
        let mut kx = None;
        for _ in 0..HANDSHAKES {
            kx = connect()
                .await
                .get_ref()
                .1
                .negotiated_key_exchange_group()
                .map(|g| g.name());
        }
        let per_handshake = start.elapsed() / HANDSHAKES;

        let mut tls = connect().await;
        let suite = tls.get_ref().1.negotiated_cipher_suite().map(|s| iana_name(&s));
        let chunk = vec![0x5a; 64 << 10];
        let start = Instant::now();
        for _ in 0..BULK / chunk.len() {
            tls.write_all(&chunk).await.unwrap();
        }
        tls.shutdown().await.unwrap();
        let mut total = [0; 8];
        tls.read_exact(&mut total).await.unwrap();
        let elapsed = start.elapsed();
        assert_eq!(u64::from_be_bytes(total), BULK as u64);
        server.abort();
        println!(
            "{label:11} {:?}: full handshake {:>6.3} ms (kx {kx:?}); bulk {:>7.1} MiB/s ({})",
            version.version,
            per_handshake.as_secs_f64() * 1e3,
            (BULK as f64 / (1 << 20) as f64) / elapsed.as_secs_f64(),
            suite.unwrap_or_default(),
        );
    }
}
