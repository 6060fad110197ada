//! What keeps hostile but legal clients from growing the gateway's memory
//! and connections without bound, as one middleware in front of the API:
//!
//! - **negotiation** ([`super::negotiate`]): 415 for an encoding it cannot
//!   decode, 406 for an `Accept` it cannot satisfy;
//! - **one memory budget for request bodies** (`http.max_buffered_bytes`):
//!   a body is admitted only when its bytes, times what parsing it takes
//!   ([`WORKING_FACTOR`]), fit. A `Content-Length` over
//!   `http.max_request_bytes` answers 413 before anything is read; one that
//!   does not fit waits up to `http.buffered_wait_ms` for room, then answers
//!   429 with `Retry-After`, before anything is read. A chunked body
//!   reserves as it arrives (429 when it cannot);
//! - **a body deadline** (`http.body_timeout_ms`): a body not complete in
//!   that time answers 408 and the connection closes (actix-web times out
//!   only the request head). A v3 record stream is a long-lived body: for
//!   it the deadline is the longest silence between two chunks;
//! - **panics** in a handler answer 500; the worker keeps serving.

use std::cell::Cell;
use std::future::{ready, Future, Ready};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::http::ConnectionType;
use actix_web::web::Bytes;
use actix_web::HttpMessage;
use futures_util::future::LocalBoxFuture;
use futures_util::{FutureExt, Stream};

use crate::config::HttpConfig;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;

/// Bytes of working memory a body of one byte may take while it is read and
/// parsed: the body, the copy simd-json parses in place (and its aligned
/// copy and structural index), the tape, and the encoded records with
/// their table. The worst case is a body of tiny records (`{"value":1}`,
/// 12 bytes each), whose tape nodes and record table outweigh the text:
/// 18 times the body, measured as peak RSS (loadtest/RESULTS.md, "Hostile
/// load"); ordinary records of 250 bytes take about 3.
pub const WORKING_FACTOR: usize = 20;

/// The byte budget shared by every request body.
pub struct BodyBudget {
    limit: usize,
    used: AtomicUsize,
    freed: tokio::sync::Notify,
    /// Requests waiting in `take` for room.
    waiting: AtomicUsize,
    metrics: &'static Metrics,
}

/// Uncounts a waiter however its wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl BodyBudget {
    pub fn new(limit: usize, metrics: &'static Metrics) -> Arc<BodyBudget> {
        Arc::new(BodyBudget {
            limit,
            used: AtomicUsize::new(0),
            freed: tokio::sync::Notify::new(),
            waiting: AtomicUsize::new(0),
            metrics,
        })
    }

    fn try_take(self: &Arc<Self>, bytes: usize) -> bool {
        // SeqCst (free on x86): a waiter's look here must follow its count
        // in `waiting`, see `give_back`.
        let mut used = self.used.load(Ordering::SeqCst);
        loop {
            // A request alone larger than the budget still passes an idle
            // one, so no admissible body is refused for ever.
            if used > 0 && used + bytes > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(
                used,
                used + bytes,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    self.metrics.buffered_bytes.set((used + bytes) as f64);
                    return true;
                }
                Err(now) => used = now,
            }
        }
    }

    fn give_back(&self, bytes: usize) {
        let before = self.used.fetch_sub(bytes, Ordering::SeqCst);
        self.metrics.buffered_bytes.set((before - bytes) as f64);
        // Notify takes a lock; only a request waiting for room needs it.
        // A waiter counts itself before it looks at `used`, and this looks
        // at the count after `used` fell (both SeqCst), so one of the two
        // sees the other.
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.freed.notify_waiters();
        }
    }

    /// Takes `bytes`, waiting up to `wait` for room.
    async fn take(self: &Arc<Self>, bytes: usize, wait: Duration) -> Option<Reservation> {
        let reservation = || Reservation {
            budget: Arc::clone(self),
            bytes: Cell::new(bytes),
        };
        // Nearly always there is room: no clock, no waiter.
        if self.try_take(bytes) {
            return Some(reservation());
        }
        let deadline = tokio::time::Instant::now() + wait;
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        loop {
            let freed = self.freed.notified();
            if self.try_take(bytes) {
                return Some(reservation());
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return None;
            }
        }
    }
}

/// Bytes held for one request, given back when it is answered.
struct Reservation {
    budget: Arc<BodyBudget>,
    bytes: Cell<usize>,
}

