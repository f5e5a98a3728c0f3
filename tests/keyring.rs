//! `gatehouse_core::secrets` against the real OS keyring (gnome-keyring over the Secret Service
//! API): a credential is stored, found by a different program (libsecret's `secret-tool`) and
//! read back by a second process of ours, then deleted. `secret-tool` finding it is what proves
//! the `keyring` crate did not fall back to its in-memory mock store.

use std::process::Command;

use gatehouse_core::secrets::{
    KeyringStore, Namespace, PLATFORM_BACKEND, SecretName, SecretStore, Sensitive,
};
use sha2::{Digest, Sha256};

use crate::util::require_session_bus;

const CHILD_ENV: &str = "GATEHOUSE_TEST_CHILD_SECRET_NAME";

fn secret_tool_lookup(name: &SecretName) -> Option<String> {
    let out = Command::new("secret-tool")
        .args([
            "lookup",
            "service",
            &Namespace::Test.service(),
            "username",
            name.as_str(),
        ])
        .output()
        .expect("secret-tool (libsecret-tools) is needed; run through ./x test");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[test]
fn credential_round_trips_through_the_real_keyring_and_a_second_process() {
    require_session_bus();
    let store = KeyringStore::new(Namespace::Test);
    let health = store.health();
    assert!(health.reachable, "keyring not reachable: {:?}", health.detail);
    assert_eq!(health.backend, PLATFORM_BACKEND);

    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let name = SecretName::new(format!("it/round-trip-{nonce}")).unwrap();
    let value = format!("client-secret-{nonce}");
    assert!(store.get(&name).unwrap().is_none());
    store.put(&name, &Sensitive::new(value.clone())).unwrap();

    // Another program sees it in the Secret Service: not the keyring crate's mock store.
    assert_eq!(secret_tool_lookup(&name).as_deref(), Some(value.as_str()));

    // A second process of ours reads it through the core (it prints only a digest).
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "keyring::child_reads_secret",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, name.as_str())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("CHILD-DIGEST {}", digest(&value))),
        "child did not read the same value: {stdout}"
    );

    assert!(store.delete(&name).unwrap());
    assert!(store.get(&name).unwrap().is_none());
    assert_eq!(
        secret_tool_lookup(&name),
        None,
        "entry still in the Secret Service after delete"
    );
    assert!(
        !store.delete(&name).unwrap(),
        "second delete must report nothing to delete"
    );
}

#[test]
#[ignore = "helper: run in a child process by credential_round_trips_through_the_real_keyring_and_a_second_process"]
fn child_reads_secret() {
    let name = std::env::var(CHILD_ENV).expect("only meaningful when started by the round-trip test");
    let store = KeyringStore::new(Namespace::Test);
    let value = store
        .get(&SecretName::new(name).unwrap())
        .unwrap()
        .expect("entry missing in child");
    println!("CHILD-DIGEST {}", digest(value.expose()));
}

#[test]
fn test_entries_never_touch_the_dev_or_release_namespace() {
    require_session_bus();
    let name = SecretName::new(format!("it/isolation-{}", std::process::id())).unwrap();
    let test = KeyringStore::new(Namespace::Test);
    test.put(&name, &Sensitive::new("t".to_string())).unwrap();
    let dev = KeyringStore::new(Namespace::Dev);
    assert!(dev.get(&name).unwrap().is_none());
    assert!(test.delete(&name).unwrap());
}
