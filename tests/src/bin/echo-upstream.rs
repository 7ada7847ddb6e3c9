//! Runs the echo upstream: `echo-upstream --listen 127.0.0.1:9000`. Prints the bound address.

use std::net::SocketAddr;

use clap::Parser;

#[derive(Parser)]
#[command(about = "An HTTP server that answers every request with a JSON echo of it")]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let (bound, task) = gatectl_e2e::echo::spawn(args.listen).await?;
    println!("echo-upstream listening on {bound}");
    let _ = task.await;
    Ok(())
}
