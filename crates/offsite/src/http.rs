//! The HTTP client under `object_store`: reqwest with a request timeout sized to the
//! body and the bandwidth cap, request bodies paced by the [`Limiter`] and counted
//! (what `/metrics` will show as bytes sent).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};

use crate::throttle::{Limiter, PIECE_LEN};

/// How long a request may take beyond its body's time at the capped rate.
const BASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time to open a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of one hub's traffic to the store.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Request body bytes handed to the connection (uploads, including retried ones).
    pub body_bytes_sent: AtomicU64,
    /// Requests made.
    pub requests: AtomicU64,
}

/// Makes the [`HttpClient`]s of every store handle of one hub: one connection pool,
/// one bandwidth cap.
#[derive(Debug, Clone)]
pub struct Connector {
    service: Arc<Service>,
}

#[derive(Debug)]
struct Service {
    client: reqwest::Client,
    limiter: Option<Arc<Limiter>>,
    traffic: Arc<Traffic>,
}

impl Connector {
    pub fn new(max_upload_bytes_per_sec: Option<u64>) -> Result<Connector, crate::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(Duration::from_secs(30))
            .no_proxy()
            .build()
            .map_err(|e| crate::Error::invalid(format!("building the HTTP client: {e}")))?;
        Ok(Connector {
            service: Arc::new(Service {
                client,
                limiter: max_upload_bytes_per_sec.map(|r| Arc::new(Limiter::new(r))),
                traffic: Arc::new(Traffic::default()),
            }),
        })
    }

    pub fn traffic(&self) -> Arc<Traffic> {
        self.service.traffic.clone()
    }
}

impl HttpConnector for Connector {
    fn connect(&self, _options: &object_store::ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(SharedService(self.service.clone())))
    }
}

#[derive(Debug)]
struct SharedService(Arc<Service>);

fn kind_of(e: &reqwest::Error) -> HttpErrorKind {
    if e.is_connect() {
        HttpErrorKind::Connect
    } else if e.is_timeout() {
        HttpErrorKind::Timeout
    } else if e.is_decode() {
        HttpErrorKind::Decode
    } else if e.is_request() || e.is_body() {
        HttpErrorKind::Request
    } else {
        HttpErrorKind::Unknown
    }
}

#[async_trait::async_trait]
impl HttpService for SharedService {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let svc = &self.0;
        let (parts, body) = req.into_parts();
        let url: reqwest::Url = parts
            .uri
            .to_string()
            .parse()
            .map_err(|e| HttpError::new(HttpErrorKind::Request, e))?;
        let mut r = reqwest::Request::new(parts.method, url);
        *r.headers_mut() = parts.headers;
        let body = body
            .collect()
            .await
            .map_err(|e| HttpError::new(HttpErrorKind::Request, e))?
            .to_bytes();
        let len = body.len() as u64;
        let paced_secs = svc
            .limiter
            .as_ref()
            .map_or(0.0, |l| len as f64 / l.bytes_per_sec() as f64);
        *r.timeout_mut() = Some(BASE_TIMEOUT + Duration::from_secs_f64(paced_secs * 2.0));
        svc.traffic.requests.fetch_add(1, Ordering::Relaxed);
        if len > 0 {
            *r.body_mut() = Some(paced(body, svc.limiter.clone(), svc.traffic.clone()));
        }
        let res = svc
            .client
            .execute(r)
            .await
            .map_err(|e| HttpError::new(kind_of(&e), e))?;
        let res: http::Response<reqwest::Body> = res.into();
        let (parts, body) = res.into_parts();
        let body = HttpResponseBody::new(body.map_err(|e| HttpError::new(kind_of(&e), e)));
        Ok(HttpResponse::from_parts(parts, body))
    }
}

/// The body as a stream of [`PIECE_LEN`] pieces, each sent once the limiter allows it
/// (the request keeps its `Content-Length` header, so no chunked encoding is used).
fn paced(body: Bytes, limiter: Option<Arc<Limiter>>, traffic: Arc<Traffic>) -> reqwest::Body {
    let Some(limiter) = limiter else {
        traffic
            .body_bytes_sent
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        return reqwest::Body::from(body);
    };
    let stream = futures_util::stream::unfold(0usize, move |off| {
        let (body, limiter, traffic) = (body.clone(), limiter.clone(), traffic.clone());
        async move {
            if off >= body.len() {
                return None;
            }
            let end = (off + PIECE_LEN).min(body.len());
            limiter.acquire(end - off).await;
            traffic
                .body_bytes_sent
                .fetch_add((end - off) as u64, Ordering::Relaxed);
            Some((Ok::<_, std::io::Error>(body.slice(off..end)), end))
        }
    });
    reqwest::Body::wrap_stream(stream)
}
