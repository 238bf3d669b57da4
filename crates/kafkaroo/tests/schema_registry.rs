//! `kafkaroo::schema` against the real broker and the test registry (`common/registry.rs`, written
//! from the Confluent REST API): Avro and JSON records framed by the serialisers, produced, consumed
//! and read back equal, each schema fetched once; records that cannot be read fail with the error
//! naming their cause; through `FailureHandling`, poison records reach the dead-letter topic with
//! their headers while a registry answering 503 is retried.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::registry::{Framed, ORDER_AVRO, Registry, order, produce_all, unreachable_url};
use kafkaroo::patterns::{DeadLetters, FailureHandling, RetryPolicy, headers};
use kafkaroo::producer::{Producer, ProducerConfig};
use kafkaroo::schema::apache_avro::types::Value as Avro;
use kafkaroo::schema::serde_json::json;
use kafkaroo::schema::{
    AvroDeserializer, AvroSerializer, JsonDeserializer, JsonSerializer, RegistryConfig, SchemaError,
    SchemaRegistry, frame, topic_value_subject,
};
use kafkaroo::{Consumer, ConsumerRecord, TopicPartition};
use kafkaroo_testcontainers::Cluster;

/// Version 2 of the order: a field added with a default.
const ORDER_AVRO_V2: &str = r#"{"type":"record","name":"Order","namespace":"kafkaroo.test","fields":[
  {"name":"id","type":"long"},
  {"name":"customer","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"note","type":["null","string"],"default":null},
  {"name":"channel","type":"string","default":"web"}]}"#;

const ORDER_JSON: &str = r#"{"type":"object","properties":{"id":{"type":"integer"},"customer":{"type":"string"}},"required":["id","customer"],"additionalProperties":false}"#;

fn registry(url: &str) -> SchemaRegistry {
    SchemaRegistry::new(
        RegistryConfig::from_properties([("schema.registry.url", url)])
            .unwrap()
            .request_timeout(Duration::from_secs(5)),
    )
}

/// Reads `count` records from partition 0 of each of `topics`: topic and value.
async fn read(bootstrap: &str, topics: &[&str], count: usize) -> Vec<(String, Vec<u8>)> {
    let partitions: Vec<TopicPartition> = topics.iter().map(|t| TopicPartition::new(*t, 0)).collect();
    common::read_raw(bootstrap, &partitions, count)
        .await
        .into_iter()
        .map(|(topic, _, _, value, _)| (topic, value.unwrap_or_default()))
        .collect()
}

