//! `GET /api/events/stream`: committed events as Server-Sent Events.
//!
//! The store publishes events on a crossbeam channel (its writer thread must
//! never wait on the network). One dedicated thread per server reads it and
//! republishes into a tokio broadcast channel, so any number of SSE clients
//! cost one store subscription. Losing an event is never silent: whenever the
//! store's buffer or a client's broadcast buffer overflows, that client re-reads
//! the gap from the database by id. The same replay serves `Last-Event-ID`, so a
//! browser that reconnects after a network blip misses nothing.

use crate::api::{non_empty, query_error, EventJson};
use crate::error::ApiError;
use crate::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base::Event;
use crossbeam_channel::RecvTimeoutError;
use futures::StreamExt;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::{StoreBackend, StoreError, Subscription};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

/// Comment lines sent on an idle stream so proxies and browsers do not time
/// the connection out and a dead client is noticed.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Events buffered per client between the bridge and the client's task.
const BROADCAST_CAPACITY: usize = 1024;
/// SSE messages buffered per client ahead of the socket.
const CLIENT_BUFFER: usize = 64;
/// How often the bridge thread checks whether the server state was dropped.
const BRIDGE_POLL: Duration = Duration::from_millis(250);
/// Events read per query while replaying.
const REPLAY_PAGE: usize = 500;
/// Most events one replay sends. A client that was away long enough to miss
/// more gets the newest ones and should query `/api/events` for the rest.
const REPLAY_MAX: usize = 10_000;
/// Tells browsers how soon to reconnect after the stream ends.
const RETRY: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub(crate) enum FeedItem {
    Event(Arc<Event>),
    /// The bridge lost events (the store's buffer for it overflowed): every
    /// client must re-read from the database.
    Gap,
}

/// The live fan-out of committed events. Dropping it stops the bridge thread.
pub(crate) struct Feed {
    tx: broadcast::Sender<FeedItem>,
    /// Stop flag of the bridge thread now running.
    stop: std::sync::Mutex<Arc<AtomicBool>>,
}

impl Feed {
    pub fn start(sub: Subscription) -> Feed {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        bridge(sub, tx.clone(), stop.clone());
        Feed {
            tx,
            stop: std::sync::Mutex::new(stop),
        }
    }

    /// Feeds clients from `sub` instead of the source so far (the data
    /// backend of `serve --database`, whose events never reach the SQLite
    /// store's feed). Connected clients stay connected and get a gap, so
    /// each re-reads from the new source by id.
    pub fn replace_source(&self, sub: Subscription) {
        let stop = Arc::new(AtomicBool::new(false));
        let old = std::mem::replace(
            &mut *self.stop.lock().unwrap_or_else(|p| p.into_inner()),
            stop.clone(),
        );
        old.store(true, Ordering::Relaxed);
        bridge(sub, self.tx.clone(), stop);
        let _ = self.tx.send(FeedItem::Gap);
    }

    fn subscribe(&self) -> broadcast::Receiver<FeedItem> {
        self.tx.subscribe()
    }
}

