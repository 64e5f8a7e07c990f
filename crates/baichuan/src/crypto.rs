//! Encryption of BC bodies: BCEncrypt (XOR with an offset), AES-128-CFB with the key derived
//! from the login nonce, the negotiated level, and the MD5 helpers used by login.

use aes::Aes128;
use aes::cipher::KeyIvInit;
use md5::{Digest, Md5};

/// BCEncrypt key (spec §3.2).
pub const BC_KEY: [u8; 8] = [0x1F, 0x2D, 0x3C, 0x4B, 0x5A, 0x69, 0x78, 0xFF];
/// AES IV: ASCII `0123456789abcdef`.
pub const AES_IV: [u8; 16] = *b"0123456789abcdef";

/// BCEncrypt in place (symmetric): `b ^= KEY[(i + offset) % 8] ^ offset`.
pub fn bc_xor(data: &mut [u8], offset: u8) {
    for (i, b) in data.iter_mut().enumerate() {
        *b ^= BC_KEY[(i + offset as usize) % 8] ^ offset;
    }
}

/// Upper-case hex MD5 of `s` (32 characters).
pub fn md5_upper_hex(s: &str) -> String {
    let digest = Md5::digest(s.as_bytes());
    let mut out = String::with_capacity(32);
    for b in digest.iter() {
        out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
        out.push(char::from(b"0123456789ABCDEF"[(b & 0xf) as usize]));
    }
    out
}

/// The login hash: upper-case hex MD5 truncated to 31 characters.
pub fn md5_31(s: &str) -> String {
    let mut h = md5_upper_hex(s);
    h.truncate(31);
    h
}

/// An AES-128 key: 16 ASCII bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AesKey(pub [u8; 16]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(..)")
    }
}

impl AesKey {
    /// First 16 characters of the upper-case hex MD5 of `nonce + "-" + password`.
    pub fn derive(nonce: &str, password: &str) -> Self {
        let hex = md5_upper_hex(&format!("{nonce}-{password}"));
        let mut key = [0u8; 16];
        key.copy_from_slice(&hex.as_bytes()[..16]);
        AesKey(key)
    }

    /// AES-128-CFB128 encryption in place, fresh from the IV.
    pub fn encrypt(&self, data: &mut [u8]) {
        cfb_mode::Encryptor::<Aes128>::new(&self.0.into(), &AES_IV.into()).encrypt(data);
    }

    /// AES-128-CFB128 decryption in place, fresh from the IV.
    pub fn decrypt(&self, data: &mut [u8]) {
        cfb_mode::Decryptor::<Aes128>::new(&self.0.into(), &AES_IV.into()).decrypt(data);
    }
}

/// The encryption level byte exchanged in login (`0xdcXX` request, `0xddYY` answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncryptionLevel {
    /// 0x00: plain XML.
    None,
    /// 0x01: BCEncrypt.
    BcEncrypt,
    /// 0x02: AES on control XML, media plain.
    Aes,
    /// 0x03: returned by some Argus cameras; treated like AES (reolink_aio does; unverified).
    Aes03,
    /// 0x12: AES on XML plus the first `encryptLen` bytes of binary payloads.
    FullAes,
    /// Anything else.
    Other(u8),
}

impl EncryptionLevel {
    /// Wire byte.
    pub fn to_u8(self) -> u8 {
        match self {
            EncryptionLevel::None => 0x00,
            EncryptionLevel::BcEncrypt => 0x01,
            EncryptionLevel::Aes => 0x02,
            EncryptionLevel::Aes03 => 0x03,
            EncryptionLevel::FullAes => 0x12,
            EncryptionLevel::Other(v) => v,
        }
    }

    /// From the wire byte.
    pub fn from_u8(v: u8) -> Self {
        match v {
            0x00 => EncryptionLevel::None,
            0x01 => EncryptionLevel::BcEncrypt,
            0x02 => EncryptionLevel::Aes,
            0x03 => EncryptionLevel::Aes03,
            0x12 => EncryptionLevel::FullAes,
            v => EncryptionLevel::Other(v),
        }
    }

    /// The client's request word: `0xdc00 | level`.
    pub fn request_code(self) -> u16 {
        0xdc00 | u16::from(self.to_u8())
    }

    /// The camera's answer word: `0xdd00 | level`.
    pub fn answer_code(self) -> u16 {
        0xdd00 | u16::from(self.to_u8())
    }

    /// Parses a `0xddYY` answer word; `None` if the high byte is not 0xdd.
    pub fn from_answer_code(code: u16) -> Option<Self> {
        (code >> 8 == 0xdd).then(|| Self::from_u8(code as u8))
    }

    /// Parses a `0xdcXX` request word; `None` if the high byte is not 0xdc.
    pub fn from_request_code(code: u16) -> Option<Self> {
        (code >> 8 == 0xdc).then(|| Self::from_u8(code as u8))
    }
}

/// The encryption in force on a connection (state of the [`crate::msg::Codec`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Plain text.
    None,
    /// BCEncrypt with the header byte 12 as offset.
    BcEncrypt,
    /// AES on XML (extension and payload), binary payloads plain.
    Aes(AesKey),
    /// AES on XML and on the first `encryptLen` bytes of binary payloads.
    FullAes(AesKey),
}

impl Encryption {
    /// The state to use after login, given the camera's answer level, nonce and password.
    /// Unknown levels give `None`.
    pub fn negotiated(level: EncryptionLevel, nonce: &str, password: &str) -> Option<Self> {
        Some(match level {
            EncryptionLevel::None => Encryption::None,
            EncryptionLevel::BcEncrypt => Encryption::BcEncrypt,
            EncryptionLevel::Aes | EncryptionLevel::Aes03 => {
                Encryption::Aes(AesKey::derive(nonce, password))
            }
            EncryptionLevel::FullAes => Encryption::FullAes(AesKey::derive(nonce, password)),
            EncryptionLevel::Other(_) => return None,
        })
    }

    /// During login (msg 1) the level never goes above BCEncrypt.
    pub fn capped_for_login(self) -> Self {
        match self {
            Encryption::None => Encryption::None,
            _ => Encryption::BcEncrypt,
        }
    }

    /// Encrypts one XML part (extension or payload) in place.
    pub fn encrypt_xml(&self, offset: u8, data: &mut [u8]) {
        match self {
            Encryption::None => {}
            Encryption::BcEncrypt => bc_xor(data, offset),
            Encryption::Aes(k) | Encryption::FullAes(k) => k.encrypt(data),
        }
    }

    /// Decrypts one XML part (extension or payload) in place.
    pub fn decrypt_xml(&self, offset: u8, data: &mut [u8]) {
        match self {
            Encryption::None => {}
            Encryption::BcEncrypt => bc_xor(data, offset),
            Encryption::Aes(k) | Encryption::FullAes(k) => k.decrypt(data),
        }
    }
}
