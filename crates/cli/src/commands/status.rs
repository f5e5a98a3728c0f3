use gatehouse_core::Console;

pub fn run(json: bool) -> anyhow::Result<()> {
    let status = Console::open()?.status();
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    let k = &status.keyring;
    println!("gatehouse {}", status.version);
    println!("data      {}", status.data_dir);
    println!("config    {}", status.config_dir);
    println!(
        "keyring   {} [{}] {}",
        k.backend,
        k.namespace.as_str(),
        if k.reachable { "reachable" } else { "NOT reachable" }
    );
    if let Some(detail) = &k.detail {
        println!("          {detail}");
    }
    Ok(())
}
