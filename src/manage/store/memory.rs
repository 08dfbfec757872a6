//! The store in memory: for tests, and the reference the SQL stores are checked against (one
//! conformance suite runs on all three).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use super::{
    definition_of, with_deployed_revision, AuditEvent, Document, Kind, Revision, Store, StoreError,
};

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
    tokens: BTreeMap<String, String>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole values behind (every write is one insert).
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn put(
        &mut self,
        kind: Kind,
        id: &str,
        body: &Value,
        expected: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError> {
        let key = (kind, id.to_owned());
        let current = self.documents.get(&key).map(|doc| doc.version);
        if current != expected {
            return Err(StoreError::Conflict { current });
        }
        let document = Document {
            kind,
            id: id.to_owned(),
            body: body.clone(),
            version: current.unwrap_or(0) + 1,
            updated_at: super::now(),
        };
        self.documents.insert(key, document.clone());
        self.audit.push(audit.clone());
        self.generation += 1;
        Ok(document)
    }

    fn add_revision(
        &mut self,
        api: &str,
        definition: &Value,
        author: &str,
        comment: Option<&str>,
    ) -> Revision {
        let list = self.revisions.entry(api.to_owned()).or_default();
        let revision = Revision {
            api: api.to_owned(),
            number: list.last().map_or(1, |last| last.number + 1),
            definition: definition.clone(),
            created_at: super::now(),
            author: author.to_owned(),
            comment: comment.map(str::to_owned),
        };
        list.push(revision.clone());
        self.generation += 1;
        revision
    }
}

impl Store for MemoryStore {
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

    fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &Value,
        expected: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError> {
        self.lock().put(kind, id, body, expected, audit)
    }

    fn delete(
        &self,
        kind: Kind,
        id: &str,
        expected: u64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        let key = (kind, id.to_owned());
        let current = state.documents.get(&key).map(|doc| doc.version);
        if current != Some(expected) {
            return Err(StoreError::Conflict { current });
        }
        state.documents.remove(&key);
        if kind == Kind::Api {
            state.revisions.remove(id);
        }
        state.audit.push(audit.clone());
        state.generation += 1;
        Ok(())
    }

    fn add_revision(
        &self,
        api: &str,
        definition: &Value,
        author: &str,
        comment: Option<&str>,
    ) -> Result<Revision, StoreError> {
        Ok(self.lock().add_revision(api, definition, author, comment))
    }

    fn deploy(
        &self,
        api: &str,
        body: &Value,
        expected: u64,
        comment: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(Revision, Document), StoreError> {
        let mut state = self.lock();
        let current = state
            .documents
            .get(&(Kind::Api, api.to_owned()))
            .map(|doc| doc.version);
        if current != Some(expected) {
            return Err(StoreError::Conflict { current });
        }
        let revision = state.add_revision(api, &definition_of(body), &audit.actor, comment);
        let body = with_deployed_revision(body, revision.number);
        let document = state.put(Kind::Api, api, &body, Some(expected), audit)?;
        Ok((revision, document))
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

    fn tokens(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .lock()
            .tokens
            .iter()
            .map(|(name, hash)| (name.clone(), hash.clone()))
            .collect())
    }

    fn add_token(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.tokens.insert(name.to_owned(), hash.to_owned());
        state.generation += 1;
        Ok(())
    }
}
