//! The store in memory: for tests, and the reference the SQL stores are checked against (one
//! conformance suite runs on all three).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use super::transaction::{self, Txn};
use super::{AuditEvent, Bound, Document, Kind, Revision, Store, StoreError, StoredToken};

/// Everything behind one lock: each call is one transaction.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    generation: u64,
    documents: BTreeMap<(Kind, String), Document>,
    revisions: BTreeMap<String, Vec<Revision>>,
    audit: Vec<AuditEvent>,
    tokens: BTreeMap<String, StoredToken>,
}

impl MemoryStore {
    /// An empty store at generation 0, gone with its last reference.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole values behind (every write is one insert).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `work` as one transaction (under the lock); a write that succeeded bumps the
    /// generation once.
    fn write<T>(
        &self,
        work: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.lock();
        let result = work(&mut state)?;
        state.generation += 1;
        Ok(result)
    }
}

/// The primitives are infallible: the shared transactions check before they change anything,
/// so a refusal leaves the state as it was (there is no rollback here).
impl Txn for State {
    fn version(&mut self, kind: Kind, id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self
            .documents
            .get(&(kind, id.to_owned()))
            .map(|doc| doc.version))
    }

    fn upsert(&mut self, document: &Document) -> Result<(), StoreError> {
        self.documents
            .insert((document.kind, document.id.clone()), document.clone());
        Ok(())
    }

    fn remove(&mut self, kind: Kind, id: &str) -> Result<(), StoreError> {
        self.documents.remove(&(kind, id.to_owned()));
        Ok(())
    }

    fn remove_revisions(&mut self, api: &str) -> Result<(), StoreError> {
        self.revisions.remove(api);
        Ok(())
    }

    fn last_revision(&mut self, api: &str) -> Result<u64, StoreError> {
        Ok(self
            .revisions
            .get(api)
            .and_then(|list| list.last())
            .map_or(0, |last| last.number))
    }

    fn insert_revision(&mut self, revision: &Revision) -> Result<(), StoreError> {
        self.revisions
            .entry(revision.api.clone())
            .or_default()
            .push(revision.clone());
        Ok(())
    }

    fn record(&mut self, audit: &AuditEvent) -> Result<(), StoreError> {
        self.audit.push(audit.clone());
        Ok(())
    }

    fn count_prefixed(&mut self, kind: Kind, prefix: &str) -> Result<u64, StoreError> {
        let count = self
            .documents
            .range((kind, prefix.to_owned())..)
            .take_while(|((k, id), _)| *k == kind && id.starts_with(prefix))
            .count();
        Ok(count as u64)
    }

    fn tokens(&mut self) -> Result<Vec<StoredToken>, StoreError> {
        Ok(self.tokens.values().cloned().collect())
    }

    fn insert_token(&mut self, token: &StoredToken) -> Result<(), StoreError> {
        self.tokens.insert(token.name.clone(), token.clone());
        Ok(())
    }

    fn remove_token(&mut self, name: &str) -> Result<(), StoreError> {
        self.tokens.remove(name);
        Ok(())
    }
}

impl Store for MemoryStore {
    transaction::transactional_writes!();

    fn generation(&self) -> Result<u64, StoreError> {
        Ok(self.lock().generation)
    }

    fn list(&self, kind: Kind) -> Result<Vec<Document>, StoreError> {
        let state = self.lock();
        Ok(state
            .documents
            .range((kind, String::new())..)
            .take_while(|((k, _), _)| *k == kind)
            .map(|(_, doc)| doc.clone())
            .collect())
    }

    fn get(&self, kind: Kind, id: &str) -> Result<Option<Document>, StoreError> {
        Ok(self.lock().documents.get(&(kind, id.to_owned())).cloned())
    }

    fn revisions(&self, api: &str) -> Result<Vec<Revision>, StoreError> {
        Ok(self.lock().revisions.get(api).cloned().unwrap_or_default())
    }

    fn revision(&self, api: &str, number: u64) -> Result<Option<Revision>, StoreError> {
        Ok(self
            .lock()
            .revisions
            .get(api)
            .and_then(|list| list.iter().find(|rev| rev.number == number))
            .cloned())
    }

    fn audit(&self, target: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        let state = self.lock();
        Ok(state
            .audit
            .iter()
            .rev()
            .filter(|event| target.is_none_or(|t| event.target == t))
            .take(limit)
            .cloned()
            .collect())
    }

    fn tokens(&self) -> Result<Vec<StoredToken>, StoreError> {
        Ok(self.lock().tokens.values().cloned().collect())
    }
}