#[test]
fn avro_and_json_records_round_trip_through_a_topic_and_each_schema_is_fetched_once() {
    let cluster = Cluster::shared();
    common::init_tracing();
    let server = Registry::start();
    let (avro_topic, json_topic) = (cluster.unique_topic("sr-avro"), cluster.unique_topic("sr-json"));
    cluster.create_topic(&avro_topic, 1, 1, &[]).unwrap();
    cluster.create_topic(&json_topic, 1, 1, &[]).unwrap();

    common::runtime().block_on(async {
        // The producer's side: its own client, registering through the serialisers.
        let producing = registry(server.url());
        let v1 =
            AvroSerializer::new(producing.clone(), topic_value_subject(&avro_topic), ORDER_AVRO).unwrap();
        let v2 =
            AvroSerializer::new(producing.clone(), topic_value_subject(&avro_topic), ORDER_AVRO_V2).unwrap();
        let js =
            JsonSerializer::new(producing.clone(), topic_value_subject(&json_topic), ORDER_JSON).unwrap();
        let mut sent_avro = Vec::new();
        let mut records: Vec<Framed> = Vec::new();
        for i in 0..30i64 {
            let mut value = order(i, &format!("c{i}"));
            let bytes = if i < 15 {
                v1.serialize(value.clone()).await.unwrap()
            } else {
                if let Avro::Record(fields) = &mut value {
                    fields.push(("channel".into(), Avro::String("shop".into())));
                }
                v2.serialize(value.clone()).await.unwrap()
            };
            sent_avro.push(value);
            records.push((0, format!("k{i}").into_bytes(), bytes, Vec::new()));
        }
        produce_all(cluster.bootstrap(), &avro_topic, &records).await;
        let mut sent_json = Vec::new();
        let mut records: Vec<Framed> = Vec::new();
        for i in 0..30 {
            let value = json!({"id": i, "customer": format!("c{i}")});
            records.push((0, Vec::new(), js.serialize(&value).await.unwrap(), Vec::new()));
            sent_json.push(value);
        }
        produce_all(cluster.bootstrap(), &json_topic, &records).await;
        // The serialiser checks before it sends.
        let wrong = js
            .serialize(&json!({"id": "seven", "customer": "c"}))
            .await
            .unwrap_err();
        assert!(matches!(wrong, SchemaError::Mismatch { .. }), "{wrong}");
        assert!(
            wrong.to_string().contains("\"/id\" is string, not integer"),
            "{wrong}"
        );
        let wrong = v1
            .serialize(Avro::Record(vec![("id".into(), Avro::String("x".into()))]))
            .await
            .unwrap_err();
        assert!(matches!(wrong, SchemaError::Mismatch { .. }), "{wrong}");

        // The consumer's side: a client of its own, so every schema comes from the registry.
        let reading = registry(server.url());
        let avro = AvroDeserializer::new(reading.clone());
        let json = JsonDeserializer::new(reading.clone());
        let records = read(cluster.bootstrap(), &[&avro_topic, &json_topic], 60).await;
        let (mut got_avro, mut got_json) = (Vec::new(), Vec::new());
        let mut ids = BTreeMap::new();
        for (topic, value) in &records {
            let (id, _) = kafkaroo::schema::unframe(value).unwrap();
            *ids.entry(id).or_insert(0) += 1;
            if *topic == avro_topic {
                got_avro.push(avro.deserialize(value).await.unwrap());
            } else {
                got_json.push(json.deserialize(value).await.unwrap());
            }
        }
        assert_eq!(got_avro, sent_avro);
        assert_eq!(got_json, sent_json);
        assert_eq!(ids.len(), 3, "two Avro versions and one JSON schema: {ids:?}");
        for id in ids.keys() {
            assert_eq!(
                server.gets(*id),
                1,
                "schema {id} fetched once for {} records",
                ids[id]
            );
        }

        // A reader schema resolves both versions to one shape (v1 records get the default channel).
        let resolving = AvroDeserializer::new(reading.clone())
            .with_reader_schema(kafkaroo::schema::apache_avro::Schema::parse_str(ORDER_AVRO_V2).unwrap());
        let first = resolving.deserialize(&records[0].1).await.unwrap();
        let Avro::Record(fields) = first else {
            panic!("{first:?}")
        };
        assert_eq!(
            fields.last(),
            Some(&("channel".to_owned(), Avro::String("web".into())))
        );
    });
}

