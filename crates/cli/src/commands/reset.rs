use clap::Args;
use gatehouse_core::Console;
use gatehouse_core::actions::ActionKind;

#[derive(Args)]
pub struct ResetArgs {
    user: String,
    /// Require MFA at the next login (always on; the flag makes scripts say so explicitly).
    #[arg(long, required = true)]
    require_mfa: bool,
}

pub async fn run(a: ResetArgs, profile: Option<&str>, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(a.require_mfa, "--require-mfa is required");
    let actions = Console::open()?.actions(profile).await?;
    let report = actions
        .run(ActionKind::ForcePasswordReset, &a.user)
        .await
        .map_err(gatehouse_core::Error::from)?;
    super::report_action(&report, json)
}
