//! Bearer-token check applied to every RPC.

use tonic::{Request, Status};

/// An interceptor accepting requests carrying `authorization: Bearer <token>`;
/// with no token configured (loopback only) everything is accepted.
#[derive(Clone)]
pub struct BearerAuth {
    expected: Option<String>,
}

impl BearerAuth {
    pub fn new(token: Option<&str>) -> BearerAuth {
        BearerAuth {
            expected: token.map(|t| format!("Bearer {}", t.trim())),
        }
    }

    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.expected else { return Ok(request) };
        match request.metadata().get("authorization").map(|v| v.to_str()) {
            Some(Ok(given)) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("invalid bearer token")),
            None => Err(Status::unauthenticated("missing `authorization: Bearer <token>` metadata")),
        }
    }
}

/// Comparison time independent of where the strings differ, so the token
/// cannot be guessed byte by byte from response times.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
