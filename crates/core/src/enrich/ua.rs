//! User-Agent parsing: browser family, OS and device kind, plus "tool" clients.
//!
//! Browsers and OSes come from the `ua-parser` crate (the maintained Rust port of the uap-core
//! project) over uap-core's `regexes.yaml` 0.18, shipped here as `uap/regexes.json` (Apache-2.0,
//! converted once with `python3 -c 'import yaml,json; json.dump(yaml.safe_load(open("regexes.yaml")),
//! open("regexes.json","w"), separators=(",",":"))'`). The parser is built once per process,
//! lazily ([`UaParser::warm_up`] starts it early on a background thread); each of its ~560
//! browser and OS regexes is compiled the first time an input reaches it (our patch to
//! `regex-filtered`, vendor/README.md), so building takes ≈ 15 ms and 2 MB, not 48 ms and 10 MB.
//!
//! Scripted clients are recognised by a short, explicit list before uap runs: a stolen token
//! replayed from `python-requests` or `curl` inside a session that started in a browser is one
//! of the clearest signs of theft, and the list is what an analyst can read and extend.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// An interactive browser (desktop or mobile) or a native app that says who it is.
    Browser,
    /// A scripted HTTP client or library (curl, python-requests, Go-http-client, okhttp ...).
    Tool,
    /// A headless or automated browser (HeadlessChrome, PhantomJS, Playwright ...).
    Headless,
    /// A crawler that announces itself.
    Bot,
    /// Nothing recognisable.
    Unknown,
}

/// A parsed User-Agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct Device {
    pub raw: String,
    /// Browser or tool family (`Chrome`, `Firefox`, `Mobile Safari`, `curl`, `python-requests`).
    pub family: String,
    /// Major version, when known.
    pub major: Option<String>,
    /// OS family (`Windows`, `Mac OS X`, `iOS`, `Android`, `Linux`, `Other`).
    pub os: String,
    /// `desktop`, `mobile` or `other`.
    pub form: &'static str,
    pub class: DeviceClass,
    /// A hash of (class, family without "Mobile", OS) so that detectors compare devices in one
    /// step; 0 when not computed (then the fields are compared).
    #[serde(skip)]
    pub kind_id: u64,
}

impl Device {
    /// `Chrome 126 on Mac OS X` / `python-requests`.
    pub fn label(&self) -> String {
        match self.class {
            DeviceClass::Tool => format!("{} (scripted client)", self.family),
            DeviceClass::Headless => format!("{} (headless browser)", self.family),
            _ if self.os == "Other" => self.family.clone(),
            _ => format!("{} on {}", self.family, self.os),
        }
    }

    /// Same browser family and OS family (versions may differ: browsers update themselves).
    pub fn same_kind(&self, other: &Device) -> bool {
        if self.kind_id != 0 && other.kind_id != 0 {
            return self.kind_id == other.kind_id;
        }
        self.class == other.class
            && base_family(&self.family) == base_family(&other.family)
            && self.os == other.os
    }

    fn with_kind_id(mut self) -> Device {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one((
            self.class as u8,
            base_family(&self.family),
            self.os.as_str(),
        ));
        self.kind_id = h.max(1);
        self
    }

    pub fn is_scripted(&self) -> bool {
        matches!(self.class, DeviceClass::Tool | DeviceClass::Headless)
    }
}

fn base_family(f: &str) -> &str {
    f.trim_end_matches(" Mobile")
        .trim_end_matches(" Mobile iOS")
        .trim_start_matches("Mobile ")
}

/// (needle, family, class), matched case-insensitively as a substring; order matters.
const TOOLS: &[(&str, &str, DeviceClass)] = &[
    ("headlesschrome", "HeadlessChrome", DeviceClass::Headless),
    ("phantomjs", "PhantomJS", DeviceClass::Headless),
    ("playwright", "Playwright", DeviceClass::Headless),
    ("puppeteer", "Puppeteer", DeviceClass::Headless),
    ("electron-fetch", "electron-fetch", DeviceClass::Tool),
    ("python-requests", "python-requests", DeviceClass::Tool),
    ("python-urllib", "python-urllib", DeviceClass::Tool),
    ("python-httpx", "python-httpx", DeviceClass::Tool),
    ("aiohttp", "aiohttp", DeviceClass::Tool),
    ("scrapy", "Scrapy", DeviceClass::Tool),
    ("curl/", "curl", DeviceClass::Tool),
    ("wget/", "Wget", DeviceClass::Tool),
    ("go-http-client", "Go-http-client", DeviceClass::Tool),
    ("okhttp", "okhttp", DeviceClass::Tool),
    ("apache-httpclient", "Apache-HttpClient", DeviceClass::Tool),
    ("java/", "Java", DeviceClass::Tool),
    ("axios/", "axios", DeviceClass::Tool),
    ("node-fetch", "node-fetch", DeviceClass::Tool),
    ("undici", "undici", DeviceClass::Tool),
    ("postmanruntime", "PostmanRuntime", DeviceClass::Tool),
    ("insomnia", "Insomnia", DeviceClass::Tool),
    ("httpie", "HTTPie", DeviceClass::Tool),
    ("libwww-perl", "libwww-perl", DeviceClass::Tool),
    ("powershell", "PowerShell", DeviceClass::Tool),
    ("reqwest", "reqwest", DeviceClass::Tool),
    ("dart:io", "Dart", DeviceClass::Tool),
    ("faraday", "Faraday", DeviceClass::Tool),
    ("ruby", "Ruby", DeviceClass::Tool),
    ("googlebot", "Googlebot", DeviceClass::Bot),
    ("bingbot", "bingbot", DeviceClass::Bot),
];

