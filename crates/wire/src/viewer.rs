//! The viewer handshake of the seed server's `/video-output-stream`: a u32 LE
//! length (1..=1024) and that many bytes of JSON `{"cameraId": N, "token":
//! "..."}`. After it the server sends one binary message per JPEG.

use bytes::{Buf, BufMut, BytesMut};

/// Longest handshake JSON accepted (the seed's bound).
pub const MAX_VIEWER_HELLO_LEN: u32 = 1024;

/// The viewer's request: which camera, with which credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ViewerHello {
    #[serde(rename = "cameraId")]
    pub camera_id: i64,
    #[serde(default)]
    pub token: String,
}

/// Why the handshake was refused. All map to close code 1007 ("invalid
/// payload data"), as in the seed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewerError {
    #[error("handshake length {0} is outside 1..=1024")]
    BadLength(u32),
    #[error("handshake is not the expected JSON: {0}")]
    BadJson(String),
    #[error("camera id {0} is not positive")]
    BadCameraId(i64),
}

/// Decode the handshake from `buf`; `Ok(None)` when more bytes are needed.
pub fn decode_viewer_hello(buf: &mut BytesMut) -> Result<Option<ViewerHello>, ViewerError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len == 0 || len > MAX_VIEWER_HELLO_LEN {
        return Err(ViewerError::BadLength(len));
    }
    if buf.len() < 4 + len as usize {
        return Ok(None);
    }
    buf.advance(4);
    let body = buf.split_to(len as usize);
    let hello: ViewerHello =
        serde_json::from_slice(&body).map_err(|e| ViewerError::BadJson(e.to_string()))?;
    if hello.camera_id <= 0 {
        return Err(ViewerError::BadCameraId(hello.camera_id));
    }
    Ok(Some(hello))
}

/// Append a handshake (what the seed frontend sends on open).
pub fn encode_viewer_hello(hello: &ViewerHello, out: &mut BytesMut) {
    let json = serde_json::to_vec(hello).expect("plain struct serialises");
    out.put_u32_le(json.len() as u32);
    out.put_slice(&json);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_split() {
        let hello = ViewerHello {
            camera_id: 3,
            token: "fake token".into(),
        };
        let mut whole = BytesMut::new();
        encode_viewer_hello(&hello, &mut whole);
        let mut buf = BytesMut::from(&whole[..5]);
        assert_eq!(decode_viewer_hello(&mut buf), Ok(None));
        buf.extend_from_slice(&whole[5..]);
        assert_eq!(decode_viewer_hello(&mut buf), Ok(Some(hello)));
    }

    #[test]
    fn refusals() {
        let mut buf = BytesMut::new();
        buf.put_u32_le(0);
        assert_eq!(
            decode_viewer_hello(&mut buf),
            Err(ViewerError::BadLength(0))
        );
        let mut buf = BytesMut::new();
        buf.put_u32_le(5000);
        assert_eq!(
            decode_viewer_hello(&mut buf),
            Err(ViewerError::BadLength(5000))
        );
        let mut buf = BytesMut::new();
        buf.put_u32_le(4);
        buf.put_slice(b"nope");
        assert!(matches!(
            decode_viewer_hello(&mut buf),
            Err(ViewerError::BadJson(_))
        ));
        let mut buf = BytesMut::new();
        let j = br#"{"cameraId":0,"token":"x"}"#;
        buf.put_u32_le(j.len() as u32);
        buf.put_slice(j);
        assert_eq!(
            decode_viewer_hello(&mut buf),
            Err(ViewerError::BadCameraId(0))
        );
    }
}
