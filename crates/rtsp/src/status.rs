//! What the source reports about itself: a [`tokio::sync::watch`] value the hub shows on its
//! status page and exports as metrics.

/// Where the source's connection is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RtspState {
    /// DESCRIBE/SETUP/PLAY in progress.
    Connecting,
    /// PLAY succeeded; frames flow.
    Playing,
    /// The camera refused the credentials; retried only every
    /// [`crate::SourceOptions::auth_retry`].
    AuthFailed,
    /// Lost or could not reach the camera; waiting to reconnect.
    Disconnected { reason: String },
    /// Cancelled, the consumer went away, or the configuration is unusable.
    Stopped,
}

/// A snapshot of one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtspStatus {
    pub state: RtspState,
    /// RFC 6381 codec string of the current track, e.g. `avc1.4D401F` or `hvc1.1.6.L93.B0`.
    pub codec: Option<String>,
    pub width: Option<u16>,
    pub height: Option<u16>,
    /// Frames delivered to the consumer, over all sessions.
    pub frames: u64,
    /// Frames dropped because the consumer's channel was full (plus those skipped after them
    /// up to the next key frame, see `skipped_frames`).
    pub dropped_frames: u64,
    /// Frames skipped while waiting for a key frame (start of each session, after a drop).
    pub skipped_frames: u64,
    /// Frames whose timestamp repeated or went back, moved by one tick.
    pub nudged_timestamps: u64,
    /// Times the camera's timeline jumped and was re-based.
    pub timestamp_jumps: u64,
    /// Connection attempts (DESCRIBEs started), including the first.
    pub attempts: u64,
    /// Sessions that reached PLAY again after an earlier session was lost.
    pub reconnects: u64,
    /// The latest failure (first line; never contains credentials).
    pub last_error: Option<String>,
}

impl Default for RtspStatus {
    fn default() -> Self {
        RtspStatus {
            state: RtspState::Connecting,
            codec: None,
            width: None,
            height: None,
            frames: 0,
            dropped_frames: 0,
            skipped_frames: 0,
            nudged_timestamps: 0,
            timestamp_jumps: 0,
            attempts: 0,
            reconnects: 0,
            last_error: None,
        }
    }
}