impl Reservation {
    fn grow(&self, bytes: usize) -> bool {
        if self.budget.try_take(bytes) {
            self.bytes.set(self.bytes.get() + bytes);
            true
        } else {
            false
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.bytes.get() > 0 {
            self.budget.give_back(self.bytes.get());
        }
    }
}

/// The settings the middleware applies.
#[derive(Clone)]
pub struct Limits {
    pub budget: Arc<BodyBudget>,
    pub max_request_bytes: usize,
    pub body_timeout: Duration,
    pub buffered_wait: Duration,
    pub retry_after_seconds: u64,
    pub metrics: &'static Metrics,
}

impl Limits {
    pub fn new(config: &HttpConfig, retry_after_seconds: u64, metrics: &'static Metrics) -> Limits {
        Limits {
            budget: BodyBudget::new(config.max_buffered_bytes, metrics),
            max_request_bytes: config.max_request_bytes,
            body_timeout: Duration::from_millis(config.body_timeout_ms),
            buffered_wait: Duration::from_millis(config.buffered_wait_ms),
            retry_after_seconds,
            metrics,
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Limits
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = LimitsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(LimitsService {
            service: Rc::new(service),
            limits: self.clone(),
        }))
    }
}

pub struct LimitsService<S> {
    service: Rc<S>,
    limits: Limits,
}

/// Why a body stopped being read, seen by the middleware after the
/// handler answered.
#[derive(Default)]
struct BodyFate {
    timed_out: Cell<bool>,
    over_budget: Cell<bool>,
}

impl<S, B> Service<ServiceRequest> for LimitsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let limits = self.limits.clone();
        Box::pin(async move {
            if let Err(e) = super::negotiate::check(req.method(), req.path(), req.headers()) {
                return Ok(req.error_response(e).map_into_right_body());
            }
            let headers = req.headers();
            let length = headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<usize>().ok());
            let chunked = headers.contains_key(TRANSFER_ENCODING);
            let stream = chunked && is_record_stream(req.path());
            let mut reservation = None;
            if let Some(length) = length.filter(|l| *l > 0) {
                if length > limits.max_request_bytes {
                    let e = ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        format!(
                            "request body of {length} bytes is larger than {} (http.max_request_bytes)",
                            limits.max_request_bytes
                        ),
                    );
                    return Ok(close(req.error_response(e)).map_into_right_body());
                }
                match limits
                    .budget
                    .take(length * WORKING_FACTOR, limits.buffered_wait)
                    .await
                {
                    Some(r) => reservation = Some(Rc::new(r)),
                    None => {
                        limits.metrics.budget_rejections.increment(1);
                        let e = ApiError::throttled(
                            "the gateway is reading as many request bodies as its memory budget \
                             allows (http.max_buffered_bytes); retry later",
                            limits.retry_after_seconds,
                        );
                        return Ok(close(req.error_response(e)).map_into_right_body());
                    }
                }
            } else if chunked && !stream {
                reservation = Some(Rc::new(Reservation {
                    budget: Arc::clone(&limits.budget),
                    bytes: Cell::new(0),
                }));
            }
            let fate = Rc::new(BodyFate::default());
            if length.is_some_and(|l| l > 0) || chunked {
                let payload = req.take_payload();
                req.set_payload(actix_web::dev::Payload::from(Box::pin(Guarded {
                    inner: payload,
                    deadline: None,
                    started: tokio::time::Instant::now(),
                    idle: stream.then_some(limits.body_timeout),
                    timeout: limits.body_timeout,
                    grow: (chunked && !stream).then(|| reservation.clone()).flatten(),
                    fate: Rc::clone(&fate),
                    done: false,
                })
                    as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>));
            }
            // For the log should the handler panic: a shared reference to
            // the request's own bytes, not a copy.
            let uri = req.uri().clone();
            let answered = AssertUnwindSafe(service.call(req)).catch_unwind().await;
            let response = match answered {
                Ok(response) => response?,
                Err(_) => {
                    // The request went down with the handler; an error is
                    // what actix-web still answers from (as a 500).
                    limits.metrics.handler_panics.increment(1);
                    let path = uri.path();
                    tracing::error!(path, "a handler panicked; answered 500");
                    return Err(ApiError::new(ErrorCode::Internal, "internal error").into());
                }
            };
            drop(reservation);
            if fate.timed_out.get() {
                limits.metrics.body_timeouts.increment(1);
                let e = ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "the request body did not arrive within {} ms (http.body_timeout_ms)",
                        limits.body_timeout.as_millis()
                    ),
                );
                let request = response.request().clone();
                return Ok(close(ServiceResponse::from_err(e, request)).map_into_right_body());
            }
            if fate.over_budget.get() {
                limits.metrics.budget_rejections.increment(1);
                let e = ApiError::throttled(
                    "the request body outgrew the memory budget for bodies (http.max_buffered_bytes); retry later",
                    limits.retry_after_seconds,
                );
                let request = response.request().clone();
                return Ok(close(ServiceResponse::from_err(e, request)).map_into_right_body());
            }
            Ok(response.map_into_left_body())
        })
    }
}

/// Closes the connection after this answer: its body may be unread.
fn close<B>(mut response: ServiceResponse<B>) -> ServiceResponse<B> {
    response
        .response_mut()
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    response
}

/// A v3 record stream: a long-lived chunked body, read record by record
/// with its own bounds (at most `MAX_PENDING` records unanswered).
fn is_record_stream(path: &str) -> bool {
    (path.starts_with("/v3/") || path.starts_with("/kafka/v3/")) && path.ends_with("/records")
}

/// A request body under the deadline and, when chunked, the budget.
struct Guarded {
    inner: actix_web::dev::Payload,
    /// Made when the body first keeps the handler waiting: one that came
    /// with its head (nearly all) never touches the timer wheel.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// When reading began; the deadline is `timeout` from here.
    started: tokio::time::Instant,
    /// For streams: the deadline moves on with every chunk.
    idle: Option<Duration>,
    timeout: Duration,
    grow: Option<Rc<Reservation>>,
    fate: Rc<BodyFate>,
    done: bool,
}

impl Stream for Guarded {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Some(r) = &this.grow {
                    if !r.grow(chunk.len() * WORKING_FACTOR) {
                        this.fate.over_budget.set(true);
                        this.done = true;
                        return Poll::Ready(Some(Err(PayloadError::Overflow)));
                    }
                }
                if let Some(idle) = this.idle {
                    let now = tokio::time::Instant::now();
                    this.started = now;
                    if let Some(deadline) = &mut this.deadline {
                        deadline.as_mut().reset(now + idle);
                    }
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => match this
                .deadline
                .get_or_insert_with(|| {
                    Box::pin(tokio::time::sleep_until(this.started + this.timeout))
                })
                .as_mut()
                .poll(cx)
            {
                Poll::Ready(()) => {
                    this.fate.timed_out.set(true);
                    this.done = true;
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no complete body within {} ms", this.timeout.as_millis()),
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
