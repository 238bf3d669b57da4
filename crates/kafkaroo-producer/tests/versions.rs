//! Every Produce version the broker offers (3 and up; topic ids from v13) accepts a batch from
//! kafkaroo-records' encoder, and the records land in order: what the producer relies on when it
//! negotiates the highest version.

use std::time::Duration;

use bytes::Bytes;
use kafkaroo_net::{Client, ClientConfig, Purpose};
use kafkaroo_records::{BatchBuilder, Compression, ProducerState};
use kafkaroo_testcontainers::{Cluster, Isolation, Reader};
use kafkaroo_wire::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafkaroo_wire::messages::{ProduceRequest, TopicName};
use kafkaroo_wire::protocol::{Message, Request};
use kafkaroo_wire::{ErrorCode, StrBytes};

#[test]
fn every_produce_version_from_3_accepts_our_batches() {
    let cluster = Cluster::shared();
    let topic = cluster.unique_topic("produce-versions");
    cluster.create_topic(&topic, 1, 1, &[]).unwrap();
    let versions = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let client = Client::connect(ClientConfig::new(cluster.bootstrap()).unwrap())
                .await
                .unwrap();
            let metadata = client.refresh_metadata(Some(&[&topic])).await.unwrap();
            let leader = metadata.partition(&topic, 0).unwrap().leader;
            let id = metadata.topics[&topic].id;
            let conn = client.connection(leader, Purpose::General).await.unwrap();
            let offered = conn.versions().range(ProduceRequest::KEY).unwrap();
            let max = offered.max.min(ProduceRequest::VERSIONS.max);
            assert!(offered.min <= 3 && max >= 3, "{offered:?}");
            for version in 3..=max {
                let mut batch = BatchBuilder::new(Compression::Lz4);
                let value = format!("v{version}");
                batch
                    .append(1_700_000_000_000, Some(b"k"), Some(value.as_bytes()), [])
                    .unwrap();
                let mut out = Vec::new();
                batch.encode(ProducerState::NONE, &mut out).unwrap();
                let request = ProduceRequest::default()
                    .with_acks(-1)
                    .with_timeout_ms(10_000)
                    .with_topic_data(vec![
                        TopicProduceData::default()
                            .with_name(TopicName(StrBytes::from_string(topic.clone())))
                            .with_topic_id(id)
                            .with_partition_data(vec![
                                PartitionProduceData::default()
                                    .with_index(0)
                                    .with_records(Some(Bytes::from(out))),
                            ]),
                    ]);
                let response = conn
                    .send_version(&request, version, Duration::from_secs(10))
                    .await
                    .unwrap();
                let p = &response.responses[0].partition_responses[0];
                assert_eq!(ErrorCode(p.error_code), ErrorCode::NONE, "Produce v{version}");
                assert_eq!(p.base_offset, i64::from(version - 3), "Produce v{version}");
            }
            max
        });
    let read = cluster
        .read_records(&topic, 0, Isolation::ReadUncommitted, Reader::Java)
        .unwrap();
    let values: Vec<String> = read
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
        .collect();
    eprintln!("Produce v3..v{versions} accepted by Kafka {}", cluster.version());
    let want: Vec<String> = (3..=versions).map(|v| format!("v{v}")).collect();
    assert_eq!(values, want);
}
