//! The source's error type. Its [`ErrorKind`] decides what the reconnect loop does, in one
//! place ([`crate::source`]): retry soon with backoff, retry slowly (wrong password), or stop.

use std::time::Duration;

/// A bad [`crate::RtspConfig`]: reported once, the source stops.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("bad camera host {0}")]
    Host(String),
    #[error("bad camera URL: {0}")]
    Url(String),
}

/// Why one session with the camera ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The camera refused the credentials (401 after digest/basic authentication).
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Could not connect, or the camera closed or broke the session.
    #[error("{0}")]
    Rtsp(String),
    /// DESCRIBE/SETUP/PLAY took too long.
    #[error("camera did not answer {step} within {timeout:?}")]
    Timeout {
        step: &'static str,
        timeout: Duration,
    },
    /// No video frame for too long (camera hung, network partition, lost NTP, reboot).
    #[error("stalled: no video frame for {0:?}")]
    Stalled(Duration),
    /// The camera offers no H.264/H.265 video stream.
    #[error("no H.264/H.265 video stream (offered: {0})")]
    NoVideo(String),
    /// The camera's video parameters could not be turned into an MP4 track.
    #[error("bad video parameters: {0}")]
    BadParameters(String),
    /// The camera ended the stream.
    #[error("camera ended the stream")]
    Ended,
    /// The configuration cannot produce a URL; retrying will not help.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What the reconnect loop does after a [`SessionError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Reconnect after the exponential backoff.
    Retry,
    /// Wrong credentials: report once, retry only every [`crate::SourceOptions::auth_retry`].
    Auth,
    /// Give up (bad configuration).
    Fatal,
}

impl SessionError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SessionError::Auth(_) => ErrorKind::Auth,
            SessionError::Config(_) => ErrorKind::Fatal,
            _ => ErrorKind::Retry,
        }
    }

    /// Classifies a retina error: 401 means the credentials were refused.
    pub(crate) fn from_retina(e: &retina::Error) -> SessionError {
        let msg = first_line(&e.to_string());
        if e.status_code() == Some(401) {
            SessionError::Auth(msg)
        } else {
            SessionError::Rtsp(msg)
        }
    }
}

/// retina's messages carry multi-line connection context; the first line is the summary that
/// goes into the status and the reason of a gap (the whole message is logged at debug).
fn first_line(s: &str) -> String {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(s)
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_of_multiline_message() {
        assert_eq!(
            first_line("401 response to DESCRIBE CSeq=2: Unauthorized\n\nconn: x"),
            "401 response to DESCRIBE CSeq=2: Unauthorized"
        );
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn kinds() {
        assert_eq!(SessionError::Auth("x".into()).kind(), ErrorKind::Auth);
        assert_eq!(
            SessionError::Stalled(Duration::from_secs(1)).kind(),
            ErrorKind::Retry
        );
        assert_eq!(
            SessionError::Config(ConfigError::Host("h".into())).kind(),
            ErrorKind::Fatal
        );
    }
}