#[test]
fn records_that_cannot_be_read_name_their_cause() {
    let cluster = Cluster::shared();
    common::init_tracing();
    let server = Registry::start();
    let avro_id = server.add("AVRO", ORDER_AVRO);
    let json_id = server.add("JSON", ORDER_JSON);
    let broken_id = server.add(
        "AVRO",
        r#"{"type":"record","name":"X","fields":[{"name":"a","type":"nope"}]}"#,
    );
    let topic = cluster.unique_topic("sr-errors");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();

    common::runtime().block_on(async {
        let schema = kafkaroo::schema::apache_avro::Schema::parse_str(ORDER_AVRO).unwrap();
        let avro_payload = |id| {
            let writer = kafkaroo::schema::apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
                .build()
                .unwrap();
            frame(id, &writer.write_value_to_vec(order(1, "c")).unwrap())
        };
        let values: Vec<Vec<u8>> = vec![
            br#"{"id":1,"customer":"c"}"#.to_vec(), // JSON without the framing
            vec![0, 0, 1],                          // too short
            avro_payload(4242),                     // an id the registry does not know
            avro_payload(json_id),                  // a JSON schema's id in an Avro topic
            frame(avro_id, &[0x02, 0x02]),          // cut off in the middle of the record
            avro_payload(broken_id),                // a schema that does not parse
            avro_payload(avro_id),                  // fine
        ];
        let records: Vec<Framed> = values
            .iter()
            .map(|v| (0, Vec::new(), v.clone(), Vec::new()))
            .collect();
        produce_all(cluster.bootstrap(), &topic, &records).await;
        let read = read(cluster.bootstrap(), &[&topic], values.len()).await;

        let avro = AvroDeserializer::new(registry(server.url()));
        let mut errors = Vec::new();
        for (_, value) in &read[..6] {
            errors.push(avro.deserialize(value).await.unwrap_err());
        }
        assert!(avro.deserialize(&read[6].1).await.is_ok());
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            matches!(errors[0], SchemaError::NotWireFormat { .. }) && text[0].contains("first byte is 0x7b"),
            "{}",
            text[0]
        );
        assert!(
            matches!(errors[1], SchemaError::NotWireFormat { .. }) && text[1].contains("3 bytes long"),
            "{}",
            text[1]
        );
        assert!(
            matches!(errors[2], SchemaError::UnknownSchemaId { id: 4242, .. }) && text[2].contains("40403"),
            "{}",
            text[2]
        );
        assert!(
            matches!(errors[3], SchemaError::WrongSchemaType { .. }) && text[3].contains("is a JSON schema"),
            "{}",
            text[3]
        );
        assert!(matches!(errors[4], SchemaError::Mismatch { .. }), "{}", text[4]);
        assert!(
            matches!(errors[5], SchemaError::SchemaParse { id: Some(_), .. })
                && text[5].contains("does not parse as AVRO"),
            "{}",
            text[5]
        );
        for e in &errors {
            assert!(e.is_poison(), "{e}");
            assert_eq!(e.verdict(), kafkaroo::patterns::Verdict::DeadLetter);
        }
        // The schema that does not parse is fetched (and its failure kept) once.
        assert!(avro.deserialize(&read[5].1).await.is_err());
        assert_eq!(server.gets(broken_id), 1);
        // A JSON record that breaks its schema.
        let json = JsonDeserializer::new(registry(server.url()));
        let e = json
            .deserialize(&frame(json_id, br#"{"id":1}"#))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("\"/customer\" is required"), "{e}");

        // The registry down: retriable.
        let down = AvroDeserializer::new(registry(&unreachable_url()));
        let e = down.deserialize(&read[6].1).await.unwrap_err();
        assert!(
            matches!(e, SchemaError::RegistryUnreachable { .. }) && e.is_retriable(),
            "{e}"
        );
        assert_eq!(e.verdict(), kafkaroo::patterns::Verdict::Retry);
        // A second URL is tried when the first is down.
        let both = SchemaRegistry::new(
            RegistryConfig::from_properties([(
                "schema.registry.url",
                format!("{},{}", unreachable_url(), server.url()),
            )])
            .unwrap(),
        );
        assert!(AvroDeserializer::new(both).deserialize(&read[6].1).await.is_ok());

        // Credentials: required, missing (fatal, naming the property), then given.
        let secured = Registry::start();
        secured.require_authorization("Basic dXNlcjpzZWNyZXQ=");
        let id = secured.add("AVRO", ORDER_AVRO);
        let value = avro_payload(id);
        let e = AvroDeserializer::new(registry(secured.url()))
            .deserialize(&value)
            .await
            .unwrap_err();
        assert!(
            e.is_fatal() && e.to_string().contains("basic.auth.user.info"),
            "{e}"
        );
        let with_auth = SchemaRegistry::new(
            RegistryConfig::from_properties([
                ("schema.registry.url", secured.url()),
                ("basic.auth.user.info", "user:secret"),
            ])
            .unwrap(),
        );
        assert!(AvroDeserializer::new(with_auth).deserialize(&value).await.is_ok());
    });
}

const PARTITIONS: i32 = 2;
const PER_PARTITION: i64 = 12;

/// Record `i` of partition `p`: every 4th has an unknown schema id, every 5th is not framed at all.
fn poison_kind(i: i64) -> Option<&'static str> {
    if i % 4 == 1 {
        Some("unknown-id")
    } else if i % 5 == 3 {
        Some("not-framed")
    } else {
        None
    }
}

