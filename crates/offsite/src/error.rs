//! One error type for the object-storage side, with a kind that decides what the caller
//! does: try again later, stop and tell the owner (refused credentials, full bucket), or
//! treat the object as absent. The hub maps kinds to health events in one place.

use std::fmt;

/// What an error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The store could not be reached, timed out, or answered with a server error:
    /// nothing was counted as replicated; try again later (with backoff).
    RetryLater,
    /// The store refused the credentials or the permission (wrong key or secret,
    /// key not allowed on the bucket). Retrying will not help until the owner acts.
    AuthRefused,
    /// The bucket's quota (size or object count) is reached.
    QuotaReached,
    /// The object (or multipart upload) does not exist.
    NotFound,
    /// The store holds something other than what was sent (hash, size or ETag
    /// differ), or an encrypted object failed authentication.
    Corrupt,
    /// A local file could not be read, or differs from what the index says.
    Local,
    /// The configuration or the request is invalid (bad key name, bad range).
    Invalid,
}

impl ErrorKind {
    /// A short name for logs, metrics and health events.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RetryLater => "retry-later",
            ErrorKind::AuthRefused => "auth-refused",
            ErrorKind::QuotaReached => "quota-reached",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Local => "local",
            ErrorKind::Invalid => "invalid",
        }
    }
}

/// An off-site storage error: a kind and a message for people (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn local(what: impl fmt::Display, e: std::io::Error) -> Self {
        Error::new(ErrorKind::Local, format!("{what}: {e}"))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, message)
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Corrupt, message)
    }

    /// Classifies an `object_store` error by its HTTP status and the S3 error code in
    /// the answer's body. `what` says which operation on which key failed.
    pub(crate) fn from_store(what: &str, e: object_store::Error) -> Self {
        use object_store::Error as E;
        // `{e}` carries the status and the S3 XML error body; never credentials.
        let text = e.to_string();
        let answer = Answer::of(&text);
        let kind = match &e {
            E::NotFound { .. } => ErrorKind::NotFound,
            _ if answer.is_quota() => ErrorKind::QuotaReached,
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => ErrorKind::AuthRefused,
            _ if answer.is_auth() => ErrorKind::AuthRefused,
            _ if matches!(answer.code, "NoSuchUpload" | "NoSuchKey") => ErrorKind::NotFound,
            E::InvalidPath { .. } | E::NotSupported { .. } => ErrorKind::Invalid,
            E::Precondition { .. } | E::AlreadyExists { .. } | E::NotModified { .. } => {
                ErrorKind::Corrupt
            }
            // Connection refused or reset, timeouts, 5xx, 429, throttling: transient.
            _ => ErrorKind::RetryLater,
        };
        let detail = match (answer.code, answer.xml_message) {
            ("", _) | (_, None) => text.clone(),
            (code, Some(msg)) => format!("{code}: {msg}"),
        };
        Error::new(kind, format!("{what}: {}", squeeze(&detail)))
    }
}

/// What an `object_store` error's text says about the store's answer: the HTTP status
/// (`status code: 403 Forbidden: …`) and the S3 error's code and message. Nothing else
/// in the text is read, so a URL or an elapsed time that contains `401` is not taken for
/// refused credentials.
#[derive(Debug, PartialEq)]
struct Answer<'a> {
    status: Option<u16>,
    /// The S3 `<Code>`, or "".
    code: &'a str,
    /// The S3 `<Message>`.
    xml_message: Option<&'a str>,
    /// The `<Message>`, or else the body after the status (some answers are not XML).
    message: &'a str,
}

impl<'a> Answer<'a> {
    fn of(text: &'a str) -> Answer<'a> {
        const STATUS: &str = "status code: ";
        let after_status = text.find(STATUS).map(|i| &text[i + STATUS.len()..]);
        let status = after_status
            .and_then(|t| t.get(..3))
            .and_then(|d| d.parse().ok());
        let xml_message = between(text, "<Message>", "</Message>");
        Answer {
            status,
            code: between(text, "<Code>", "</Code>").unwrap_or(""),
            xml_message,
            message: xml_message.or(after_status).unwrap_or(""),
        }
    }

    /// S3 codes (and Garage's wording) for a bucket over its quota. Garage answers a
    /// full bucket with 403, so this is asked before [`Answer::is_auth`].
    fn is_quota(&self) -> bool {
        matches!(self.code, "QuotaExceeded" | "EntityTooLarge")
            || self.message.to_ascii_lowercase().contains("quota")
    }

    /// Refused credentials: 401 or 403, or an S3 code that says so.
    fn is_auth(&self) -> bool {
        matches!(self.status, Some(401 | 403))
            || matches!(
                self.code,
                "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "AccessDenied"
            )
    }
}

/// The text between the first `open` and the next `close`.
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    Some(&text[start..start + len])
}

/// One line, bounded: store errors can carry whole XML bodies.
fn squeeze(text: &str) -> String {
    const MAX: usize = 600;
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.len() <= MAX {
        return one_line;
    }
    let mut end = MAX;
    while !one_line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &one_line[..end])
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.kind.as_str())
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_to_one_line() {
        let s = squeeze(&format!("a\n  b {}", "x".repeat(2000)));
        assert!(s.starts_with("a b xxx"));
        assert!(s.len() <= 600 + '…'.len_utf8());
    }

    #[test]
    fn s3_code_and_message_are_kept() {
        let t = "Error performing PUT http://h/b/k - 403 Forbidden: <?xml version=\"1.0\"?>\
                 <Error><Code>AccessDenied</Code><Message>Forbidden: Invalid signature</Message>";
        assert_eq!(between(t, "<Code>", "</Code>"), Some("AccessDenied"));
        assert_eq!(
            between(t, "<Message>", "</Message>"),
            Some("Forbidden: Invalid signature")
        );
        assert_eq!(between("no xml", "<Code>", "</Code>"), None);
    }

    #[test]
    fn quota_before_auth() {
        // Garage answers a full bucket with 403 and a quota message: the quota wins.
        let full = Answer::of(
            "Server returned non-2xx status code: 403 Forbidden: <Error><Code>AccessDenied\
             </Code><Message>Forbidden: Bucket quota is reached</Message></Error>",
        );
        assert!(full.is_quota() && full.is_auth());
        let plain = Answer::of("Server returned non-2xx status code: 403 Forbidden: quota");
        assert!(plain.is_quota());
        let refused = Answer::of(
            "Error performing PUT http://h/b/k in 12ms - Server returned non-2xx status \
             code: 403 Forbidden: <Error><Code>InvalidAccessKeyId</Code></Error>",
        );
        assert!(refused.is_auth() && !refused.is_quota());
        assert_eq!(refused.status, Some(403));
    }

    #[test]
    fn numbers_and_names_outside_the_answer_are_not_read() {
        // A connection error after 587.401325 ms, for a key with "quota" and "403" in it.
        let t = "Error performing PUT http://127.0.0.1:34859/b/quota-403/x.mp4 in \
                 587.401325ms, after 2 retries - HTTP error: error sending request";
        let a = Answer::of(t);
        assert_eq!(
            a,
            Answer {
                status: None,
                code: "",
                xml_message: None,
                message: ""
            }
        );
        assert!(!a.is_auth() && !a.is_quota());
        let unauthorized = Answer::of("Server returned non-2xx status code: 401 Unauthorized: ");
        assert!(unauthorized.is_auth());
    }
}
