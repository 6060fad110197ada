//! The embedded broker: librdkafka's in-process mock cluster, a real
//! Kafka-protocol broker that keeps everything in memory. It makes
//! `cargo run` serve requests with no Kafka installed. It keeps only a few
//! tens of thousands of records per partition: for trying the gateway and
//! for tests, never for data that matters.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::mocking::MockCluster;

use crate::config::EmbeddedConfig;

/// A running mock cluster. The cluster lives on its own thread (its handle
/// is not `Send`); dropping this stops it.
pub struct EmbeddedBroker {
    bootstrap_servers: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts the cluster with `embedded.topics`, and `internal` (the
    /// gateway's own logs, such as the registry's `_schemas`) with one
    /// partition each: the mock cannot create topics on request.
    pub fn start(config: &EmbeddedConfig, internal: &[&str]) -> KafkaResult<EmbeddedBroker> {
        let (ready_tx, ready_rx) = mpsc::channel::<KafkaResult<String>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let config = config.clone();
        let internal: Vec<String> = internal.iter().map(|t| t.to_string()).collect();
        let thread = std::thread::Builder::new()
            .name("embedded-broker".into())
            .spawn(move || {
                let cluster = match MockCluster::new(config.brokers as i32) {
                    Ok(cluster) => cluster,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let replication = config.brokers.min(3) as i32;
                for topic in &config.topics {
                    if let Err(e) =
                        cluster.create_topic(topic, config.partitions as i32, replication)
                    {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                }
                for topic in &internal {
                    if let Err(e) = cluster.create_topic(topic, 1, replication) {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(cluster.bootstrap_servers()));
                // Runs until stopped or until the handle is dropped.
                let _ = stop_rx.recv();
            })
            .map_err(|e| KafkaError::ClientCreation(e.to_string()))?;
        let bootstrap_servers = ready_rx
            .recv()
            .map_err(|_| KafkaError::ClientCreation("embedded broker thread died".into()))??;
        Ok(EmbeddedBroker {
            bootstrap_servers,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