#[test]
fn poison_records_reach_the_dead_letter_topic_and_a_flaky_registry_is_retried() {
    let cluster = Cluster::shared();
    common::init_tracing();
    let server = Registry::start();
    let topic = cluster.unique_topic("sr-poison");
    let dlt = format!("{topic}.dlt");
    cluster.create_topic(&topic, PARTITIONS, 1, &[]).unwrap();
    cluster.create_topic(&dlt, 1, 1, &[]).unwrap();
    let group = format!("{topic}-group");

    common::runtime().block_on(async {
        let serializer =
            AvroSerializer::new(registry(server.url()), topic_value_subject(&topic), ORDER_AVRO).unwrap();
        let mut records: Vec<Framed> = Vec::new();
        let mut originals = BTreeMap::new();
        for p in 0..PARTITIONS {
            for i in 0..PER_PARTITION {
                let value = match poison_kind(i) {
                    Some("unknown-id") => frame(4242, b"\x02\x02"),
                    Some(_) => format!("plain-{p}-{i}").into_bytes(),
                    None => serializer.serialize(order(i, &format!("p{p}"))).await.unwrap(),
                };
                let key = format!("k{p}-{i}").into_bytes();
                originals.insert((p, i), (key.clone(), value.clone()));
                records.push((p, key, value, vec![("trace".to_owned(), b"t-1".to_vec())]));
            }
        }
        produce_all(cluster.bootstrap(), &topic, &records).await;
        // The first two lookups of the schema fail with 503: retried, not dead-lettered.
        server.fail_next_gets(2);

        let producer = Producer::new(
            ProducerConfig::from_properties([("bootstrap.servers", cluster.bootstrap())]).unwrap(),
        )
        .await
        .unwrap();
        let dead_letters = DeadLetters::new(producer, dlt.clone(), Some(group.clone()));
        let policy = RetryPolicy {
            max_attempts: 4,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        };
        let mut handling = FailureHandling::new(dead_letters, |e: &SchemaError| e.verdict(), policy);
        let avro = AvroDeserializer::new(registry(server.url()));
        let mut consumer = Consumer::new(common::group_config(cluster.bootstrap(), &group, 10_000, false))
            .await
            .unwrap();
        consumer.subscribe([topic.as_str()]).unwrap();

        let poison = (0..PER_PARTITION).filter(|i| poison_kind(*i).is_some()).count() * PARTITIONS as usize;
        let good = PER_PARTITION as usize * PARTITIONS as usize - poison;
        let mut processed: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        common::handle_until(
            &mut handling,
            &mut consumer,
            (good, poison),
            Duration::from_secs(30),
            async |record: &ConsumerRecord| {
                let value = avro.deserialize(record.value().unwrap_or_default()).await?;
                let Avro::Record(fields) = value else {
                    panic!("{value:?}")
                };
                let Avro::Long(id) = fields[0].1 else {
                    panic!("{fields:?}")
                };
                processed.entry(record.partition()).or_default().push(id);
                Ok::<(), SchemaError>(())
            },
        )
        .await;
        for p in 0..PARTITIONS {
            let want: Vec<i64> = (0..PER_PARTITION).filter(|i| poison_kind(*i).is_none()).collect();
            assert_eq!(
                processed.get(&p),
                Some(&want),
                "partition {p}: each good record once, in order"
            );
        }
        assert_eq!(server.gets(1), 3, "two 503s, then the schema, then the cache");
        common::assert_committed(&consumer, &topic, PARTITIONS, PER_PARTITION).await;
        handling
            .dead_letters()
            .producer()
            .close(Duration::from_secs(5))
            .await;
        consumer.close().await;

        // Every poison record in the dead-letter topic once, as it was, with the failure's headers.
        let letters = common::read_raw(cluster.bootstrap(), &[TopicPartition::new(&dlt, 0)], poison).await;
        let mut places = BTreeMap::new();
        for (_, _, key, value, h) in letters {
            let get = |name: &str| common::header(&h, name).unwrap_or_default();
            let place: (i32, i64) = (
                get(headers::ORIGINAL_PARTITION).parse().unwrap(),
                get(headers::ORIGINAL_OFFSET).parse().unwrap(),
            );
            let (want_key, want_value) = &originals[&place];
            assert_eq!(
                (key.as_ref(), value.as_ref()),
                (Some(want_key), Some(want_value)),
                "{place:?}"
            );
            assert_eq!(
                h[0],
                ("trace".to_owned(), "t-1".to_owned()),
                "original header first"
            );
            assert_eq!(get(headers::ORIGINAL_TOPIC), topic);
            assert_eq!(get(headers::CONSUMER_GROUP), group);
            assert_eq!(get(headers::ATTEMPTS), "1", "poison is not retried");
            assert!(get(headers::ERROR_CLASS).ends_with("SchemaError"), "{h:?}");
            let message = get(headers::ERROR_MESSAGE);
            let want = match poison_kind(place.1) {
                Some("unknown-id") => "schema id 4242 is not registered",
                Some(_) => "not the magic byte",
                None => panic!("good record {place:?} dead-lettered: {message}"),
            };
            assert!(message.contains(want), "{message}");
            assert!(
                places.insert(place, message).is_none(),
                "{place:?} dead-lettered twice"
            );
        }
        assert_eq!(places.len(), poison);
    });
}

