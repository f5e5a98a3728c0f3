//! `gatehouse-authd user add`: the password is read from stdin, never from arguments (which
//! other local users can see in the process list).

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use gatehouse_authd::secrets::Sensitive;
use gatehouse_authd::users::{self, NewUser};

use super::DbArgs;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input (first line).
    Add {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Role (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Require TOTP: the first login must enroll.
        #[arg(long)]
        require_mfa: bool,
    },
}

pub async fn run(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            db,
            username,
            email,
            display_name,
            roles,
            require_mfa,
        } => {
            let mut input = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut input)
                .context("reading the password from stdin")?;
            let password = input.lines().next().unwrap_or_default().to_owned();
            let pool = db.open().await?;
            let user = users::create(
                &pool,
                &db.hashing()?,
                NewUser {
                    display_name: display_name.unwrap_or_else(|| username.clone()),
                    username,
                    email,
                    roles,
                    password: Sensitive(password),
                    mfa_required: require_mfa,
                },
            )
            .await?;
            pool.close().await;
            println!("user_id={}", user.id);
            Ok(())
        }
    }
}
