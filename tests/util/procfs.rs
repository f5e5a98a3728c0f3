//! What `/proc` says about a process, for the memory figures (Linux): shared by the desktop's
//! measurement test and the blank-webview example that measures the floor under it.

/// Proportional set size of a process, in MB (shared pages split among their users).
pub fn pss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The proportional set size of a process by mapping (a file's path, or `[heap]`, `[anon]`,
/// `[stack]` …), in MB, largest first: where its memory goes.
pub fn pss_by_mapping(pid: u32) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by: std::collections::HashMap<String, f64> = std::collections::HashMap::new();
    let mut current = String::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let first = parts.next().unwrap_or("");
        if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            current = parts.nth(4).unwrap_or("[anon]").to_string();
        } else if first == "Pss:" {
            let kb: f64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            *by.entry(current.clone()).or_default() += kb / 1024.0;
        }
    }
    let mut v: Vec<(String, f64)> = by.into_iter().collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1));
    v
}

/// The families of mappings the memory figures are discussed in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Mesa's software GL and the LLVM it links: loaded by WebKitGTK whatever the page.
    SoftwareGl,
    /// The flite speech-synthesis voices libwebkit2gtk links: likewise.
    Flite,
    WebKit,
    OtherLibraries,
    /// The executable's own pages.
    Program,
    HeapAndAnonymous,
    OtherFiles,
}

impl Family {
    pub const ALL: [Family; 7] = [
        Family::SoftwareGl,
        Family::Flite,
        Family::WebKit,
        Family::OtherLibraries,
        Family::Program,
        Family::HeapAndAnonymous,
        Family::OtherFiles,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Family::SoftwareGl => "software GL (Mesa, LLVM)",
            Family::Flite => "speech synthesis (flite)",
            Family::WebKit => "WebKitGTK + JavaScriptCore",
            Family::OtherLibraries => "other libraries",
            Family::Program => "the program's own file",
            Family::HeapAndAnonymous => "heap and anonymous",
            Family::OtherFiles => "other files",
        }
    }

    /// The family of a mapping named `name` in a process running `exe`.
    fn of(name: &str, exe: &str) -> Family {
        let file = name.rsplit('/').next().unwrap_or("");
        if name == exe {
            Family::Program
        } else if file.starts_with("libLLVM")
            || name.contains("/dri/")
            || file.starts_with("libgallium")
            || file.starts_with("libglapi")
            || file.contains("_mesa")
        {
            Family::SoftwareGl
        } else if file.starts_with("libflite") {
            Family::Flite
        } else if file.starts_with("libwebkit2gtk") || file.starts_with("libjavascriptcoregtk") {
            Family::WebKit
        } else if file.contains(".so") {
            Family::OtherLibraries
        } else if name.starts_with('[') || name.starts_with("/memfd:") || name.starts_with("/SYSV") {
            Family::HeapAndAnonymous
        } else {
            Family::OtherFiles
        }
    }
}

/// A process's proportional set size (MB) per family, in the order of [`Family::ALL`].
pub fn pss_by_family(pid: u32) -> Vec<(Family, f64)> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mappings = pss_by_mapping(pid);
    Family::ALL
        .iter()
        .map(|&f| {
            let mb = mappings
                .iter()
                .filter(|(name, _)| Family::of(name, &exe) == f)
                .map(|(_, mb)| mb)
                .sum();
            (f, mb)
        })
        .collect()
}

/// One line of [`pss_by_family`]: the families with at least 0.05 MB.
pub fn family_line(pid: u32) -> String {
    pss_by_family(pid)
        .into_iter()
        .filter(|(_, mb)| *mb >= 0.05)
        .map(|(f, mb)| format!("{} {mb:.1}", f.label()))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The process's command name.
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The process's environment, one `NAME=value` per entry.
#[allow(dead_code)] // the blank-webview example includes this file and does not need it
pub fn environ(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}
