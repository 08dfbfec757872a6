//! Webhook dead letters to a topic of the API's own Kafka cluster or MQTT broker (`dlq: {type:
//! kafka | mqtt, topic}`): the message with its failure headers (Kafka record headers, with the
//! record's key kept; MQTT 5 user properties). A write resolves once the broker acknowledged it
//! (Kafka: the produce answer; MQTT: the PUBACK of a QoS 1 publish), and only then does the
//! subscription count the message as acknowledged (`Outcome::DeadLettered`), so its source
//! commits or PUBACKs past it only after the dead letter is safe.

use std::rc::Rc;

use bytes::Bytes;

use super::dead_letter::{DeadLetterFactory, DeadLetterSink, WriteFuture};
use crate::config::push_model::DeadLetterTarget;
use crate::endpoint::kafka::KafkaDeadLetters;
use crate::endpoint::mqtt::MqttDeadLetters;
use crate::endpoint::Endpoint;
use crate::message::Message;

/// Builds the sink of a Kafka or MQTT dead-letter target on the API's endpoint.
pub fn factory() -> DeadLetterFactory {
    Rc::new(sink)
}

fn sink(target: &DeadLetterTarget, endpoint: &Endpoint) -> Option<Rc<dyn DeadLetterSink>> {
    match (target, endpoint) {
        (DeadLetterTarget::Kafka { topic }, Endpoint::Kafka(kafka)) => {
            let Some(writer) = kafka.dead_letters(topic) else {
                tracing::error!(%topic, "no Kafka producer for the dead-letter topic");
                return None;
            };
            Some(Rc::new(KafkaSink(Rc::new(writer))))
        }
        (DeadLetterTarget::Mqtt { topic }, Endpoint::Mqtt(mqtt)) => {
            match mqtt.dead_letters(topic) {
                Ok(writer) => Some(Rc::new(MqttSink(Rc::new(writer)))),
                Err(why) => {
                    tracing::error!(%why, "the MQTT dead-letter topic cannot be used");
                    None
                }
            }
        }
        // The configuration checks the target's type against the API's endpoint.
        _ => None,
    }
}

struct KafkaSink(Rc<KafkaDeadLetters>);

impl DeadLetterSink for KafkaSink {
    fn write(&self, letter: Message) -> WriteFuture {
        let writer = self.0.clone();
        // The record's key keeps the dead letter on the partition its key hashes to.
        let key = letter
            .metadata
            .iter()
            .find(|(name, _)| name == "key")
            .map(|(_, key)| Bytes::from(key.clone()));
        Box::pin(async move {
            writer
                .write(letter.payload, letter.headers, key)
                .await
                .map_err(|error| error.to_string())
        })
    }
}

struct MqttSink(Rc<MqttDeadLetters>);

impl DeadLetterSink for MqttSink {
    fn write(&self, letter: Message) -> WriteFuture {
        let writer = self.0.clone();
        Box::pin(async move {
            writer
                .write(letter.payload, letter.headers)
                .await
                .map_err(|error| error.to_string())
        })
    }
}
