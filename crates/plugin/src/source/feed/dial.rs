//! Opening a connection to a configured endpoint: TCP, then TLS for `…s://` schemes, with
//! the data source's TLS settings ([`super::tls_config`]). Shared by the sources that hand a
//! byte stream to their protocol library (WebSocket, Redis), so that every one connects
//! only to the configured host and verifies it the same way.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;

use super::FeedError;
use crate::settings::Endpoint;

/// A byte stream: plain TCP or TLS over it.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl std::fmt::Debug for dyn Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Io")
    }
}

/// Opens TCP to `endpoint`, and TLS over it when `tls` is given (the server's name checked
/// against the configured host).
///
/// # Errors
/// A [`FeedError`]: refused, a network error, a host name TLS cannot check, a failed
/// handshake.
pub(crate) async fn dial(
    endpoint: &Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Box<dyn Io>, FeedError> {
    let tcp = tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|e| FeedError::io(&e))?;
    let _ = tcp.set_nodelay(true);
    let Some(config) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone()).map_err(|_| {
        FeedError::Tls(format!(
            "{:?} is not a valid TLS server name",
            endpoint.host
        ))
    })?;
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| FeedError::Tls(format!("TLS handshake failed: {e}")))?;
    Ok(Box::new(stream))
}
