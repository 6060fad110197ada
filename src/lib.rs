//! kafka-gateway: an HTTP-to-Kafka gateway that speaks the Confluent REST
//! Proxy API and batches records from all requests into a few tuned
//! producers.
//!
//! # Layout
//!
//! Four layers, each using only those below it (ARCHITECTURE.md; checked
//! by `tests/architecture.rs`):
//!
//! - ground: [`config`] (the typed settings, their loading and validation)
//!   and [`metrics`] (every metric name and the handles the hot paths use),
//!   then [`error`] (the one table of error codes, HTTP statuses and metric
//!   labels);
//! - engine: [`schemas`] (the embedded Schema Registry), [`kafka`]
//!   (librdkafka producers, cached metadata, administration, the embedded
//!   broker), [`pipeline`] (server-side batching: the byte budget, the
//!   bounded queue, the lanes), [`consumers`] (the v2 consumer instances
//!   this gateway holds), [`cluster`] (several gateways finding each other
//!   through a topic), [`auth`] (who may do what: authentication, ACLs and
//!   quotas);
//! - top: [`http`] (routes and handlers, the middleware that asks `auth`,
//!   TLS, limits, forwarding);
//! - `codecs/` (crate `gateway-codecs`) under them all: JSON in, Kafka
//!   bytes out.
//!
//! [`run`] is the whole server: it takes its listener and a shutdown future,
//! so tests start it on port 0.

pub mod auth;
pub mod cluster;
pub mod config;
pub mod consumers;
pub mod error;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod pipeline;
pub mod schemas;
pub mod telemetry;

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpServer};

use crate::config::Config;
use crate::http::AppState;
use crate::kafka::embedded::EmbeddedBroker;
use crate::kafka::metadata::MetadataCache;
use crate::pipeline::{Pipeline, PipelineSettings};
use rdkafka::error::KafkaError;

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("tracing: {0}")]
    Tracing(String),
}

/// Starts the gateway on `listener` and serves until `shutdown` completes,
/// then stops accepting, finishes in-flight requests and flushes the
/// producers.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    Gateway::start(config)?.serve(listener, shutdown).await
}

/// A gateway whose Kafka side is running and whose HTTP side is not yet.
pub struct Gateway {
    state: web::Data<AppState>,
    /// HTTPS, when a certificate is configured.
    tls: Option<Arc<http::tls::Tls>>,
    bootstrap_servers: String,
    /// Kept alive for as long as the gateway; dropped last.
    embedded: Option<EmbeddedBroker>,
}

