//! The plan check every request passes after routing, on every entrypoint (GET, POST, SSE, the
//! WebSocket upgrade), before anything is published or subscribed.
//!
//! Credentials are tried in this order: the client certificate where the API has an mtls plan,
//! then a bearer token for the API's JWT plans, then an API key, and no credential at all only
//! for a keyless plan.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::api_key;
use super::jwt::plan_check::{presented_token, verify_for_api, JwtPlan};
use super::jwt::JwtRefusal;
use super::mtls::PeerIdentity;
use super::principal::{Access, Credential, VerifiedJwt};
use super::select::Refusal;
use super::ShardSecurity;
use crate::codec::http_head::RequestHead;
use crate::server::conn::Conn;

/// A refused request, with what its answer needs.
#[derive(Debug)]
pub struct Refused {
    refusal: Refusal,
    /// `WWW-Authenticate` for a 401.
    challenge: String,
    /// A bearer token that was not accepted: its own status, challenge and short reason.
    token: Option<JwtRefusal>,
}

impl Refused {
    /// The status of the answer.
    pub fn status(&self) -> u16 {
        match &self.token {
            Some(token) => token.status(),
            None => self.refusal.status(),
        }
    }

    /// Answers the refusal; `close` ends the connection after it.
    pub async fn answer(&self, conn: &mut Conn, close: bool) -> std::io::Result<()> {
        if let Some(token) = &self.token {
            let challenge = token.www_authenticate();
            let header = ("WWW-Authenticate", challenge.as_str());
            let reason = token.to_string();
            return conn
                .respond_with(token.status(), header, &reason, close)
                .await;
        }
        match self.refusal {
            Refusal::Unauthorized => {
                let header = ("WWW-Authenticate", self.challenge.as_str());
                conn.respond_with(401, header, self.refusal.message(), close)
                    .await
            }
            Refusal::Forbidden => conn.respond_text(403, self.refusal.message(), close).await,
        }
    }
}

/// Checks `head`'s credential against `api`'s plans, in this order: the client certificate
/// (`peer`, the end-entity certificate's DER on a TLS listener) where the API has an mtls plan,
/// then a bearer token where it has JWT plans, then an API key where it has an api-key plan, then
/// none (keyless). Waits only when a bearer token names a key the API's JWKS does not have yet
/// (bounded by the plan's `jwks.unknownKeyWaitMs`).
pub async fn check(
    head: &RequestHead,
    api: &str,
    security: &ShardSecurity,
    peer: Option<&[u8]>,
) -> Result<Access, Refused> {
    if let Some(peer) = peer.filter(|_| security.view.with(|s| s.takes_certificates(api))) {
        let credential = Credential::Certificate(PeerIdentity::of_certificate(peer));
        return decide(api, &credential, security);
    }
    let (jwt_plans, version) = security
        .view
        .with(|snapshot| (snapshot.jwt_plans(api).to_vec(), snapshot.version()));
    if jwt_plans.is_empty() {
        return check_without_token(head, api, security);
    }
    let token = match presented_token(head, &jwt_plans) {
        Ok(Some(token)) => token,
        Ok(None) => return check_without_token(head, api, security),
        Err(refusal) => return Err(token_refused(api, security, refusal)),
    };
    match verify_token(&token, api, &jwt_plans, security, version).await {
        Ok(credential) => decide(api, &credential, security),
        Err(refusal) => Err(token_refused(api, security, refusal)),
    }
}

