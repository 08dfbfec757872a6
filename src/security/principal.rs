//! Who a request was let in as: what later stages (rate limits, access logs) key on.

use std::sync::Arc;
use std::time::SystemTime;

use super::mtls::PeerIdentity;
use crate::config::KeyHash;

/// The plan a request was served through, and for a subscribed plan the application and
/// subscription. Cheap to clone (shared strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The API's id.
    pub api: Arc<str>,
    /// The plan's id.
    pub plan: Arc<str>,
    /// The subscribed application; `None` on a keyless plan.
    pub application: Option<Arc<str>>,
    /// The subscription; `None` on a keyless plan.
    pub subscription: Option<Arc<str>>,
}

/// The credential a request presented, kept by live streams to be checked again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// None: only a published keyless plan serves it.
    None,
    /// An API key, by its hash.
    ApiKey(KeyHash),
    /// A client certificate on a TLS listener (mTLS plans).
    Certificate(PeerIdentity),
    /// A bearer JWT, once verified: what plan selection needs of it (the token itself is not
    /// kept; a live stream ends at `expires_at` unless a WebSocket renews it).
    Jwt(VerifiedJwt),
}

/// A JWT that a JWT plan's verifier accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJwt {
    /// The JWT plan whose keys and checks accepted it.
    pub plan: Arc<str>,
    /// Its client-id claim: the application's `clientId`.
    pub client_id: Arc<str>,
    /// Its `exp` plus the plan's clock skew: when the gateway stops accepting it.
    pub expires_at: SystemTime,
}

/// A request that may go on.
#[derive(Debug, Clone)]
pub struct Access {
    /// Who it runs as.
    pub principal: Principal,
    /// What it presented (checked again for a live stream on every registry change).
    pub credential: Credential,
    /// When the credential or subscription stops being valid on its own (key `expireAt`,
    /// subscription `endingAt`), if ever.
    pub valid_until: Option<SystemTime>,
}
