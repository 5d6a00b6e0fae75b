//! Why a feed's connection failed: one enum that health messages and notices render, so
//! that code decides by variant, never by matching text.

/// A connection failure, in words a user can act on, never holding a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FeedError {
    /// Nothing listens at the address.
    #[error("connection refused (nothing listens at that address)")]
    Refused,
    /// No answer in time.
    #[error("timed out: no answer within {0} s")]
    Timeout(u64),
    /// TLS could not be set up or the handshake failed.
    #[error("{0}")]
    Tls(String),
    /// The WebSocket server answered the handshake with an HTTP status.
    #[error("the server answered HTTP {status} to the WebSocket handshake{}", http_hint(*.code))]
    Http {
        /// The status as the server sent it (`401 Unauthorized`).
        status: String,
        /// Its code.
        code: u16,
    },
    /// The server refused the credentials or the client (an MQTT CONNACK refusal).
    #[error("{0}")]
    Auth(String),
    /// The connection ended, perhaps with the server's reason.
    #[error("{}", .0.as_deref().unwrap_or("the connection was closed"))]
    Closed(Option<String>),
    /// The server went silent.
    #[error("{0}")]
    Silent(String),
    /// A network error.
    #[error("network error: {0}")]
    Network(String),
    /// The server broke the protocol, or sent a message past the limits.
    #[error("{0}")]
    Protocol(String),
}

impl FeedError {
    /// A socket error.
    pub(crate) fn io(e: &std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            Self::Refused
        } else {
            Self::Network(e.to_string())
        }
    }

    /// Whether the server refused who we are (the credentials) rather than being out of
    /// reach.
    pub(crate) fn is_auth(&self) -> bool {
        matches!(
            self,
            Self::Auth(_)
                | Self::Http {
                    code: 401 | 403,
                    ..
                }
        )
    }
}

fn http_hint(code: u16) -> &'static str {
    match code {
        401 | 403 => " (the credentials in the data source's headers were refused)",
        404 => " (no WebSocket endpoint at that path)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_read_as_before_and_are_told_apart_by_variant() {
        let unauthorized = FeedError::Http {
            status: "401 Unauthorized".into(),
            code: 401,
        };
        assert_eq!(
            unauthorized.to_string(),
            "the server answered HTTP 401 Unauthorized to the WebSocket handshake (the \
             credentials in the data source's headers were refused)"
        );
        assert!(unauthorized.is_auth());
        assert!(!FeedError::Refused.is_auth());
        assert_eq!(
            FeedError::Closed(None).to_string(),
            "the connection was closed"
        );
    }
}
