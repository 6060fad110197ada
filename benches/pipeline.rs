//! The queue-and-batch pipeline alone: requests submitted from several
//! threads go through the budget, the bounded queue and a producer thread to
//! a sink that acknowledges at once. Measures what the pipeline costs per
//! record, without HTTP or Kafka.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_gateway::pipeline::{
    Deadline, Mode, Pending, Pipeline, PipelineSettings, RecordBatch, RecordRef, Sink, Slot,
};

/// How a sink's slot travels before it is settled.
#[derive(Clone, Copy)]
enum Opaque {
    /// Settled at once, never leaving Rust.
    Direct,
    /// Through a delivery opaque as librdkafka carries it, as one pointer
    /// (the gateway's).
    Pointer,
    /// Boxed (the gateway's before: an allocation per record).
    Boxed,
}

/// Acknowledges every record as soon as it is handed over.
struct NullSink(Opaque);

impl Sink for NullSink {
    fn send(
        &self,
        batch: &RecordBatch,
        from: usize,
        pending: &Arc<Pending>,
        _: Option<&Deadline<'_>>,
    ) -> Result<(), usize> {
        for index in from..batch.records.len() {
            let slot = pending.slot(index);
            let slot = match self.0 {
                Opaque::Direct => slot,
                Opaque::Pointer => {
                    let ptr = slot.into_raw();
                    // SAFETY: made just above, taken back once.
                    unsafe { Slot::from_raw(std::hint::black_box(ptr)) }
                }
                Opaque::Boxed => {
                    let ptr = Box::into_raw(Box::new(slot));
                    // SAFETY: made just above, taken back once.
                    *unsafe { Box::from_raw(std::hint::black_box(ptr)) }
                }
            };
            slot.delivered(0, index as i64, None);
        }
        Ok(())
    }
    fn flush(&self, _: Duration) {}
}

fn batch(records: usize) -> RecordBatch {
    RecordBatch {
        topic: "t".into(),
        data: vec![7; records * 250],
        records: (0..records as u32)
            .map(|i| RecordRef {
                value: Some(i * 250..(i + 1) * 250),
                ..RecordRef::default()
            })
            .collect(),
        headers: Vec::new(),
        trace: None,
    }
}

fn pipeline(c: &mut Criterion) {
    kafka_gateway::metrics::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("pipeline_null_sink");
    let sinks = [
        (Mode::Queue, "queue", Opaque::Direct),
        (Mode::Direct, "direct", Opaque::Direct),
        (Mode::Queue, "queue_opaque_slot", Opaque::Pointer),
        (Mode::Queue, "queue_opaque_boxed", Opaque::Boxed),
    ];
    for (mode, name, opaque) in sinks {
        let pipeline = Arc::new(
            Pipeline::start(
                vec![Arc::new(NullSink(opaque)) as Arc<dyn Sink>],
                PipelineSettings {
                    mode,
                    queue_capacity: 8192,
                    max_in_flight_bytes: 1 << 30,
                    retry_after_seconds: 1,
                    delivery_timeout: Duration::from_secs(30),
                    flush_timeout: Duration::from_secs(1),
                },
            )
            .unwrap(),
        );
        for records in [1usize, 100] {
            // 256 concurrent requests, as 256 HTTP connections would send.
            let concurrency = 256;
            group.throughput(Throughput::Elements((records * concurrency) as u64));
            group.bench_function(BenchmarkId::new(name, records), |b| {
                b.iter_custom(|iterations| {
                    let pipeline = pipeline.clone();
                    runtime.block_on(async move {
                        let started = Instant::now();
                        for _ in 0..iterations {
                            let mut waits = Vec::with_capacity(concurrency);
                            for _ in 0..concurrency {
                                let pipeline = pipeline.clone();
                                waits.push(tokio::spawn(async move {
                                    let batch = batch(records);
                                    let permit =
                                        pipeline.reserve(records, batch.data.len()).unwrap();
                                    pipeline.submit(batch, permit).unwrap().await
                                }));
                            }
                            for w in waits {
                                assert_eq!(w.await.unwrap().len(), records);
                            }
                        }
                        started.elapsed()
                    })
                })
            });
        }
        pipeline.shutdown();
    }
    group.finish();
}

/// Handing records to librdkafka (a producer on its mock cluster): by
/// topic name, as `BaseProducer::send` does (a C string and a topic lookup
/// under the client's write lock per record), against the topic handle the
/// gateway now holds per hand-off. Only the calls are timed; the records
/// are flushed between samples.
fn enqueue(c: &mut Criterion) {
    use kafka_gateway::kafka::producer::{produce, Outgoing, TopicHandle};
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    cluster.create_topic("bench", 3, 1).unwrap();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    let key = b"user-1".to_vec();
    let value = vec![b'x'; 250];
    let per_sample = 10_000u64;
    let mut group = c.benchmark_group("enqueue_250B");
    group.throughput(Throughput::Elements(per_sample));
    let drain = |p: &BaseProducer| {
        p.flush(Duration::from_secs(30)).unwrap();
    };
    group.bench_function("by_topic_name", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                for _ in 0..per_sample {
                    let record: BaseRecord<'_, [u8], [u8]> =
                        BaseRecord::to("bench").key(&key[..]).payload(&value[..]);
                    producer.send(record).map_err(|(e, _)| e).unwrap();
                }
                spent += started.elapsed();
                drain(&producer);
            }
            spent
        })
    });
    group.bench_function("topic_handle", |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                let topic = TopicHandle::new(producer.client(), "bench").unwrap();
                for _ in 0..per_sample {
                    let record = Outgoing {
                        partition: None,
                        key: Some(&key),
                        value: Some(&value),
                        timestamp: None,
                        headers: &[],
                    };
                    produce(&topic, &record, ()).map_err(|(e, _)| e).unwrap();
                }
                drop(topic);
                spent += started.elapsed();
                drain(&producer);
            }
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline, enqueue);
criterion_main!(benches);
