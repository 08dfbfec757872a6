//! `security: jwt` plans in a whole configuration: their subscriptions and applications.

use crate::config::{load_str, PlanSecurity};

fn yaml(subscription_extra: &str, application_extra: &str) -> String {
    format!(
        r#"
apis:
  - id: chat
    name: Chat
    contextPaths: [/chat]
    entrypoints: [{{ type: sse }}]
    endpoint: {{ type: in-memory, configuration: {{ topic: chat }} }}
    plans:
      - id: jwt
        name: JWT
        security: jwt
        configuration: {{ secret: "0123456789abcdef0123456789abcdef" }}
applications:
  - id: app
    name: App
{application_extra}
  - id: other
    name: Other
    clientId: other-client
subscriptions:
  - id: sub
    api: chat
    plan: jwt
    application: app
{subscription_extra}
"#
    )
}

fn problems(text: &str) -> Vec<String> {
    match load_str(text, "test") {
        Ok(_) => panic!("accepted"),
        Err(error) => error.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_jwt_plan_loads_with_its_settings() {
    let config = load_str(&yaml("", "    clientId: app-client"), "test").unwrap();
    let PlanSecurity::Jwt(settings) = &config.apis[0].plans[0].security else {
        panic!("a jwt plan");
    };
    assert_eq!(settings.client_id_claims, ["azp", "client_id"]);
}

#[test]
fn jwt_subscriptions_need_a_client_id_and_take_no_api_keys() {
    let no_client = problems(&yaml("", ""));
    assert_eq!(no_client.len(), 1, "{no_client:?}");
    assert!(
        no_client[0].starts_with("subscriptions[0].application: application 'app' has no clientId")
    );
    let keys = "    apiKeys:\n      - hash: \"sha256:0000000000000000000000000000000000000000000000000000000000000000\"";
    let with_keys = problems(&yaml(keys, "    clientId: app-client"));
    assert!(
        with_keys
            .iter()
            .any(|p| p.contains("subscriptions[0].apiKeys: plan 'jwt' is a jwt plan")),
        "{with_keys:?}"
    );
    let twice = problems(&yaml("", "    clientId: other-client"));
    assert!(
        twice
            .iter()
            .any(|p| p.contains("clientId 'other-client' is used by another application")),
        "{twice:?}"
    );
    let bad_key = problems(
        &yaml("", "    clientId: app-client").replace("0123456789abcdef0123456789abcdef", "short"),
    );
    assert!(
        bad_key
            .iter()
            .any(|p| p
                .starts_with("apis[0].plans[0].configuration.secret: must be at least 32 bytes")),
        "{bad_key:?}"
    );
}
