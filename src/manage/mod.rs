//! The management plane: the store that holds APIs, applications and subscriptions when the
//! configuration has a `management:` section; the service with their lifecycle rules; the REST
//! API on `management.listen`.

pub mod api;
pub mod service;
pub mod store;
