//! A WebSocket session renewing its bearer token (`tokenRefresh: true`): a text message
//! `{"type":"auth","token":"<JWT>"}` is checked like the upgrade's token was, for the same
//! client; accepted, the session runs until the new token's expiry; refused, it closes with 1008
//! and the reason. Such a message is never published.

use std::rc::Rc;

use crate::deployed::Api;
use crate::security::gate;
use crate::security::live::StreamWatch;
use crate::shard::Shard;

/// What the session's reader needs to renew its token.
pub(crate) struct TokenRenewal {
    pub(crate) api: Rc<Api>,
    pub(crate) shard: Rc<Shard>,
    /// The session's registration with the live-stream check, whose credential is replaced.
    pub(crate) watch: Rc<StreamWatch>,
}

impl TokenRenewal {
    /// Checks `token` and, accepted, makes it the session's credential.
    pub(crate) async fn renew(&self, token: &str) -> Result<(), String> {
        let current = self.watch.credential();
        let security = &self.shard.security;
        let access = gate::renew(token, &self.api.id, current.as_ref(), security).await?;
        tracing::debug!(api = %self.api.id, valid_until = ?access.valid_until, "websocket token renewed");
        self.watch.renew(&access);
        Ok(())
    }
}
