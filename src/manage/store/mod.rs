//! TEMPORARY local copy of the store contract (docs: /work/wt/tasks/manage_contract.md) until
//! helper store's src/manage/store lands in main; replaced by theirs at the merge.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Api,
    Application,
    Subscription,
}

#[derive(Debug, Clone)]
pub struct Document {
    pub kind: Kind,
    pub id: String,
    pub body: serde_json::Value,
    pub version: u64,
    pub updated_at: SystemTime,
}

#[derive(Debug, Clone)]
pub struct Revision {
    pub api: String,
    pub number: u64,
    pub definition: serde_json::Value,
    pub created_at: SystemTime,
    pub author: String,
    pub comment: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub at: SystemTime,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("conflict")]
    Conflict { current: Option<u64> },
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store corrupt: {0}")]
    Corrupt(String),
}

pub trait Store: Send + Sync {
    fn generation(&self) -> Result<u64, StoreError>;
    fn list(&self, kind: Kind) -> Result<Vec<Document>, StoreError>;
    fn get(&self, kind: Kind, id: &str) -> Result<Option<Document>, StoreError>;
    fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &serde_json::Value,
        expected: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError>;
    fn delete(
        &self,
        kind: Kind,
        id: &str,
        expected: u64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    fn add_revision(
        &self,
        api: &str,
        definition: &serde_json::Value,
        author: &str,
        comment: Option<&str>,
    ) -> Result<Revision, StoreError>;
    fn deploy(
        &self,
        api: &str,
        body: &serde_json::Value,
        expected: u64,
        comment: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(Revision, Document), StoreError>;
    fn revisions(&self, api: &str) -> Result<Vec<Revision>, StoreError>;
    fn revision(&self, api: &str, number: u64) -> Result<Option<Revision>, StoreError>;
    fn audit(&self, target: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, StoreError>;
    fn tokens(&self) -> Result<Vec<(String, String)>, StoreError>;
    fn add_token(&self, name: &str, hash: &str) -> Result<(), StoreError>;
}

#[derive(Default)]
struct Inner {
    generation: u64,
    docs: BTreeMap<(Kind, String), Document>,
    revisions: BTreeMap<String, Vec<Revision>>,
    audit: Vec<AuditEvent>,
    tokens: Vec<(String, String)>,
}

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemoryStore {
    fn generation(&self) -> Result<u64, StoreError> {
        Ok(self.lock().generation)
    }
    fn list(&self, kind: Kind) -> Result<Vec<Document>, StoreError> {
        Ok(self
            .lock()
            .docs
            .values()
            .filter(|d| d.kind == kind)
            .cloned()
            .collect())
    }
    fn get(&self, kind: Kind, id: &str) -> Result<Option<Document>, StoreError> {
        Ok(self.lock().docs.get(&(kind, id.to_owned())).cloned())
    }
    fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &serde_json::Value,
        expected: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<Document, StoreError> {
        let mut inner = self.lock();
        let key = (kind, id.to_owned());
        let current = inner.docs.get(&key).map(|d| d.version);
        if current != expected {
            return Err(StoreError::Conflict { current });
        }
        let doc = Document {
            kind,
            id: id.to_owned(),
            body: body.clone(),
            version: current.unwrap_or(0) + 1,
            updated_at: SystemTime::now(),
        };
        inner.docs.insert(key, doc.clone());
        inner.audit.push(audit.clone());
        inner.generation += 1;
        Ok(doc)
    }
    fn delete(
        &self,
        kind: Kind,
        id: &str,
        expected: u64,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = (kind, id.to_owned());
        let current = inner.docs.get(&key).map(|d| d.version);
        if current != Some(expected) {
            return Err(StoreError::Conflict { current });
        }
        inner.docs.remove(&key);
        inner.audit.push(audit.clone());
        inner.generation += 1;
        Ok(())
    }
    fn add_revision(
        &self,
        api: &str,
        definition: &serde_json::Value,
        author: &str,
        comment: Option<&str>,
    ) -> Result<Revision, StoreError> {
        let mut inner = self.lock();
        let list = inner.revisions.entry(api.to_owned()).or_default();
        let revision = Revision {
            api: api.to_owned(),
            number: list.len() as u64 + 1,
            definition: definition.clone(),
            created_at: SystemTime::now(),
            author: author.to_owned(),
            comment: comment.map(str::to_owned),
        };
        list.push(revision.clone());
        inner.generation += 1;
        Ok(revision)
    }
    fn deploy(
        &self,
        api: &str,
        body: &serde_json::Value,
        expected: u64,
        comment: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(Revision, Document), StoreError> {
        let current = self.get(Kind::Api, api)?.map(|d| d.version);
        if current != Some(expected) {
            return Err(StoreError::Conflict { current });
        }
        let definition = body.get("definition").cloned().unwrap_or_default();
        let revision = self.add_revision(api, &definition, &audit.actor, comment)?;
        let mut body = body.clone();
        body["deployedRevision"] = serde_json::json!(revision.number);
        let doc = self.put(Kind::Api, api, &body, Some(expected), audit)?;
        Ok((revision, doc))
    }
    fn revisions(&self, api: &str) -> Result<Vec<Revision>, StoreError> {
        Ok(self.lock().revisions.get(api).cloned().unwrap_or_default())
    }
    fn revision(&self, api: &str, number: u64) -> Result<Option<Revision>, StoreError> {
        Ok(self
            .lock()
            .revisions
            .get(api)
            .and_then(|l| l.iter().find(|r| r.number == number).cloned()))
    }
    fn audit(&self, target: Option<&str>, limit: usize) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(self
            .lock()
            .audit
            .iter()
            .rev()
            .filter(|e| target.is_none_or(|t| e.target == t))
            .take(limit)
            .cloned()
            .collect())
    }
    fn tokens(&self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self.lock().tokens.clone())
    }
    fn add_token(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.tokens.push((name.to_owned(), hash.to_owned()));
        inner.generation += 1;
        Ok(())
    }
}
