//! `gatehouse-authd keys rotate`: works on the database; a running server picks the new key up
//! within 30 s (its housekeeping reloads keys), or immediately via `POST /admin/v1/keys/rotate`.

use clap::Subcommand;

use super::DbArgs;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate a new signing key; the old one stays published until its tokens expire.
    Rotate {
        #[command(flatten)]
        db: DbArgs,
    },
}

pub async fn run(cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Rotate { db } => {
            let pool = db.open().await?;
            let rotation = gatehouse_authd::keys::rotate_in_db(&pool).await?;
            pool.close().await;
            println!("new_kid={}", rotation.new_kid);
            if let Some(old) = rotation.retired_kid {
                println!("retired_kid={old}");
            }
            Ok(())
        }
    }
}
