//! Authentication once per request (issue 12 item 1; api.md §1.7, D32, D33). The
//! `credentials` middleware verifies the bearer token of an `/api/` request once and puts the
//! outcome in the request's extensions as [`Credentials`]; every later consumer reuses it:
//! the general rate limit keys on its (signature-verified) user id, the idempotency middleware
//! and the `AuthUser` extractor ask it for the authenticated context, whose session check runs
//! at most once per request (and is usually answered by the session cache without a database
//! read). Nothing is refused here: public routes ignore the header (D33); only the routes that
//! take `AuthUser` answer 401.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use blu_app::auth::{AccessClaims, AuthContext, AuthService};
use tokio::sync::OnceCell;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::bearer_token;
use crate::state::AppState;

/// The bearer token of the request, verified once; its session checked on first use.
#[derive(Clone)]
pub struct Credentials(Arc<Inner>);

struct Inner {
    claims: Result<AccessClaims, ApiError>,
    context: OnceCell<Result<AuthContext, ApiError>>,
}

impl Credentials {
    /// Verifies `token` (signature and expiry; no session check yet).
    pub fn verify(auth: &AuthService, token: &str) -> Credentials {
        Credentials(Arc::new(Inner {
            claims: auth.verify_access(token).map_err(ApiError::from),
            context: OnceCell::new(),
        }))
    }

    /// The user a validly signed, unexpired token names, without any session check: for
    /// keying rate limits only, never to authorise.
    pub fn claimed_user(&self) -> Option<Uuid> {
        self.0.claims.as_ref().ok().map(|c| c.sub)
    }

    /// The authenticated caller: the verified claims of a live session. The session check
    /// runs once per request; its outcome (a refusal too) is kept for later callers.
    pub async fn context(&self, auth: &AuthService) -> Result<AuthContext, ApiError> {
        self.0
            .context
            .get_or_init(|| async {
                match &self.0.claims {
                    Ok(claims) => auth.session_context(claims).await.map_err(ApiError::from),
                    Err(refused) => Err(refused.clone()),
                }
            })
            .await
            .clone()
    }

    /// The credentials of a request: those the middleware attached, else (a route mounted
    /// outside it) verified now and attached for the next caller.
    pub fn of(parts: &mut Parts, auth: &AuthService) -> Option<Credentials> {
        if let Some(credentials) = parts.extensions.get::<Credentials>() {
            return Some(credentials.clone());
        }
        let credentials = Credentials::verify(auth, bearer_token(&parts.headers)?);
        parts.extensions.insert(credentials.clone());
        Some(credentials)
    }
}

/// Verifies the bearer token of every `/api/` request once (the operator API's static token
/// is not a JWT and is checked by the `Admin` extractor).
pub async fn credentials(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/api/")
        && let Some(token) = bearer_token(req.headers())
    {
        let credentials = Credentials::verify(&state.auth, token);
        req.extensions_mut().insert(credentials);
    }
    next.run(req).await
}
