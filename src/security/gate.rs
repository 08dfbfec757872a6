//! The plan check every request passes after routing, on every entrypoint (GET, POST, SSE, the
//! WebSocket upgrade), before anything is published or subscribed.

use std::time::SystemTime;

use super::api_key;
use super::mtls::PeerIdentity;
use super::principal::{Access, Credential};
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
}

impl Refused {
    /// The status of the answer.
    pub fn status(&self) -> u16 {
        self.refusal.status()
    }

    /// Answers the refusal; `close` ends the connection after it.
    pub async fn answer(&self, conn: &mut Conn, close: bool) -> std::io::Result<()> {
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

/// Checks the request's credential against `api`'s plans: the client certificate (`peer`, the
/// end-entity certificate's DER on a TLS listener) where the API has an mtls plan, else an API
/// key where it has an api-key plan, else none.
pub fn check(
    head: &RequestHead,
    api: &str,
    security: &ShardSecurity,
    peer: Option<&[u8]>,
) -> Result<Access, Refused> {
    security.view.with(|snapshot| {
        let headers = snapshot.key_headers(api);
        let presented = if headers.is_empty() {
            None
        } else {
            api_key::presented(head, headers.iter().map(String::as_str))
        };
        let certificate = peer
            .filter(|_| snapshot.takes_certificates(api))
            .map(PeerIdentity::of_certificate);
        let outcome = match (certificate, presented) {
            (Some(peer), _) => {
                snapshot.decide(api, &Credential::Certificate(peer), SystemTime::now(), true)
            }
            (None, presented) => match presented {
                None => snapshot.decide(api, &Credential::None, SystemTime::now(), true),
                Some(Ok(hash)) => {
                    snapshot.decide(api, &Credential::ApiKey(hash), SystemTime::now(), true)
                }
                // An empty key is an invalid credential, not an absent one.
                Some(Err(())) => {
                    snapshot.count_unauthorized(api);
                    Err(Refusal::Unauthorized)
                }
            },
        };
        outcome.map_err(|refusal| {
            tracing::debug!(
                api,
                status = refusal.status(),
                "request refused by the plan check"
            );
            Refused {
                refusal,
                challenge: snapshot.challenge(api).to_owned(),
            }
        })
    })
}