/// Verifies `token` with `api`'s JWT plans: the credential it presents, or why it is refused.
async fn verify_token(
    token: &str,
    api: &str,
    jwt_plans: &[JwtPlan],
    security: &ShardSecurity,
    version: u64,
) -> Result<Credential, JwtRefusal> {
    let api_id: Arc<str> = api.into();
    let (plan, verified) =
        verify_for_api(token, &api_id, jwt_plans, &security.jwt, version).await?;
    // The token is accepted until `exp` plus the plan's clock skew: a stream it opens ends
    // then, not earlier than the token would be refused.
    let skew = jwt_plans
        .iter()
        .find(|p| p.plan == plan)
        .map_or(Duration::ZERO, |p| p.settings.clock_skew);
    Ok(Credential::Jwt(VerifiedJwt {
        plan,
        client_id: verified.client_id.into(),
        expires_at: UNIX_EPOCH + Duration::from_secs(verified.expires_at) + skew,
    }))
}

/// A live WebSocket's new token (`tokenRefresh`): verified like a request's, for the same
/// client as the one it replaces, with an accepted subscription. The session's new access, or
/// the reason (for its close frame) it is refused.
pub async fn renew(
    token: &str,
    api: &str,
    current: Option<&Credential>,
    security: &ShardSecurity,
) -> Result<Access, String> {
    let Some(Credential::Jwt(old)) = current else {
        return Err("token renewal needs a session opened with a bearer token".to_owned());
    };
    let (jwt_plans, version) = security
        .view
        .with(|snapshot| (snapshot.jwt_plans(api).to_vec(), snapshot.version()));
    let credential = verify_token(token, api, &jwt_plans, security, version)
        .await
        .map_err(|refusal| {
            tracing::debug!(api, detail = refusal.detail(), "renewal token refused");
            format!("renewal refused: {refusal}")
        })?;
    if !matches!(&credential, Credential::Jwt(new) if new.client_id == old.client_id) {
        return Err("renewal refused: the token names another client".to_owned());
    }
    security
        .view
        .with(|snapshot| snapshot.decide(api, &credential, SystemTime::now(), false))
        .map_err(|_| "renewal refused: no accepted subscription".to_owned())
}

/// A bearer token refused: counted as a 401 (or 400) on the API, answered with its reason.
fn token_refused(api: &str, security: &ShardSecurity, refusal: JwtRefusal) -> Refused {
    tracing::debug!(api, reason = %refusal, detail = refusal.detail(), "bearer token refused");
    security.view.with(|snapshot| {
        snapshot.count_unauthorized(api);
        snapshot.count_jwt_refusal(api, &refusal);
        Refused {
            refusal: Refusal::Unauthorized,
            challenge: snapshot.challenge(api).to_owned(),
            token: Some(refusal),
        }
    })
}

fn decide(api: &str, credential: &Credential, security: &ShardSecurity) -> Result<Access, Refused> {
    security.view.with(|snapshot| {
        snapshot
            .decide(api, credential, SystemTime::now(), true)
            .map_err(|refusal| refused(api, snapshot, refusal))
    })
}

fn refused(api: &str, snapshot: &super::Snapshot, refusal: Refusal) -> Refused {
    tracing::debug!(
        api,
        status = refusal.status(),
        "request refused by the plan check"
    );
    Refused {
        refusal,
        challenge: snapshot.challenge(api).to_owned(),
        token: None,
    }
}

/// The API key and keyless steps.
fn check_without_token(
    head: &RequestHead,
    api: &str,
    security: &ShardSecurity,
) -> Result<Access, Refused> {
    security.view.with(|snapshot| {
        let headers = snapshot.key_headers(api);
        let presented = if headers.is_empty() {
            None
        } else {
            api_key::presented(head, headers.iter().map(String::as_str))
        };
        let outcome = match presented {
            None => snapshot.decide(api, &Credential::None, SystemTime::now(), true),
            Some(Ok(hash)) => {
                snapshot.decide(api, &Credential::ApiKey(hash), SystemTime::now(), true)
            }
            // An empty key is an invalid credential, not an absent one.
            Some(Err(())) => {
                snapshot.count_unauthorized(api);
                Err(Refusal::Unauthorized)
            }
        };
        outcome.map_err(|refusal| refused(api, snapshot, refusal))
    })
}