impl Gateway {
    /// Starts the embedded broker (if no bootstrap servers are configured),
    /// the producers and the pipeline.
    pub fn start(config: Config) -> Result<Gateway, StartError> {
        config.validate()?;
        let metrics = metrics::init();
        error::register_metrics();
        auth::register_metrics();
        telemetry::init(&config.tracing).map_err(StartError::Tracing)?;
        metrics
            .queue_capacity
            .set(config.pipeline.queue_capacity as f64);
        metrics
            .in_flight_limit
            .set(config.pipeline.max_in_flight_bytes as f64);
        metrics
            .buffered_limit
            .set(config.http.max_buffered_bytes as f64);
        let embedded = if config.uses_embedded_broker() {
            let broker = EmbeddedBroker::start(&config.embedded, &[schemas::log::TOPIC])?;
            tracing::warn!(
                bootstrap_servers = broker.bootstrap_servers(),
                topics = ?config.embedded.topics,
                "no kafka.bootstrap_servers configured: started the EMBEDDED in-memory broker; \
                 records live in this process's memory only and are LOST when it stops"
            );
            Some(broker)
        } else {
            None
        };
        let bootstrap_servers = match &embedded {
            Some(broker) => broker.bootstrap_servers().to_string(),
            None => config.kafka.bootstrap_servers.clone(),
        };
        let producers =
            kafka::producer::create(&config.kafka, &bootstrap_servers, embedded.is_some(), false)?;
        let metadata = Arc::new(MetadataCache::new(
            Arc::clone(&producers[0]),
            Duration::from_millis(config.kafka.metadata_timeout_ms),
        ));
        // Each lane: its lingering producer, and with
        // `kafka.linger_above_in_flight` one that sends at once beside it.
        let adaptive = config.kafka.linger_above_in_flight > 0
            && config.kafka.linger_ms > 0
            && config.pipeline.mode == pipeline::Mode::Queue;
        let at_once = if adaptive {
            kafka::producer::create(&config.kafka, &bootstrap_servers, embedded.is_some(), true)?
        } else {
            Vec::new()
        };
        let sinks = producers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let lingering = Arc::clone(p) as Arc<dyn pipeline::Sink>;
                match at_once.get(i) {
                    Some(fast) => Arc::new(pipeline::adaptive::AdaptiveSink::new(
                        Arc::clone(fast) as Arc<dyn pipeline::Sink>,
                        lingering,
                        config.kafka.linger_above_in_flight,
                    )) as Arc<dyn pipeline::Sink>,
                    None => lingering,
                }
            })
            .collect();
        let pipeline = Pipeline::start(
            sinks,
            PipelineSettings {
                mode: config.pipeline.mode,
                queue_capacity: config.pipeline.queue_capacity,
                max_in_flight_bytes: config.pipeline.max_in_flight_bytes,
                retry_after_seconds: config.pipeline.retry_after_seconds,
                delivery_timeout: Duration::from_millis(config.kafka.delivery_timeout_ms),
                flush_timeout: Duration::from_millis(config.shutdown.flush_timeout_ms),
            },
        )?;
        let (schemas, remote_schemas) = if config.schema_registry.url.is_empty() {
            let embedded = match schemas::Registry::start(
                &config.kafka.connection_settings(&bootstrap_servers),
                Duration::from_millis(config.kafka.metadata_timeout_ms),
            ) {
                Ok(registry) => Some(Arc::new(registry)),
                Err(e) => {
                    tracing::warn!(error = %e, "the embedded schema registry is not running");
                    None
                }
            };
            (embedded, None)
        } else {
            let remote = schemas::remote::RemoteRegistry::new(
                &config.schema_registry.url,
                &config.schema_registry.basic_auth_user_info,
                Duration::from_millis(config.schema_registry.timeout_ms),
            )
            .map_err(|e| std::io::Error::other(e.to_string()))?;
            (None, Some(Arc::new(remote)))
        };
        let admin = kafka::admin::Admin::new(&config.kafka, &bootstrap_servers)?;
        let mut consumers =
            consumers::Consumers::new(&config.kafka, &bootstrap_servers, config.consumers.clone());
        let mut security = auth::Security::new(&config.auth)
            .map_err(|e| std::io::Error::other(format!("auth.file: {e}")))?;
        let (cluster, forwarder) = if config.cluster.enabled() {
            let secret = auth::peer::PeerSecret::load(&config.cluster.secret_file)
                .map_err(std::io::Error::other)?;
            security = security.with_peer_secret(secret);
            let cluster = cluster::Cluster::start(
                &config.kafka.connection_settings(&bootstrap_servers),
                &config.cluster,
                Duration::from_millis(config.kafka.metadata_timeout_ms),
            )
            .map_err(std::io::Error::other)?;
            consumers = consumers.with_node(cluster.id());
            // A forwarded records read waits as long as the owner may:
            // the longest read, and a first read's group join.
            let forwarder = http::forward::Forwarder::new(
                &config,
                config.consumers.max_request_timeout_ms + consumers::JOIN_WAIT.as_millis() as u64,
            )
            .map_err(std::io::Error::other)?;
            (Some(Arc::new(cluster)), Some(forwarder))
        } else {
            (None, None)
        };
        let security = Arc::new(security);
        let tls = if config.http.tls.enabled() {
            Some(Arc::new(
                http::tls::Tls::new(&config.http.tls, metrics).map_err(std::io::Error::other)?,
            ))
        } else {
            None
        };
        let limits =
            http::limits::Limits::new(&config.http, config.pipeline.retry_after_seconds, metrics);
        let state = web::Data::new(AppState {
            config: Arc::new(config),
            codecs: gateway_codecs::Registry::new(),
            pipeline,
            metadata,
            admin,
            consumers,
            schemas,
            remote_schemas,
            limits,
            metrics,
            security,
            cluster,
            forwarder,
            draining: std::sync::atomic::AtomicBool::new(false),
        });
        Ok(Gateway {
            state,
            tls,
            bootstrap_servers,
            embedded,
        })
    }

    /// The Kafka cluster the gateway produces to (the embedded one's
    /// address when it runs one).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Serves HTTP on `listener` until `shutdown` completes, then shuts
    /// down in order: stop accepting, finish in-flight requests (up to
    /// `shutdown.drain_timeout_ms`), flush the producers (up to
    /// `shutdown.flush_timeout_ms`), stop the embedded broker.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), StartError> {
        let config = Arc::clone(&self.state.config);
        let workers = match config.http.workers {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let address = listener.local_addr()?;
        // Listening again only sets the backlog.
        socket2::SockRef::from(&listener)
            .listen(config.http.listen_backlog.min(i32::MAX as u32) as i32)?;
        let app_state = self.state.clone();
        let server = HttpServer::new(move || http::app(app_state.clone()))
            .workers(workers)
            .disable_signals()
            .shutdown_timeout(config.shutdown.drain_timeout_ms.div_ceil(1000))
            .client_request_timeout(Duration::from_millis(config.http.head_timeout_ms))
            .keep_alive(Duration::from_millis(config.http.keep_alive_ms))
            .max_connections(config.http.max_connections.div_ceil(workers))
            .on_connect(http::on_connect);
        let server = match &self.tls {
            Some(tls) => {
                let settings = &config.http.tls;
                server
                    .tls_handshake_timeout(Duration::from_millis(settings.handshake_timeout_ms))
                    .max_connection_rate(settings.max_concurrent_handshakes)
                    .listen_rustls_0_23(listener, tls.server_config())?
            }
            None => server.listen(listener)?,
        }
        .run();
        let handle = server.handle();
        let mut server = tokio::spawn(server);
        tracing::info!(%address, workers, tls = self.tls.is_some(), bootstrap_servers = %self.bootstrap_servers, "serving");

        // Certificates, keys, CAs and the auth file are re-read when they
        // change.
        let reloader = {
            let security = Arc::clone(&self.state.security);
            let tls = self.tls.clone();
            let auth_every = Duration::from_millis(config.auth.reload_interval_ms);
            let tls_every = Duration::from_millis(config.http.tls.reload_interval_ms);
            tokio::spawn(async move {
                let mut auth_tick = tokio::time::interval(auth_every);
                let mut tls_tick = tokio::time::interval(tls_every);
                loop {
                    tokio::select! {
                        _ = auth_tick.tick() => security.reload_if_changed(),
                        _ = tls_tick.tick() => {
                            if let Some(tls) = &tls {
                                tls.reload_if_changed();
                            }
                        }
                    }
                }
            })
        };

        let refresher = tokio::spawn(refresh_metadata(
            Arc::clone(&self.state.metadata),
            Duration::from_millis(config.kafka.metadata_refresh_interval_ms),
        ));

        let reaper = {
            let state = self.state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    state.consumers.expire().await;
                }
            })
        };

        // With a cluster: this gateway and its instances, announced.
        let heartbeat = self.state.cluster.clone().map(|cluster| {
            let state = self.state.clone();
            let every = Duration::from_millis(config.cluster.heartbeat_interval_ms);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = cluster.beat(state.consumers.names()).await {
                        tracing::warn!(error = %e, "cluster heartbeat failed");
                    }
                    state.metrics.cluster_members.set(cluster.prune() as f64);
                }
            })
        });

        let mut served = tokio::select! {
            _ = shutdown => None,
            result = &mut server => Some(result),
        };
        let grace = Duration::from_millis(config.http.shutdown_grace_ms);
        if served.is_none() && !grace.is_zero() {
            // Balancers see /readyz fail and move away while this gateway
            // still serves what they send.
            tracing::info!(
                grace_ms = grace.as_millis() as u64,
                "draining: /readyz fails, still serving"
            );
            self.state
                .draining
                .store(true, std::sync::atomic::Ordering::Relaxed);
            tokio::select! {
                _ = tokio::time::sleep(grace) => {}
                result = &mut server => served = Some(result),
            }
        }
        self.state
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!("shutting down: no new connections, finishing in-flight requests");
        refresher.abort();
        reaper.abort();
        reloader.abort();
        let result = match served {
            Some(result) => result,
            None => {
                handle.stop(true).await;
                server.await
            }
        };
        // Consumer instances leave their groups while the broker is there.
        let _ = reaper.await;
        if let Some(heartbeat) = heartbeat {
            heartbeat.abort();
            let _ = heartbeat.await;
        }
        let closed = self.state.consumers.close_all().await;
        if closed > 0 {
            tracing::info!(closed, "consumer instances closed");
        }
        // Then out of the others' view at once, not after the timeout.
        if let Some(cluster) = &self.state.cluster {
            cluster.leave().await;
        }
        tracing::info!("flushing producers");
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.pipeline.shutdown())
            .await
            .map_err(std::io::Error::other)?;
        // Producers go before the broker they talk to.
        let _ = refresher.await;
        drop(self.state);
        drop(self.embedded);
        telemetry::flush();
        tracing::info!("stopped");
        result.map_err(std::io::Error::other)??;
        Ok(())
    }
}

/// Fills the metadata cache at start and keeps it fresh; a failure is
/// logged, not fatal (readiness reports it).
async fn refresh_metadata(cache: Arc<MetadataCache>, interval: Duration) {
    loop {
        if let Err(e) = cache.refresh().await {
            tracing::warn!(error = %e, "metadata refresh failed");
        }
        tokio::time::sleep(interval).await;
    }
}
