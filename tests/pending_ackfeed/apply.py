import shutil, os
# Run from the repository root once the webhook branch (src/webhook/, config push model) is in.
R=os.getcwd()+'/'
def edit(path, old, new, count=1):
    s=open(R+path).read()
    assert old in s, (path, old[:60])
    s=s.replace(old,new,count)
    open(R+path,'w').write(s)

# 1. sink module + wiring
shutil.copy(R+'tests/pending_ackfeed/broker_dead_letters.rs', R+'src/webhook/broker_dead_letters.rs')
edit('src/webhook/mod.rs', "pub mod auth;\n", "pub mod auth;\npub mod broker_dead_letters;\n")
edit('src/webhook/mod.rs', "    dead_letter::sink(target, topics, endpoint, None)", "    dead_letter::sink(\n        target,\n        topics,\n        endpoint,\n        Some(&broker_dead_letters::factory()),\n    )")

# 2. KafkaPlan: dead-letter producers declared by push subscriptions
edit('src/endpoint/kafka/plan.rs', """        }
        plan
    }""", """        }
        // Push subscriptions' Kafka dead-letter topics, on their API's brokers.
        for subscription in &config.subscriptions {
            let Some(DeadLetterTarget::Kafka { topic }) =
                subscription.push.as_ref().and_then(|push| push.dlq.as_ref())
            else {
                continue;
            };
            let api = config.apis.iter().find(|api| api.id == subscription.api);
            if let Some(EndpointConfig::Kafka(options)) = api.map(|api| &api.endpoint) {
                plan.add_dead_letter_topic(options, topic);
            }
        }
        plan
    }""")
edit('src/endpoint/kafka/plan.rs', "use crate::config::{Config, EndpointConfig};", "use crate::config::push_model::DeadLetterTarget;\nuse crate::config::{Config, EndpointConfig};")

# 3. config checks
shutil.copy(R+'tests/pending_ackfeed/push_sources.rs', R+'src/config/push_sources.rs')
edit('src/config/sections.rs', "    super::mqtt::settle_sessions(gateway.node_id.as_deref(), &mut apis, p);\n",
 "    super::push_sources::push_source_problems(gateway.node_id.as_deref(), &apis, p);\n    super::mqtt::settle_sessions(gateway.node_id.as_deref(), &mut apis, p);\n")
edit('src/config/mod.rs', "mod problem;\n", "mod problem;\nmod push_sources;\n")
shutil.copy(R+'tests/pending_ackfeed/config_test.rs', R+'tests/webhook_at_least_once_config.rs')
s=open(R+'docs/webhooks.md').read()
s=s.rstrip('\n')+'\n'+open(R+'tests/pending_ackfeed/docs_section.md').read()
open(R+'docs/webhooks.md','w').write(s)
for name in ['webhook_kafka_kill.rs','webhook_mqtt_kill.rs','webhook_kafka_dlq.rs','webhook_mqtt_dlq.rs']:
    shutil.move(R+'tests/pending_ackfeed/'+name, R+'tests/'+name)
shutil.move(R+'tests/pending_ackfeed/webhook_brokers.rs', R+'tests/common/webhook_brokers.rs')
edit('tests/common/mod.rs', "pub mod topic_api;\n", "pub mod topic_api;\npub mod webhook_brokers;\n")
print("applied")
