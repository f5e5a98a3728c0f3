fn main() {
    // App commands are declared here so Tauri generates one permission per command and the
    // capability file can grant exactly those (least privilege).
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(&["app_status"]));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo::error={e:#}");
    }
}
