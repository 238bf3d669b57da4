//! Start failures name their cause, with the broker log.

use kafkaroo_testcontainers::{Cluster, ClusterOptions, Error};

#[test]
fn a_broker_dying_at_start_is_reported_with_its_log() {
    let options = ClusterOptions {
        broker_configs: vec![("authorizer.class.name".into(), "does.not.Exist".into())],
        ..ClusterOptions::default()
    };
    match Cluster::start(options) {
        Err(Error::BrokerExited { node, log, tail, .. }) => {
            assert_eq!(node, 0);
            assert!(tail.contains("does.not.Exist"), "{tail}");
            // The log of a failed start is kept for inspection; clean it up here.
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(text.contains("ClassNotFoundException"), "{text}");
            let dir = log.parent().and_then(|p| p.parent()).unwrap();
            assert!(
                dir.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("kafkaroo-")
            );
            std::fs::remove_dir_all(dir).unwrap();
        }
        other => panic!("expected BrokerExited, got {other:?}"),
    }
}
