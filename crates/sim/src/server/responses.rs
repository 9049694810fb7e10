//! The shapes of the simulator's answers: JSON bodies, the API's `{"errors": [...]}` for every
//! refusal, 429 with `Retry-After` in the configured style, and the body faults that damage a `200`
//! on its way out.

use crate::faults::{BodyFault, RetryAfterStyle};
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use callbudget_api::ErrorBody;
use callbudget_api::budget::retry_after_seconds;
use futures_util::StreamExt;
use std::time::{Duration, SystemTime};

/// An error answer in the API's shape.
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

pub fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

pub fn error_response(status: StatusCode, message: &str) -> Response {
    let body = to_json(&ErrorBody {
        errors: vec![message.to_owned()],
    });
    json_response(status, body)
}

/// `Retry-After` for a wait, in whole seconds rounded up as Meraki writes it, or in another style.
/// A date is written against `caller_now`, the clock the caller reads it with.
pub fn retry_after_value(style: RetryAfterStyle, wait: Duration, caller_now: SystemTime) -> String {
    let seconds = retry_after_seconds(wait);
    match style {
        RetryAfterStyle::Seconds => seconds.to_string(),
        RetryAfterStyle::Unit => format!("{seconds}s"),
        RetryAfterStyle::Date => httpdate::fmt_http_date(caller_now + Duration::from_secs(seconds)),
    }
}

/// Says when to come back, as a 429 (or a 503) does: `Retry-After`.
pub fn set_retry_after(refusal: &mut Response, retry_after: &str) {
    if let Ok(v) = HeaderValue::from_str(retry_after) {
        refusal.headers_mut().insert(header::RETRY_AFTER, v);
    }
}

/// Damages a `200`'s body as the fault says; other answers pass untouched.
pub async fn apply_body_fault(response: Response, fault: BodyFault) -> Response {
    if fault == BodyFault::None || response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return error_response(StatusCode::INTERNAL_SERVER_ERROR, "Simulated server error");
    };
    match fault {
        BodyFault::None => Response::from_parts(parts, Body::from(bytes)),
        BodyFault::Truncate => {
            let cut = bytes.slice(..bytes.len() / 2);
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(cut))
        }
        BodyFault::Malformed => {
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(
                parts,
                Body::from("<html><body>502 Bad Gateway</body></html>"),
            )
        }
        BodyFault::Reset => {
            // Promise the whole body, send half, then fail the stream: the connection is cut mid-body.
            let half = bytes.slice(..bytes.len() / 2);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            // The error comes a moment later so that hyper has written the head and first half.
            let first = futures_util::stream::iter([Ok::<_, std::io::Error>(half)]);
            let cut = futures_util::stream::once(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated reset",
                ))
            });
            Response::from_parts(parts, Body::from_stream(first.chain(cut)))
        }
    }
}