/// Starts the thread that moves events from `sub` into `btx` until `bstop`.
fn bridge(sub: Subscription, btx: broadcast::Sender<FeedItem>, bstop: Arc<AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("kuzet-sse-bridge".into())
        .spawn(move || {
            let mut lagged = 0;
            loop {
                let next = sub.recv_timeout(BRIDGE_POLL);
                let now_lagged = sub.lagged();
                if now_lagged > lagged {
                    tracing::warn!(
                        missed = now_lagged - lagged,
                        "live event feed fell behind the store; clients will re-read from the database"
                    );
                    lagged = now_lagged;
                    let _ = btx.send(FeedItem::Gap);
                }
                if bstop.load(Ordering::Relaxed) {
                    break;
                }
                match next {
                    // A send error only means no client is connected.
                    Ok(e) => {
                        let _ = btx.send(FeedItem::Event(Arc::new(e)));
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            tracing::debug!("live event bridge stopped");
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the live event bridge; SSE clients get replays only");
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .store(true, Ordering::Relaxed);
    }
}

/// Empty values count as absent; unknown parameters are a 400.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamParams {
    /// Only events of this camera id.
    #[param(example = "gate")]
    camera: Option<String>,
    /// Only events of this kind.
    #[param(example = "line_cross")]
    kind: Option<String>,
    /// For clients that cannot set the `Last-Event-ID` header on their first
    /// connection (a browser's `EventSource` only sets it when reconnecting).
    /// Replay committed events with a greater id first, then continue live.
    #[param(value_type = Option<i64>, minimum = 0)]
    last_event_id: Option<String>,
}

const STREAM_PARAMS: &str = "camera, kind, last_event_id (or the Last-Event-ID header)";

#[derive(Clone)]
struct Filter {
    camera: Option<String>,
    kind: Option<String>,
    /// The user's camera-group scope; `None` = every camera.
    visible: Option<Vec<String>>,
}

impl Filter {
    fn matches(&self, e: &Event) -> bool {
        self.camera.as_ref().is_none_or(|c| *c == e.camera)
            && self.visible.as_ref().is_none_or(|v| v.contains(&e.camera))
            && self.kind.as_ref().is_none_or(|k| *k == e.kind)
    }
}

fn parse_last_id(headers: &HeaderMap, param: Option<String>) -> Result<Option<i64>, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{fffd}").to_string());
    // The header wins: it is what a reconnecting browser sends, and it is newer
    // than the URL the page was opened with.
    match non_empty(header.or(param)) {
        None => Ok(None),
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Some(n)),
            _ => Err(ApiError::bad_request(
                format!("invalid Last-Event-ID {s:?}"),
                "use the `id` of the last event received (a non-negative integer)",
            )),
        },
    }
}

/// Committed events live, as Server-Sent Events. Each message has
/// `event: <kind>`, `id: <event id>` and `data:` an `Event` as JSON (schema
/// `Event`); idle streams get keep-alive comments every 15 s. After a reconnect
/// with `Last-Event-ID` the missed events are replayed first, so none is lost.
#[utoipa::path(
    get,
    path = "/api/events/stream",
    tag = "events",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "Id of the last event received; wins over the `last_event_id` parameter (browsers send it when reconnecting)"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream`; every `data:` line is an `Event` (see `#/components/schemas/Event`)", content_type = "text/event-stream", body = String),
        (status = 400, description = "A parameter or `Last-Event-ID` is malformed, or a parameter is unknown", body = crate::error::ErrorBody),
        (status = 500, description = "The store could not be read", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn events_stream(
    State(s): State<AppState>,
    axum::Extension(user): axum::Extension<auth::User>,
    headers: HeaderMap,
    params: Result<Query<StreamParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = params.map_err(|e| query_error(e, STREAM_PARAMS))?;
    let last_id = parse_last_id(&headers, p.last_event_id)?;
    let filter = Filter {
        camera: non_empty(p.camera),
        kind: non_empty(p.kind),
        visible: s.visible_cameras(&user),
    };
    // Subscribe before anything is read from the database, so an event
    // committed meanwhile is in the feed if it is not in the replay.
    let feed = s.inner.feed.subscribe();
    // Where to resume after a gap if nothing has been sent yet.
    let baseline = match last_id {
        Some(id) => id,
        None => {
            s.with_data("reading the newest event", |st| st.max_event_id())
                .await?
        }
    };
    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    let closing = s.inner.closing.subscribe();
    // The first message only tells the browser how soon to reconnect.
    let _ = tx.try_send(SseEvent::default().retry(RETRY));
    tokio::spawn(
        Client {
            state: s,
            filter,
            last_sent: last_id,
            baseline,
            tx,
            closing,
        }
        .run(feed),
    );
    let stream = ReceiverStream::new(rx).map(Ok::<_, Infallible>);
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    // Stops nginx-style proxies from buffering the stream into uselessness.
    let no_buffering = [("x-accel-buffering", HeaderValue::from_static("no"))];
    Ok((no_buffering, sse).into_response())
}

/// One SSE client's task: replays, then forwards live events until the client
/// goes away or the server shuts down (dropping `tx` ends the response).
struct Client {
    state: AppState,
    filter: Filter,
    /// Id of the newest event sent (or the client's Last-Event-ID).
    last_sent: Option<i64>,
    baseline: i64,
    tx: mpsc::Sender<SseEvent>,
    closing: watch::Receiver<bool>,
}

impl Client {
    async fn run(mut self, mut feed: broadcast::Receiver<FeedItem>) {
        if self.last_sent.is_some() && !self.replay().await {
            return;
        }
        loop {
            let item = tokio::select! {
                _ = self.closing.wait_for(|c| *c) => break,
                _ = self.tx.closed() => break,
                item = feed.recv() => item,
            };
            let ok = match item {
                Ok(FeedItem::Event(e)) => self.deliver(&e).await,
                Ok(FeedItem::Gap) => self.replay().await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(
                        missed = n,
                        "SSE client fell behind; replaying from the database"
                    );
                    self.replay().await
                }
                Err(broadcast::error::RecvError::Closed) => false,
            };
            if !ok {
                break;
            }
        }
    }

    /// Sends `e` unless it was already sent or is filtered out. False when the
    /// stream should end.
    async fn deliver(&mut self, e: &Event) -> bool {
        let Some(id) = e.id else {
            return true;
        };
        if self.last_sent.is_some_and(|l| id <= l) {
            return true;
        }
        // Filtered-out events still advance the cursor: a replay would skip them too.
        self.last_sent = Some(id);
        if !self.filter.matches(e) {
            return true;
        }
        let msg = sse_event(e, id);
        tokio::select! {
            r = self.tx.send(msg) => r.is_ok(),
            _ = self.closing.wait_for(|c| *c) => false,
        }
    }

    /// Sends, oldest first, the stored events newer than what the client has.
    async fn replay(&mut self) -> bool {
        let after = self.last_sent.unwrap_or(self.baseline);
        let filter = self.filter.clone();
        let events = match self
            .state
            .with_data("replaying events", move |st| {
                replay_events(st, &filter, after, REPLAY_MAX)
            })
            .await
        {
            Ok(v) => v,
            // Logged already; keep streaming live events rather than hang up.
            Err(_) => return true,
        };
        for e in &events {
            if !self.deliver(e).await {
                return false;
            }
        }
        true
    }
}

