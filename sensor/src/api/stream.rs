//! One subscriber's event stream: a task takes items from its hub subscription, keeps what its
//! filter wants, and hands them to the HTTP/2 stream in batches: every item ready at that
//! moment goes in one channel send, and tonic encodes a batch into one write.
use std::{
    pin::Pin,
    task::{Context, Poll},
};

use sensor_proto::encoded::EncodedEventsResponse;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tonic::Status;

use super::{Identity, convert};
use crate::{
    filter::Filter,
    hub::{Item, Subscription},
};

/// Items taken from the hub at once, at most.
const BATCH: usize = 128;
/// Batches buffered between the feeding task and the HTTP/2 stream.
const BATCHES_BUFFERED: usize = 2;

type Batch = Vec<EncodedEventsResponse>;

/// The response stream of GetEvents: the batches, one item at a time.
pub struct EventStream {
    rx: mpsc::Receiver<Batch>,
    current: std::vec::IntoIter<EncodedEventsResponse>,
}

impl tokio_stream::Stream for EventStream {
    type Item = Result<EncodedEventsResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(item) = self.current.next() {
                return Poll::Ready(Some(Ok(item)));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(batch)) => self.current = batch.into_iter(),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// Starts feeding `sub` into a new stream; the task ends when the client goes away or the
/// hub closes, and gives `permit` back then.
pub fn spawn(
    mut sub: Subscription,
    filter: Filter,
    identity: std::sync::Arc<Identity>,
    permit: OwnedSemaphorePermit,
) -> EventStream {
    let (tx, rx) = mpsc::channel::<Batch>(BATCHES_BUFFERED);
    tokio::spawn(async move {
        let _permit = permit;
        loop {
            let first = tokio::select! {
                item = sub.next() => item,
                _ = tx.closed() => break, // the client went away
            };
            let Some(first) = first else { break }; // the sensor is shutting down
            let mut batch = Vec::new();
            let mut next = Some(first);
            while let Some(item) = next {
                let wanted = match &item {
                    Item::Event(ev) => filter.matches(ev),
                    Item::Lost { .. } => true,
                };
                if wanted {
                    batch.push(convert::item_to_encoded(&item, &identity));
                }
                next = (batch.len() < BATCH).then(|| sub.try_next()).flatten();
            }
            if batch.is_empty() {
                continue;
            }
            // Waiting here is fine: a slow client only makes its own hub queue overflow.
            if tx.send(batch).await.is_err() {
                break;
            }
        }
    });
    EventStream {
        rx,
        current: Vec::new().into_iter(),
    }
}
