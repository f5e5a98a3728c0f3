//! `gatehouse-authd admin create-client`: prints the secret once; only its hash is stored.

use clap::Subcommand;

use super::DbArgs;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an admin API client and print its secret (shown once).
    CreateClient {
        #[command(flatten)]
        db: DbArgs,
        /// Client id, e.g. gatehouse-console.
        #[arg(long, default_value = "gatehouse-console")]
        client_id: String,
    },
}

pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::CreateClient { db, client_id } => {
            let pool = db.open().await?;
            let secret = gatehouse_authd::admin_clients::create(&pool, &db.hashing()?, &client_id).await?;
            pool.close().await;
            println!("client_id={client_id}");
            println!("client_secret={}", secret.expose());
            Ok(())
        }
    }
}
