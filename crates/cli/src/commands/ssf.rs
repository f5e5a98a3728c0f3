use std::net::SocketAddr;

use clap::Subcommand;
use gatehouse_core::Console;

use crate::output;

#[derive(Subcommand)]
pub enum SsfCommand {
    /// Accept SETs pushed (RFC 8935) by the profile's configured transmitter until Ctrl-C.
    Receive {
        /// Address of the push endpoint (POST /).
        #[arg(long, default_value = "127.0.0.1:8470")]
        listen: SocketAddr,
    },
    /// Push the SETs waiting in the outbox (with --now, also those waiting out a retry delay).
    Deliver {
        #[arg(long)]
        now: bool,
    },
    /// Print the JWKS receivers verify this profile's SETs with.
    Jwks,
    /// SETs received from the transmitter, newest first.
    Received {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

pub async fn run(cmd: SsfCommand, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    let console = Console::open()?;
    match cmd {
        SsfCommand::Receive { listen } => {
            eprintln!("accepting SETs at http://{listen}/ (Ctrl-C stops)");
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            console.ssf_receive(profile, listen, stop).await?;
        }
        SsfCommand::Deliver { now } => {
            let d = console.ssf_deliver(profile, now).await?;
            if json {
                output::json(&d)?;
            } else {
                println!(
                    "delivered {}, refused {}, retrying {}, still pending {}",
                    d.delivered, d.refused, d.retrying, d.pending_total
                );
            }
        }
        SsfCommand::Jwks => output::json(&console.ssf_jwks(profile).await?)?,
        SsfCommand::Received { limit } => {
            let items = console.ssf_received(profile, limit).await?;
            if json {
                return output::json(&items);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|s| {
                    vec![
                        output::time(chrono::DateTime::from_timestamp_millis(s.received_at_ms)),
                        output::clean(&s.iss, 60),
                        output::clean(s.event.rsplit('/').next().unwrap_or(&s.event), 40),
                        output::clean(&s.sub_id.to_string(), 80),
                    ]
                })
                .collect();
            output::table(&["received", "issuer", "event", "subject"], &rows);
        }
    }
    Ok(())
}
