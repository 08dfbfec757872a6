//! The OpenAPI 3 document of the management API, kept in the repository (`docs/openapi.json`)
//! and compiled in; a test checks its paths and methods against the route table both ways.

/// `docs/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");
