//! `GET /metrics` for Prometheus ([`crate::metrics`] builds the text). Its own access
//! class ([`super::Access::Metrics`]): the `[metrics] token_file` token as
//! `Authorization: Bearer`, or a user's credentials; never anonymous, even when anonymous
//! viewing is on.

use axum::extract::{FromRequestParts, State};
use axum::http::{header, request::Parts};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{Access, AppState, Route, Unauthorized, authenticate};

pub fn routes() -> Vec<Route> {
    vec![Route::new("/metrics", Access::Metrics).get(metrics)]
}

/// A scraper allowed to read `/metrics`.
#[derive(Debug)]
pub struct Scraper;

impl FromRequestParts<AppState> for Scraper {
    type Rejection = Unauthorized;
    async fn from_request_parts(parts: &mut Parts, hub: &AppState) -> Result<Self, Unauthorized> {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let (Some(sent), Some(token)) = (bearer, hub.metrics_token.as_deref()) {
            return if bool::from(sent.trim().as_bytes().ct_eq(token.as_bytes())) {
                Ok(Scraper)
            } else {
                Err(Unauthorized)
            };
        }
        match authenticate(parts, hub).await {
            Some(_) => Ok(Scraper),
            None => Err(Unauthorized),
        }
    }
}

async fn metrics(State(hub): State<AppState>, _s: Scraper) -> Response {
    let text = crate::metrics::collect(&hub).await.encode();
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response()
}
