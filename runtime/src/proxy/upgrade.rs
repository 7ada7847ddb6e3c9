//! Protocol switches (WebSocket and other `Upgrade` requests): after both sides agreed with 101,
//! bytes are copied both ways until either side closes. The shutdown drain waits for open
//! tunnels as it does for connections, and closes them when the drain ends.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::listener::DrainHold;

pub fn spawn_tunnel(client: OnUpgrade, upstream: OnUpgrade, hold: DrainHold) {
    tokio::spawn(async move {
        tokio::select! {
            () = tunnel(client, upstream) => {}
            () = hold.abandoned() => tracing::debug!("closing an upgraded connection at the end of the drain"),
        }
    });
}

/// Copies bytes both ways once both sides have switched protocols, until either side closes.
async fn tunnel(client: OnUpgrade, upstream: OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            tracing::debug!(%error, "protocol switch failed before the tunnel opened");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok((sent, received)) => tracing::debug!(sent, received, "upgraded connection closed"),
        Err(error) => tracing::debug!(%error, "upgraded connection ended with an error"),
    }
}