/// Stored events matching `filter` with id > `after`, oldest first, at most
/// `max` (the newest ones when there are more).
///
/// Reads by id rather than paging the (ts, id)-ordered event list: an event
/// committed after `after` can carry an older timestamp (another camera's
/// frame that spent longer in the pipeline), so no page boundary in that
/// order proves nothing newer was skipped. Ids grow in commit order on both
/// backends, so `id > after` is exactly what was committed since.
fn replay_events(
    st: &dyn StoreBackend,
    filter: &Filter,
    after: i64,
    max: usize,
) -> Result<Vec<Event>, StoreError> {
    let newest = st.max_event_id()?;
    let mut next = after;
    if newest.saturating_sub(after) > max as i64 {
        let skip_to = newest - max as i64;
        tracing::warn!(
            after,
            skip_to,
            "SSE client is far behind; replaying only the newest events"
        );
        next = skip_to;
    }
    let mut out = Vec::new();
    while out.len() < max {
        let page = st.events_after(next, REPLAY_PAGE)?;
        let Some(last) = page.last().and_then(|e| e.id) else {
            break;
        };
        next = last;
        let full = page.len() == REPLAY_PAGE;
        out.extend(page.into_iter().filter(|e| filter.matches(e)));
        if !full {
            break;
        }
    }
    out.truncate(max);
    Ok(out)
}

fn sse_event(e: &Event, id: i64) -> SseEvent {
    let data = serde_json::to_string(&EventJson::new(e)).unwrap_or_else(|_| "{}".into());
    // The SSE framing would break (and axum panics) on a line break in a field.
    let kind: String = e
        .kind
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    SseEvent::default()
        .event(kind)
        .id(id.to_string())
        .data(data)
}
