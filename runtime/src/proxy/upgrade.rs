//! Protocol switches (WebSocket and other `Upgrade` requests): after both sides agreed with 101,
//! bytes are copied both ways until either side closes. The shutdown drain waits for open
//! tunnels as it does for connections, and closes them when the drain ends.
//!
//! The access-log line of a switched request is written when its tunnel closes, so that it
//! gives the bytes the tunnel carried and how long it stayed open.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

use crate::listener::DrainHold;
use crate::observe::access_log::{AccessLog, AccessRecord};

/// The access-log record of a switched request, handed to its tunnel once the 101 has been
/// sent, with the time the request arrived.
pub type PendingRecord = (AccessRecord, Instant);

/// Opens the tunnel once both sides have switched. When `log` is given, the record sent
/// through it is written when the tunnel closes, with the tunnel's bytes added.
pub fn spawn_tunnel(client: OnUpgrade, upstream: OnUpgrade, hold: DrainHold, log: Option<(oneshot::Receiver<PendingRecord>, AccessLog)>) {
    tokio::spawn(async move {
        let totals = tunnel(client, upstream, &hold).await;
        if let Some((record, access_log)) = log
            && let Ok((mut record, started)) = record.await
        {
            record.bytes_in += totals.from_client;
            record.bytes_out += totals.to_client;
            record.total_latency_ms = super::milliseconds(started.elapsed());
            access_log.record(record);
        }
        // The drain ends only after the line has been queued, so that its final flush writes it.
        drop(hold);
    });
}

/// Bytes a tunnel carried each way.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    from_client: u64,
    to_client: u64,
}

/// Copies bytes both ways once both sides have switched protocols, until either side closes or
/// the drain ends.
async fn tunnel(client: OnUpgrade, upstream: OnUpgrade, hold: &DrainHold) -> Totals {
    let switched = tokio::select! {
        switched = async { tokio::try_join!(client, upstream) } => switched,
        () = hold.abandoned() => return Totals::default(),
    };
    let (client, upstream) = match switched {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%error, "protocol switch failed before the tunnel opened");
            return Totals::default();
        }
    };
    let mut client = Counted { inner: TokioIo::new(client), read: 0 };
    let mut upstream = Counted { inner: TokioIo::new(upstream), read: 0 };
    tokio::select! {
        outcome = tokio::io::copy_bidirectional(&mut client, &mut upstream) => match outcome {
            Ok((sent, received)) => tracing::debug!(sent, received, "upgraded connection closed"),
            Err(error) => tracing::debug!(%error, "upgraded connection ended with an error"),
        },
        () = hold.abandoned() => tracing::debug!("closing an upgraded connection at the end of the drain"),
    }
    // Bytes read from each side. After an error or the drain, they may include some that the
    // other side did not receive.
    Totals { from_client: client.read, to_client: upstream.read }
}

/// A stream that counts the bytes read from it.
struct Counted<S> {
    inner: S,
    read: u64,
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buffer.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(context, buffer);
        this.read += (buffer.filled().len() - before) as u64;
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(context, bytes)
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(context)
    }
}
