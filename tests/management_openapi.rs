//! The OpenAPI document (docs/openapi.json, served at GET /management/v2/openapi.json without a
//! token) lists exactly the routes the router serves: every route is documented, every
//! documented operation is served.

mod common;

use std::collections::BTreeSet;

use common::{get, management};
use serde_json::Value;
use tidegate::manage::api::router::route_table;

#[test]
fn the_document_and_the_route_table_match_both_ways() {
    let mgmt = management::start(Value::Null);
    let response = get(mgmt.addr, "/management/v2/openapi.json", &[]);
    assert_eq!(response.status, 200, "served without a token");
    let document = response.json();
    assert_eq!(document["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = route_table()
        .into_iter()
        .map(|(method, template)| (method.to_owned(), template.to_owned()))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in docs/openapi.json: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "in docs/openapi.json but not served: {unserved:?}"
    );
}
