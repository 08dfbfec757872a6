//! A memory store whose follower reads pass through a hook: tests put a store outage, or a write
//! between the follower's two reads, there. Every other call goes to the memory store as it is,
//! so a test can keep writing (as another node would) while this node's reads fail.

use serde_json::Value;
use tidegate::manage::store::{
    AuditEvent, Bound, Document, Kind, MemoryStore, Revision, Store, StoreError, StoredToken,
};

/// What a test does around the reads a follower makes (`generation`, `list`, `revision`).
pub trait ReadHook: Send + Sync {
    /// Runs before each of those reads; an error is the store's answer.
    fn before_read(&self, _inner: &MemoryStore) -> Result<(), StoreError> {
        Ok(())
    }
    /// Runs after each generation read, before it is returned.
    fn after_generation(&self, _inner: &MemoryStore, _generation: u64) {}
}

/// A [`MemoryStore`] with a [`ReadHook`].
#[derive(Default)]
pub struct HookedStore<H> {
    pub inner: MemoryStore,
    pub hook: H,
}

impl<H: ReadHook> Store for HookedStore<H> {
    fn generation(&self) -> Result<u64, StoreError> {
        self.hook.before_read(&self.inner)?;
        let generation = self.inner.generation()?;
        self.hook.after_generation(&self.inner, generation);
        Ok(generation)
    }
    fn list(&self, kind: Kind) -> Result<Vec<Document>, StoreError> {
        self.hook.before_read(&self.inner)?;
        self.inner.list(kind)
    }
    fn get(&self, kind: Kind, id: &str) -> Result<Option<Document>, StoreError> {
        self.inner.get(kind, id)
    }
    fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &Value,
        expected: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError> {
        self.inner.put(kind, id, body, expected, audit)
    }
    fn create_bounded(
        &self,
        kind: Kind,
        id: &str,
        body: &Value,
        bound: Bound<'_>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError> {
        self.inner.create_bounded(kind, id, body, bound, audit)
    }
    fn delete(
        &self,
        kind: Kind,
        id: &str,
        expected: u64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.delete(kind, id, expected, audit)
    }
    fn add_revision(
        &self,
        api: &str,
        definition: &Value,
        author: &str,
        comment: Option<&str>,
    ) -> Result<Revision, StoreError> {
        self.inner.add_revision(api, definition, author, comment)
    }
    fn deploy(
        &self,
        api: &str,
        body: &Value,
        expected: u64,
        comment: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(Revision, Document), StoreError> {
        self.inner.deploy(api, body, expected, comment, audit)
    }
    fn revisions(&self, api: &str) -> Result<Vec<Revision>, StoreError> {
        self.inner.revisions(api)
    }
    fn revision(&self, api: &str, number: u64) -> Result<Option<Revision>, StoreError> {
        self.hook.before_read(&self.inner)?;
        self.inner.revision(api, number)
    }
    fn audit(&self, target: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit(target, limit)
    }
    fn tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        self.inner.tokens()
    }
    fn add_token(&self, token: &StoredToken, audit: &AuditEvent) -> Result<(), StoreError> {
        self.inner.add_token(token, audit)
    }
    fn revoke_token(
        &self,
        name: &str,
        keep_live_at: Option<std::time::SystemTime>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.revoke_token(name, keep_live_at, audit)
    }
}
