//! Why a bearer token was refused: a short reason the client may read, details for the log only.
//!
//! Every refusal is a 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1),
//! except a request that presents its token twice (header and query), which is a 400
//! `invalid_request`. The client learns which check failed, never key ids, claims or parser
//! internals: those go to the debug log through [`JwtRefusal::detail`].

/// One reason a token is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtRefusal {
    /// Not three base64url parts of JSON objects (or a JWE, or stray characters).
    #[error("token is malformed")]
    Malformed(String),
    /// Longer than the plan's `maxTokenBytes`.
    #[error("token is too large")]
    TooLarge {
        /// The presented token's length, in bytes.
        bytes: usize,
        /// The plan's `maxTokenBytes`.
        max_bytes: usize,
    },
    /// `alg` is `none`, unknown, or not in the plan's `algorithms`.
    #[error("token algorithm is not accepted")]
    Algorithm(String),
    /// A header the gateway never trusts (`jku`, `x5u`, `jwk`, `x5c`), a `crit` extension it
    /// does not implement, or an unexpected `typ`.
    #[error("token header is not accepted")]
    Header(String),
    /// The token's `kid` names no configured key (after a JWKS refresh, where there is one).
    #[error("token key is unknown")]
    UnknownKey(String),
    /// The signature does not verify with any key of the algorithm's family.
    #[error("token signature is invalid")]
    Signature,
    /// `exp` is past (beyond the clock skew); a token without `exp` is `Malformed`.
    #[error("token has expired")]
    Expired {
        /// The token's `exp`, in seconds since the Unix epoch.
        expires_at: u64,
        /// The gateway's clock at the check, in seconds since the Unix epoch.
        now: u64,
    },
    /// `nbf` is in the future (beyond the clock skew).
    #[error("token is not yet valid")]
    NotYetValid {
        /// The token's `nbf`, in seconds since the Unix epoch.
        not_before: u64,
        /// The gateway's clock at the check, in seconds since the Unix epoch.
        now: u64,
    },
    /// `iss` is not one of the plan's issuers.
    #[error("token issuer is not accepted")]
    Issuer(String),
    /// `aud` names none of the plan's audiences.
    #[error("token audience is not accepted")]
    Audience(String),
    /// The client-id claim is missing or not a non-empty string.
    #[error("token names no client")]
    NoClient(String),
    /// The token came both in `Authorization` and in the query (RFC 6750 §2: one method only),
    /// or `Authorization` was repeated or not a bearer credential.
    #[error("present one bearer token, in the Authorization header or the query")]
    InvalidRequest(String),
}

/// The `reason` label of `tidegate_security_jwt_refusals_total`, one per refusal kind, in the
/// order of [`JwtRefusal::reason_index`].
pub const REFUSAL_REASONS: [&str; 12] = [
    "malformed",
    "too_large",
    "algorithm",
    "header",
    "unknown_key",
    "signature",
    "expired",
    "not_yet_valid",
    "issuer",
    "audience",
    "no_client",
    "invalid_request",
];

impl JwtRefusal {
    /// This refusal's index into [`REFUSAL_REASONS`] (a metric label, bounded and request-free).
    pub fn reason_index(&self) -> usize {
        match self {
            JwtRefusal::Malformed(_) => 0,
            JwtRefusal::TooLarge { .. } => 1,
            JwtRefusal::Algorithm(_) => 2,
            JwtRefusal::Header(_) => 3,
            JwtRefusal::UnknownKey(_) => 4,
            JwtRefusal::Signature => 5,
            JwtRefusal::Expired { .. } => 6,
            JwtRefusal::NotYetValid { .. } => 7,
            JwtRefusal::Issuer(_) => 8,
            JwtRefusal::Audience(_) => 9,
            JwtRefusal::NoClient(_) => 10,
            JwtRefusal::InvalidRequest(_) => 11,
        }
    }

    /// The HTTP status: 400 for a badly formed request, 401 for a token that is not accepted.
    pub fn status(&self) -> u16 {
        match self {
            JwtRefusal::InvalidRequest(_) => 400,
            _ => 401,
        }
    }

    /// The `WWW-Authenticate` header value: the RFC 6750 error code and the short reason.
    pub fn www_authenticate(&self) -> String {
        let code = match self {
            JwtRefusal::InvalidRequest(_) => "invalid_request",
            _ => "invalid_token",
        };
        format!("Bearer error=\"{code}\", error_description=\"{self}\"")
    }

    /// What exactly failed, for the debug log (never sent to the client).
    pub fn detail(&self) -> String {
        match self {
            JwtRefusal::Malformed(detail)
            | JwtRefusal::Algorithm(detail)
            | JwtRefusal::Header(detail)
            | JwtRefusal::UnknownKey(detail)
            | JwtRefusal::Issuer(detail)
            | JwtRefusal::Audience(detail)
            | JwtRefusal::NoClient(detail)
            | JwtRefusal::InvalidRequest(detail) => detail.clone(),
            JwtRefusal::TooLarge { bytes, max_bytes } => {
                format!("{bytes} bytes, the plan accepts at most {max_bytes}")
            }
            JwtRefusal::Signature => "no key of the algorithm's family verifies it".to_owned(),
            JwtRefusal::Expired { expires_at, now } => format!("exp {expires_at}, now {now}"),
            JwtRefusal::NotYetValid { not_before, now } => format!("nbf {not_before}, now {now}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::JwtRefusal;

    #[test]
    fn the_client_sees_the_reason_but_not_the_detail() {
        let refusal = JwtRefusal::UnknownKey("kid \"secret-kid-7\" not in the JWKS".to_owned());
        assert_eq!(refusal.status(), 401);
        let header = refusal.www_authenticate();
        assert_eq!(
            header,
            "Bearer error=\"invalid_token\", error_description=\"token key is unknown\""
        );
        assert!(!header.contains("secret-kid-7"));
        assert!(refusal.detail().contains("secret-kid-7"));
        let twice = JwtRefusal::InvalidRequest("both".to_owned());
        assert_eq!(twice.status(), 400);
        assert!(twice.www_authenticate().contains("invalid_request"));
    }
}
