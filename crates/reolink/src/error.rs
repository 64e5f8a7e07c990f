//! The source's error type. [`SourceError::is_auth`] drives the retry policy (slow retry
//! for bad credentials, exponential backoff for everything else); it is mapped there only.

/// Why a connection attempt or a running connection ended.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Could not open the transport.
    #[error("connect: {0}")]
    Connect(std::io::Error),
    /// Read/write failure.
    #[error("I/O: {0}")]
    Io(std::io::Error),
    /// Something did not happen in time.
    #[error("timed out: {0}")]
    Timeout(&'static str),
    /// The camera rejected the credentials (status 400/401).
    #[error("credentials rejected (status {0})")]
    AuthFailed(u16),
    /// Login failed for another reason.
    #[error("login failed: {0}")]
    Login(String),
    /// The peer closed the connection.
    #[error("camera closed the connection")]
    Closed,
    /// The BcUdp layer failed.
    #[error("UDP: {0}")]
    Udp(String),
    /// A protocol violation we cannot continue after.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The camera refused to start the stream.
    #[error("stream refused (status {0})")]
    StreamRefused(u16),
}

impl SourceError {
    /// Bad credentials: report once and retry slowly.
    pub fn is_auth(&self) -> bool {
        matches!(self, SourceError::AuthFailed(_))
    }
}