/// Recognises scripted clients; `None` for everything else.
pub fn tool_client(ua: &str) -> Option<(&'static str, DeviceClass)> {
    let lower = ua.to_ascii_lowercase();
    TOOLS
        .iter()
        .find(|(needle, _, _)| lower.contains(needle))
        .map(|(_, family, class)| (*family, *class))
}

static UAP: OnceLock<Option<ua_parser::Extractor<'static>>> = OnceLock::new();
static REGEXES: &str = include_str!("uap/regexes.json");

fn build_uap() -> Option<ua_parser::Extractor<'static>> {
    let started = std::time::Instant::now();
    let regexes: ua_parser::Regexes<'static> = match serde_json::from_str(REGEXES) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "embedded uap regexes do not parse; only tool clients are recognised");
            return None;
        }
    };
    // Device regexes are not needed: the OS tells desktop from mobile, and skipping them halves
    // the start-up cost.
    let regexes = ua_parser::Regexes {
        device_parsers: Vec::new(),
        ..regexes
    };
    match ua_parser::Extractor::try_from(regexes) {
        Ok(x) => {
            tracing::debug!(ms = started.elapsed().as_millis() as u64, "uap regexes compiled");
            Some(x)
        }
        Err(e) => {
            tracing::error!(error = %e, "uap regexes do not compile; only tool clients are recognised");
            None
        }
    }
}

/// The parser. Cheap to create: the compiled regexes are shared by the whole process.
#[derive(Debug, Clone, Copy, Default)]
pub struct UaParser;

impl UaParser {
    pub fn new() -> Self {
        UaParser
    }

    /// Compiles the regexes on a background thread so that the first parse does not wait
    /// (once per process; later calls do nothing).
    pub fn warm_up() {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(|| {
            if UAP.get().is_none() {
                std::thread::spawn(|| {
                    UAP.get_or_init(build_uap);
                });
            }
        });
    }

    pub fn parse(&self, ua: &str) -> Device {
        let raw = ua.to_owned();
        if let Some((family, class)) = tool_client(ua) {
            return Device {
                raw,
                family: family.into(),
                major: version_after(ua, family),
                os: "Other".into(),
                form: "other",
                class,
                kind_id: 0,
            }
            .with_kind_id();
        }
        let Some(x) = UAP.get_or_init(build_uap).as_ref() else {
            return Device {
                raw,
                family: "Other".into(),
                major: None,
                os: "Other".into(),
                form: "other",
                class: DeviceClass::Unknown,
                kind_id: 0,
            }
            .with_kind_id();
        };
        let browser = x.ua.extract(ua);
        let os = x.os.extract(ua);
        let family = browser
            .as_ref()
            .map(|b| b.family.clone())
            .unwrap_or(Cow::Borrowed("Other"))
            .into_owned();
        let major = browser.as_ref().and_then(|b| b.major).map(str::to_owned);
        let os = os.map(|o| o.os.into_owned()).unwrap_or_else(|| "Other".into());
        let form = match os.as_str() {
            "iOS" | "Android" | "iPadOS" | "Windows Phone" | "HarmonyOS" => "mobile",
            "Other" => "other",
            _ => "desktop",
        };
        let lower = family.to_ascii_lowercase();
        let class = if lower.contains("headless") {
            DeviceClass::Headless
        } else if lower.contains("bot") || lower.contains("spider") || lower.contains("crawler") {
            DeviceClass::Bot
        } else if family == "Other" && os == "Other" {
            DeviceClass::Unknown
        } else {
            DeviceClass::Browser
        };
        Device {
            raw,
            family,
            major,
            os,
            form,
            class,
            kind_id: 0,
        }
        .with_kind_id()
    }
}

fn version_after(ua: &str, family: &str) -> Option<String> {
    let lower = ua.to_ascii_lowercase();
    let at = lower.find(&family.to_ascii_lowercase())? + family.len();
    let rest = ua.get(at..)?.strip_prefix('/')?;
    let v: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_and_tools() {
        let p = UaParser::new();
        let chrome = p.parse(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
        );
        assert_eq!(
            (chrome.family.as_str(), chrome.os.as_str(), chrome.class),
            ("Chrome", "Mac OS X", DeviceClass::Browser)
        );
        assert_eq!(chrome.major.as_deref(), Some("126"));
        let iphone = p.parse(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
        );
        assert_eq!((iphone.os.as_str(), iphone.form), ("iOS", "mobile"));
        for (ua, family, class) in [
            ("python-requests/2.31.0", "python-requests", DeviceClass::Tool),
            ("curl/8.5.0", "curl", DeviceClass::Tool),
            ("Go-http-client/2.0", "Go-http-client", DeviceClass::Tool),
            ("okhttp/4.12.0", "okhttp", DeviceClass::Tool),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36",
                "HeadlessChrome",
                DeviceClass::Headless,
            ),
        ] {
            let d = p.parse(ua);
            assert_eq!((d.family.as_str(), d.class), (family, class), "{ua}");
            assert!(d.is_scripted());
        }
        assert_eq!(p.parse("curl/8.5.0").major.as_deref(), Some("8"));
        let chrome127 = p.parse(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36",
        );
        assert!(
            chrome.same_kind(&chrome127),
            "a browser update is not a device change"
        );
        assert!(!chrome.same_kind(&iphone));
        assert_eq!(p.parse("").class, DeviceClass::Unknown);
    }
}
