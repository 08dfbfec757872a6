//! Routing by virtual host, then the longest context path that prefixes the request path.
//! Context paths bound to a host (`{ path, host }`) are tried first, and only for requests whose
//! `Host` names it; host-less paths serve any Host after them. So a path bound to a host is
//! unreachable (404) under any other host unless a host-less API also serves it.
//! Stopped APIs are not in the table, so they answer 404 like an unknown path. A live apply
//! replaces a shard's whole table (`runtime::shard_apply`); requests already routed keep the
//! `Rc<Api>` they got.

use std::rc::Rc;

use crate::config::ContextPath;
use crate::deployed::Api;

/// One shard's routing table.
pub struct Router {
    /// `(context path, api)`, longest path first.
    routes: Vec<(ContextPath, Rc<Api>)>,
}

impl Router {
    /// Builds the table from the started APIs.
    pub fn new(apis: &[Rc<Api>]) -> Router {
        let mut routes = Vec::new();
        for api in apis {
            for path in &api.config.context_paths {
                routes.push((path.clone(), api.clone()));
            }
        }
        routes.sort_by_key(|(entry, _)| std::cmp::Reverse(entry.path.len()));
        Router { routes }
    }

    /// Every API in the table, once each (an API with several context paths has several routes).
    pub fn apis(&self) -> impl Iterator<Item = &Rc<Api>> {
        self.routes
            .iter()
            .enumerate()
            .filter(|(index, (_, api))| {
                !self.routes[..*index]
                    .iter()
                    .any(|(_, earlier)| Rc::ptr_eq(earlier, api))
            })
            .map(|(_, (_, api))| api)
    }

    /// The API whose id is `id`, if started.
    pub fn api(&self, id: &str) -> Option<&Rc<Api>> {
        self.routes
            .iter()
            .map(|(_, api)| api)
            .find(|api| api.id == id)
    }

    /// The API serving `path` for a request whose `Host` header is `host`, if any. `/a` matches
    /// `/a`, `/a/` and `/a/b`, never `/ab`.
    pub fn route(&self, host: Option<&str>, path: &str) -> Option<&Rc<Api>> {
        let bound = self.routes.iter().find(|(entry, _)| {
            entry.host.is_some() && entry.serves_host(host) && matches_prefix(&entry.path, path)
        });
        bound
            .or_else(|| {
                self.routes
                    .iter()
                    .find(|(entry, _)| entry.host.is_none() && matches_prefix(&entry.path, path))
            })
            .map(|(_, api)| api)
    }
}

fn matches_prefix(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return path.starts_with('/');
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_segments_only() {
        assert!(matches_prefix("/a", "/a"));
        assert!(matches_prefix("/a", "/a/"));
        assert!(matches_prefix("/a", "/a/b"));
        assert!(!matches_prefix("/a", "/ab"));
        assert!(!matches_prefix("/a/b", "/a"));
        assert!(matches_prefix("/", "/anything"));
    }
}
