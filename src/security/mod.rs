//! Who may call an API: credentials presented by clients, checked against the plans of the API.

pub mod jwt;
