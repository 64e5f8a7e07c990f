//! Who is asking: users with argon2 password hashes, login sessions (a
//! random cookie whose SHA-256 is stored), per-user API tokens for the seed
//! viewer websocket, HTTP Basic for tools, and login throttling.
//!
//! Secrets are never stored or logged in the clear: the database holds
//! password hashes and SHA-256 digests of session ids and API tokens.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::camera::unix_ms;
use crate::db::{self, Db, DbError, User};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "hub_session";

/// Random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source works");
    hex::encode(buf)
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Hash a password for storage (argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> String {
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 accepts any password with default parameters")
        .to_string()
}

/// Check a password against a stored PHC string.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Create or reset a user; returns the new API token (shown once).
pub fn set_user(db: &Db, name: &str, password: &str) -> Result<String, DbError> {
    let phc = hash_password(password);
    let api_token = random_hex(24);
    let digest = sha256_hex(&api_token);
    db.call_blocking(|c| db::upsert_user(c, name, &phc, &digest, unix_ms(SystemTime::now())))?;
    Ok(api_token)
}

/// Failed logins allowed for one user from one address before that pair is locked.
const MAX_FAILURES_USER_ADDRESS: u32 = 5;
/// Failed logins allowed from one address, whatever the user names, before the
/// address is locked (password spraying).
const MAX_FAILURES_ADDRESS: u32 = 20;
/// How long after its last failure a key is forgotten; also the longest lock.
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The first lock; each further failure doubles it, up to [`FAILURE_WINDOW`].
const BASE_LOCKOUT: Duration = Duration::from_secs(30);
/// Keys remembered per table; past it the least recently failed is forgotten first,
/// so a flood of addresses cannot grow the table or wipe it.
const MAX_THROTTLE_KEYS: usize = 10_000;
/// How long a verified Basic credential is remembered (saves an argon2 run
/// per request for tools that poll snapshots).
const BASIC_CACHE_TTL: Duration = Duration::from_secs(300);
const MAX_BASIC_CACHE: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
    /// This key's place in [`Throttle::order`].
    seq: u64,
}

/// Failed logins by key, bounded: at most `cap` keys, the least recently failed
/// forgotten first.
#[derive(Debug)]
struct Throttle {
    /// Failures allowed before a key is locked.
    max_failures: u32,
    cap: usize,
    keys: HashMap<String, Failures>,
    /// Keys by their last failure (a counter, increasing).
    order: std::collections::BTreeMap<u64, String>,
    next_seq: u64,
}

