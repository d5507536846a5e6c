//! One subscriber's event stream: tonic polls it from the connection's task, and each poll
//! takes the next item from the hub subscription, keeps it if the filter wants it and hands
//! over its encoded bytes. Items that are ready are taken without waiting, so tonic packs a
//! burst into a few large writes; only an empty queue parks the stream on the hub.
//!
//! There is no task in between: a client that does not read only stops being polled, and its
//! own hub queue overflows (told to it in-band), without slowing the reader or anyone else.
use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use sensor_proto::encoded::EncodedEventsResponse;
use tokio::sync::OwnedSemaphorePermit;
use tonic::Status;

use super::{Identity, convert};
use crate::{
    filter::Filter,
    hub::{Item, Subscription},
};

/// Items the filter may leave out in one poll before the stream lets others run.
const SKIPPED_PER_POLL: usize = 1024;

/// Waiting for the hub: owns the subscription until an item (or the end) comes.
type Wait = Pin<Box<dyn Future<Output = (Subscription, Option<Item>)> + Send>>;

/// The response stream of GetEvents.
pub struct EventStream {
    /// `None` while `wait` holds it, and once the hub has closed.
    sub: Option<Subscription>,
    wait: Option<Wait>,
    filter: Filter,
    identity: Arc<Identity>,
    /// Given back when the stream is dropped: the client went away or the hub closed.
    _permit: OwnedSemaphorePermit,
}

impl EventStream {
    /// The next item from the hub: at once if one is queued, else once one comes.
    fn poll_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        if let Some(wait) = &mut self.wait {
            let Poll::Ready((sub, item)) = wait.as_mut().poll(cx) else {
                return Poll::Pending;
            };
            self.wait = None;
            self.sub = Some(sub);
            return Poll::Ready(item);
        }
        // Looked at in place: the subscription (about 200 bytes) moves only to wait.
        let Some(sub) = &mut self.sub else {
            return Poll::Ready(None);
        };
        if sub.is_closed() {
            self.sub = None;
            return Poll::Ready(None);
        }
        if let Some(item) = sub.try_next() {
            return Poll::Ready(Some(item));
        }
        let Some(mut sub) = self.sub.take() else {
            return Poll::Ready(None);
        };
        self.wait = Some(Box::pin(async move {
            let item = sub.next().await;
            (sub, item)
        }));
        self.poll_item(cx)
    }
}

impl tokio_stream::Stream for EventStream {
    type Item = Result<EncodedEventsResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        for _ in 0..SKIPPED_PER_POLL {
            let item = match this.poll_item(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(item)) => item,
                Poll::Ready(None) => {
                    // The sensor is shutting down: end the stream (and drop the queue; later
                    // polls find no subscription and end at once).
                    this.sub = None;
                    return Poll::Ready(None);
                }
            };
            let wanted = match &item {
                Item::Event(ev) => this.filter.matches(ev),
                Item::Lost { .. } => true,
            };
            if wanted {
                let encoded = convert::item_to_encoded(&item, &this.identity);
                return Poll::Ready(Some(Ok(encoded)));
            }
        }
        // A long run of events this subscriber does not want: come back after the others.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The stream of `sub`, filtered by `filter`; `permit` is held as long as the stream lives.
pub fn new(
    sub: Subscription,
    filter: Filter,
    identity: Arc<Identity>,
    permit: OwnedSemaphorePermit,
) -> EventStream {
    EventStream {
        sub: Some(sub),
        wait: None,
        filter,
        identity,
        _permit: permit,
    }
}