#[test]
fn the_registry_is_reached_over_tls_with_the_schema_registry_ssl_properties() {
    common::init_tracing();
    let dir = std::env::temp_dir().join(format!("kafkaroo-sr-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if let Err(e) = kafkaroo_testcontainers::generate_test_certificates(&dir) {
        // The certificates are made with the openssl CLI.
        eprintln!("SKIPPED: no test certificates: {e}");
        return;
    }
    let server = Registry::start_tls(&dir.join("broker-keystore.pem"));
    let id = server.add("JSON", ORDER_JSON);
    let value = frame(id, br#"{"id":1,"customer":"c"}"#);
    let ca = dir.join("ca.pem").display().to_string();
    common::runtime().block_on(async {
        let trusted = SchemaRegistry::new(
            RegistryConfig::from_properties([
                ("schema.registry.url", server.url()),
                ("schema.registry.ssl.ca.location", ca.as_str()),
            ])
            .unwrap(),
        );
        let record = JsonDeserializer::new(trusted).deserialize(&value).await.unwrap();
        assert_eq!(record, json!({"id": 1, "customer": "c"}));
        // Without the CA the certificate is not trusted: a configuration error, not a retry.
        let untrusted = SchemaRegistry::new(
            RegistryConfig::from_properties([
                ("schema.registry.url", server.url()),
                (
                    "schema.registry.ssl.ca.location",
                    dir.join("untrusted-ca.pem").to_str().unwrap(),
                ),
            ])
            .unwrap(),
        );
        let e = JsonDeserializer::new(untrusted)
            .deserialize(&value)
            .await
            .unwrap_err();
        assert!(e.is_fatal() && e.to_string().contains("TLS"), "{e}");
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