impl Throttle {
    fn new(max_failures: u32, cap: usize) -> Throttle {
        Throttle {
            max_failures,
            cap,
            keys: HashMap::new(),
            order: std::collections::BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// How long `key` is still locked at `now`.
    fn locked(&self, key: &str, now: Instant) -> Option<Duration> {
        self.keys
            .get(key)
            .and_then(|f| f.locked_until)
            .filter(|t| *t > now)
            .map(|t| t - now)
    }

    /// Counts a failure of `key` at `now`; locks it once it has too many: 30 s, then
    /// doubling with each further failure up to 15 min. A key is forgotten 15 min
    /// after its last failure.
    fn fail(&mut self, key: &str, now: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut f = match self.keys.remove(key) {
            Some(f) => {
                self.order.remove(&f.seq);
                if now.duration_since(f.last) > FAILURE_WINDOW {
                    None
                } else {
                    Some(f)
                }
            }
            None => None,
        }
        .unwrap_or(Failures {
            count: 0,
            last: now,
            locked_until: None,
            seq,
        });
        while self.keys.len() >= self.cap {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.keys.remove(&oldest);
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        f.seq = seq;
        if f.count >= self.max_failures {
            let extra = (f.count - self.max_failures).min(5);
            f.locked_until = Some(now + (BASE_LOCKOUT * 2u32.pow(extra)).min(FAILURE_WINDOW));
        }
        self.order.insert(seq, key.to_owned());
        self.keys.insert(key.to_owned(), f);
    }

    fn clear(&mut self, key: &str) {
        if let Some(f) = self.keys.remove(key) {
            self.order.remove(&f.seq);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }
}

/// Login throttling: per (user, address) and per address, never per user alone, so
/// guessing from anywhere is slowed but cannot lock the real user out of their own
/// address.
#[derive(Debug)]
struct LoginThrottle {
    user_address: Throttle,
    address: Throttle,
}

impl LoginThrottle {
    fn new(cap: usize) -> LoginThrottle {
        LoginThrottle {
            user_address: Throttle::new(MAX_FAILURES_USER_ADDRESS, cap),
            address: Throttle::new(MAX_FAILURES_ADDRESS, cap),
        }
    }

    fn keys(name: &str, client: IpAddr) -> (String, String) {
        (format!("{client} {name}"), client.to_string())
    }

    fn locked(&self, name: &str, client: IpAddr, now: Instant) -> Option<Duration> {
        let (pair, addr) = Self::keys(name, client);
        self.user_address
            .locked(&pair, now)
            .max(self.address.locked(&addr, now))
    }

    fn fail(&mut self, name: &str, client: IpAddr, now: Instant) {
        let (pair, addr) = Self::keys(name, client);
        self.user_address.fail(&pair, now);
        self.address.fail(&addr, now);
    }

    /// A success clears the pair (the address's count decays by itself, so one good
    /// account cannot reset an address that sprays others).
    fn succeed(&mut self, name: &str, client: IpAddr) {
        self.user_address.clear(&Self::keys(name, client).0);
    }
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong user or password (deliberately not saying which).
    BadCredentials,
    /// Too many recent failures; try again after this long.
    Throttled(Duration),
}

/// Authentication state shared by all requests.
pub struct Auth {
    pub db: Db,
    pub session_lifetime: Duration,
    failures: Mutex<LoginThrottle>,
    /// SHA-256(salt ‖ "user:password") → (user, verified at).
    basic_cache: Mutex<HashMap<String, (User, Instant)>>,
    basic_salt: String,
    /// Password checks running at once. Each argon2 run takes ~19 MiB and a
    /// core for tens of milliseconds; a burst of logins or Basic requests
    /// queues here instead of exhausting memory.
    verify_slots: tokio::sync::Semaphore,
}

/// Password verifications allowed to run at the same time.
const MAX_CONCURRENT_VERIFICATIONS: usize = 2;

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Auth {
    pub fn new(db: Db, session_lifetime: Duration) -> Auth {
        Auth {
            db,
            session_lifetime,
            failures: Mutex::new(LoginThrottle::new(MAX_THROTTLE_KEYS)),
            basic_cache: Mutex::new(HashMap::new()),
            basic_salt: random_hex(16),
            verify_slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_VERIFICATIONS),
        }
    }

    /// Check a user name and password, with throttling per (user, client address)
    /// and per client address. The argon2 work runs on a blocking thread.
    pub async fn login(
        &self,
        name: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<User, LoginError> {
        let _slot = self.verify_slots.acquire().await.expect("never closed");
        self.login_locked(name, password, client).await
    }

    /// `login` for a caller that already holds a verification slot.
    async fn login_locked(
        &self,
        name: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<User, LoginError> {
        if let Some(wait) = lock(&self.failures).locked(name, client, Instant::now()) {
            return Err(LoginError::Throttled(wait));
        }
        let name_owned = name.to_owned();
        let password = password.to_owned();
        let found = self
            .db
            .call(move |c| {
                let user = db::user_by_name(c, &name_owned)?;
                Ok(match user {
                    Some(u) if verify_password(&password, &u.password_phc) => Some(u),
                    Some(_) => None,
                    None => {
                        // Spend the same time as a real check, so timing does
                        // not tell which user names exist.
                        let _ = verify_password(&password, dummy_phc());
                        None
                    }
                })
            })
            .await;
        match found {
            Ok(Some(u)) => {
                lock(&self.failures).succeed(name, client);
                Ok(u)
            }
            Ok(None) => {
                lock(&self.failures).fail(name, client, Instant::now());
                Err(LoginError::BadCredentials)
            }
            Err(e) => {
                tracing::error!(error = %e, "login lookup failed");
                Err(LoginError::BadCredentials)
            }
        }
    }

    /// Start a session for `user`, signed in from `address` with `user_agent`
    /// (kept, cut to 256 bytes, for the user's list of sessions); returns the cookie
    /// value.
    pub async fn create_session(
        &self,
        user: &User,
        address: IpAddr,
        user_agent: &str,
    ) -> Result<String, DbError> {
        let sid = random_hex(32);
        let digest = sha256_hex(&sid);
        let now = unix_ms(SystemTime::now());
        let expires = now + self.session_lifetime.as_millis() as i64;
        let uid = user.id;
        let address = address.to_string();
        let mut agent = user_agent.to_owned();
        if agent.len() > 256 {
            let mut cut = 256;
            while !agent.is_char_boundary(cut) {
                cut -= 1;
            }
            agent.truncate(cut);
        }
        self.db
            .call(move |c| {
                db::delete_expired_sessions(c, now)?;
                db::insert_session(
                    c,
                    &db::NewSession {
                        id_sha256: &digest,
                        user_id: uid,
                        created_ms: now,
                        expires_ms: expires,
                        address: &address,
                        user_agent: &agent,
                    },
                )
            })
            .await?;
        Ok(sid)
    }

    /// The live sessions of user `user_id`, newest first.
    pub async fn sessions(&self, user_id: i64) -> Result<Vec<db::SessionInfo>, DbError> {
        let now = unix_ms(SystemTime::now());
        self.db
            .call(move |c| db::sessions_of(c, user_id, now))
            .await
    }

    /// Ends every session of user `user_id` ("sign out everywhere"); how many.
    pub async fn end_all_sessions(&self, user_id: i64) -> Result<usize, DbError> {
        self.db
            .call(move |c| db::delete_sessions_of(c, user_id))
            .await
    }

    pub async fn session_user(&self, sid: &str) -> Option<User> {
        if sid.len() != 64 || !sid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digest = sha256_hex(sid);
        let now = unix_ms(SystemTime::now());
        self.db
            .call(move |c| db::session_user(c, &digest, now))
            .await
            .ok()
            .flatten()
    }

    pub async fn end_session(&self, sid: &str) {
        let digest = sha256_hex(sid);
        let _ = self.db.call(move |c| db::delete_session(c, &digest)).await;
    }

    pub async fn api_token_user(&self, token: &str) -> Option<User> {
        if token.is_empty() || token.len() > 256 {
            return None;
        }
        let digest = sha256_hex(token);
        self.db
            .call(move |c| db::user_by_api_token(c, &digest))
            .await
            .ok()
            .flatten()
    }

    /// The user of cached Basic credentials, if they were verified less than
    /// [`BASIC_CACHE_TTL`] ago and the user still has the password they were verified
    /// against: each hit reads the user's stored hash (one indexed row, no argon2), so a
    /// password change or removal, by the hub or by `hub user` in another process,
    /// evicts the entry at its next use.
    async fn cached_basic(&self, key: &str) -> Option<User> {
        let cached = {
            let cache = lock(&self.basic_cache);
            cache
                .get(key)
                .filter(|(_, at)| at.elapsed() < BASIC_CACHE_TTL)
                .map(|(u, _)| u.clone())
        }?;
        let id = cached.id;
        let current = self.db.call(move |c| db::user_by_id(c, id)).await;
        match current {
            Ok(Some(u)) if u.password_phc == cached.password_phc => Some(u),
            Ok(_) => {
                lock(&self.basic_cache).remove(key);
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "credential lookup failed");
                None
            }
        }
    }

    /// Check an `Authorization: Basic ...` header value.
    pub async fn basic(&self, header: &str, client: IpAddr) -> Option<User> {
        let b64 = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (name, password) = raw.split_once(':')?;
        let key = sha256_hex(&format!("{}{raw}", self.basic_salt));
        if let Some(u) = self.cached_basic(&key).await {
            return Some(u);
        }
        // Many requests with the same new credentials (a tool opening
        // several streams) wait here; the first verifies, the rest hit the
        // cache.
        let _slot = self.verify_slots.acquire().await.expect("never closed");
        if let Some(u) = self.cached_basic(&key).await {
            return Some(u);
        }
        let user = self.login_locked(name, password, client).await.ok()?;
        let mut cache = lock(&self.basic_cache);
        if cache.len() >= MAX_BASIC_CACHE {
            cache.clear();
        }
        cache.insert(key, (user.clone(), Instant::now()));
        Some(user)
    }
}

/// A valid argon2 hash of a random string, verified against when the user
/// does not exist.
fn dummy_phc() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&random_hex(16)))
}

/// Read the session id out of a `Cookie` header.
pub fn session_from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == SESSION_COOKIE).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new(Db::open_in_memory().unwrap(), Duration::from_secs(60))
    }

    #[test]
    fn password_hash_round_trip() {
        let phc = hash_password("hunter2");
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("hunter2", &phc));
        assert!(!verify_password("hunter3", &phc));
        assert!(!verify_password("x", "not a phc"));
        // The dummy hash parses, so the timing-equaliser really runs argon2.
        assert!(PasswordHash::new(dummy_phc()).is_ok());
    }

    #[tokio::test]
    async fn login_sessions_tokens_and_basic() {
        let a = auth();
        let token = set_user(&a.db, "ann", "pw").unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            a.login("ann", "nope", ip).await.unwrap_err(),
            LoginError::BadCredentials
        );
        let u = a.login("ann", "pw", ip).await.unwrap();
        let sid = a.create_session(&u, ip, "test").await.unwrap();
        assert_eq!(a.session_user(&sid).await.unwrap().name, "ann");
        assert!(a.session_user(&random_hex(32)).await.is_none());
        assert_eq!(a.api_token_user(&token).await.unwrap().name, "ann");
        assert!(a.api_token_user("nope").await.is_none());
        let hdr = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ann:pw")
        );
        assert_eq!(a.basic(&hdr, ip).await.unwrap().name, "ann");
        assert_eq!(a.basic(&hdr, ip).await.unwrap().name, "ann", "cached");
        let bad = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ann:x")
        );
        assert!(a.basic(&bad, ip).await.is_none());
        a.end_session(&sid).await;
        assert!(a.session_user(&sid).await.is_none());
    }

    #[tokio::test]
    async fn a_new_password_ends_sessions_and_cached_basic_credentials() {
        let a = auth();
        let token = set_user(&a.db, "ann", "first password").unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let u = a.login("ann", "first password", ip).await.unwrap();
        let sid = a.create_session(&u, ip, "phone").await.unwrap();
        let other = a.create_session(&u, ip, "laptop").await.unwrap();
        let listed = a.sessions(u.id).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].user_agent, "laptop");
        let hdr = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ann:first password")
        );
        assert!(a.basic(&hdr, ip).await.is_some(), "verified and cached");
        // As `hub user add` or `hub user passwd` does, on the same database.
        let new_token = set_user(&a.db, "ann", "second password").unwrap();
        assert!(a.session_user(&sid).await.is_none());
        assert!(a.session_user(&other).await.is_none());
        assert!(a.api_token_user(&token).await.is_none());
        assert!(a.api_token_user(&new_token).await.is_some());
        assert!(a.basic(&hdr, ip).await.is_none(), "the cache entry is gone");
        let hdr2 = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("ann:second password")
        );
        assert!(a.basic(&hdr2, ip).await.is_some());
        // Removal: the cached new credentials stop working too.
        assert!(a.db.call_blocking(|c| db::delete_user(c, "ann")).unwrap());
        assert!(a.basic(&hdr2, ip).await.is_none());
        assert!(a.api_token_user(&new_token).await.is_none());
    }

    #[tokio::test]
    async fn sign_out_everywhere_ends_only_that_users_sessions() {
        let a = auth();
        set_user(&a.db, "ann", "pw").unwrap();
        set_user(&a.db, "bob", "pw").unwrap();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let ann = a.login("ann", "pw", ip).await.unwrap();
        let bob = a.login("bob", "pw", ip).await.unwrap();
        let s1 = a.create_session(&ann, ip, "x").await.unwrap();
        let s2 = a.create_session(&ann, ip, "y").await.unwrap();
        let s3 = a.create_session(&bob, ip, "z").await.unwrap();
        assert_eq!(a.end_all_sessions(ann.id).await.unwrap(), 2);
        assert!(a.session_user(&s1).await.is_none());
        assert!(a.session_user(&s2).await.is_none());
        assert!(a.session_user(&s3).await.is_some());
    }

    /// How many guesses an attacker who tries every second gets in `secs`.
    fn guesses(t: &mut LoginThrottle, name: &str, ip: IpAddr, start: Instant, secs: u64) -> u32 {
        let mut n = 0;
        for s in 0..secs {
            let now = start + Duration::from_secs(s);
            if t.locked(name, ip, now).is_none() {
                t.fail(name, ip, now);
                n += 1;
            }
        }
        n
    }

    #[test]
    fn one_address_guessing_one_user_is_slowed_to_the_documented_rate() {
        let mut t = LoginThrottle::new(100);
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        let start = Instant::now();
        // 5 at once, then after locks of 30, 60, 120, 240, 480, 900, 900 s: at
        // t = 0-4, 34, 94, 214, 454, 934, 1834, 2734 s.
        assert_eq!(guesses(&mut t, "bob", ip, start, 3600), 12);
        // Then one per 15 min for as long as it keeps trying.
        let mut t2 = LoginThrottle::new(100);
        assert_eq!(guesses(&mut t2, "bob", ip, start, 6 * 3600), 12 + 20);
        // The real user, from their own address, is never locked.
        let home: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(
            t.locked("bob", home, start + Duration::from_secs(60))
                .is_none()
        );
        // Spraying many names from one address: 20, then the address is locked.
        let mut t3 = LoginThrottle::new(100);
        for i in 0..20 {
            assert!(t3.locked(&format!("u{i}"), ip, start).is_none(), "{i}");
            t3.fail(&format!("u{i}"), ip, start);
        }
        assert_eq!(
            t3.locked("anyone", ip, start),
            Some(BASE_LOCKOUT),
            "the address is locked for every name"
        );
        assert!(t3.locked("anyone", home, start).is_none());
    }

    #[test]
    fn full_tables_forget_the_least_recently_failed_first() {
        let mut t = Throttle::new(2, 3);
        let now = Instant::now();
        t.fail("a", now);
        t.fail("a", now);
        assert!(t.locked("a", now).is_some());
        t.fail("b", now);
        t.fail("c", now);
        // "a" failed again: now "b" is the oldest, and goes first.
        t.fail("a", now);
        t.fail("d", now);
        assert_eq!(t.len(), 3);
        assert!(
            t.locked("a", now).is_some(),
            "a lock is not wiped by newcomers"
        );
        assert!(!t.keys.contains_key("b"));
        // A flood of new keys never grows the table.
        for i in 0..1000 {
            t.fail(&format!("x{i}"), now);
        }
        assert_eq!(t.len(), 3);
        assert_eq!(t.order.len(), 3);
    }

    #[tokio::test]
    async fn throttles_after_repeated_failures() {
        let a = auth();
        set_user(&a.db, "bob", "right").unwrap();
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        for _ in 0..MAX_FAILURES_USER_ADDRESS {
            assert_eq!(
                a.login("bob", "wrong", ip).await.unwrap_err(),
                LoginError::BadCredentials
            );
        }
        // Even the right password is refused while locked out.
        assert!(matches!(
            a.login("bob", "right", ip).await,
            Err(LoginError::Throttled(_))
        ));
        // The same user from another address is not locked out.
        assert!(
            a.login("bob", "right", "10.0.0.10".parse().unwrap())
                .await
                .is_ok()
        );
        // Another user from another address is unaffected.
        set_user(&a.db, "cat", "pw").unwrap();
        assert!(
            a.login("cat", "pw", "10.0.0.10".parse().unwrap())
                .await
                .is_ok()
        );
    }

    #[test]
    fn cookie_parsing() {
        assert_eq!(
            session_from_cookie_header("a=1; hub_session=abc; b=2"),
            Some("abc")
        );
        assert_eq!(session_from_cookie_header("a=1"), None);
    }
}
