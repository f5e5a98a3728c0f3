//! Colours. Calm, muted surfaces so the few things that matter (severities, refused requests)
//! stand out; every colour that carries meaning has at least 3:1 contrast against the background
//! of both themes (the WCAG level for graphics), which a test checks.
//!
//! Severity colours are the same in both themes, so "orange means high" holds on screen and in a
//! printed report alike.

use plotters::style::RGBColor;

use super::Theme;
use crate::detect::Severity;

pub struct Palette {
    pub background: RGBColor,
    pub text: RGBColor,
    pub muted: RGBColor,
    pub grid: RGBColor,
    pub axis: RGBColor,
    pub requests: RGBColor,
    pub denied: RGBColor,
    pub band: RGBColor,
    pub action: RGBColor,
    /// Points and legs without a severity.
    pub neutral: RGBColor,
    pub ocean: RGBColor,
    pub land: RGBColor,
    pub graticule: RGBColor,
}

const DARK: Palette = Palette {
    background: RGBColor(0x16, 0x1A, 0x21),
    text: RGBColor(0xD5, 0xDA, 0xE2),
    muted: RGBColor(0x8B, 0x95, 0xA5),
    grid: RGBColor(0x2A, 0x31, 0x3C),
    axis: RGBColor(0x4A, 0x53, 0x62),
    requests: RGBColor(0x5A, 0x9B, 0xB0),
    denied: RGBColor(0xB5, 0x8B, 0xE0),
    band: RGBColor(0x9A, 0xA5, 0xB4),
    action: RGBColor(0x2E, 0x9E, 0x7A),
    neutral: RGBColor(0x8A, 0x94, 0xA6),
    ocean: RGBColor(0x12, 0x17, 0x1E),
    land: RGBColor(0x2B, 0x33, 0x3E),
    graticule: RGBColor(0x1D, 0x24, 0x2D),
};

const LIGHT: Palette = Palette {
    background: RGBColor(0xFF, 0xFF, 0xFF),
    text: RGBColor(0x1F, 0x24, 0x30),
    muted: RGBColor(0x5B, 0x64, 0x72),
    grid: RGBColor(0xE3, 0xE7, 0xED),
    axis: RGBColor(0x9A, 0xA3, 0xAF),
    requests: RGBColor(0x3C, 0x7F, 0x96),
    denied: RGBColor(0x7D, 0x4F, 0xC4),
    band: RGBColor(0x6B, 0x76, 0x85),
    action: RGBColor(0x23, 0x94, 0x6E),
    neutral: RGBColor(0x5B, 0x64, 0x72),
    ocean: RGBColor(0xEE, 0xF3, 0xF8),
    land: RGBColor(0xD6, 0xDC, 0xE3),
    graticule: RGBColor(0xDF, 0xE6, 0xEE),
};

pub fn palette(theme: Theme) -> &'static Palette {
    match theme {
        Theme::Dark => &DARK,
        Theme::Light => &LIGHT,
    }
}

/// Blue, amber, orange, red: ordered, and distinguishable with the common colour-vision
/// deficiencies by lightness as well as hue.
pub fn severity(severity: Severity) -> RGBColor {
    match severity {
        Severity::Low => RGBColor(0x3B, 0x82, 0xC4),
        Severity::Medium => RGBColor(0xB8, 0x86, 0x0B),
        Severity::High => RGBColor(0xE0, 0x66, 0x1F),
        Severity::Critical => RGBColor(0xD7, 0x26, 0x3D),
    }
}

/// The colour of something that may or may not have a severity.
pub fn severity_or(severity: Option<Severity>, fallback: RGBColor) -> RGBColor {
    severity.map_or(fallback, self::severity)
}

/// Lower-case names for legends.
pub fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luminance(c: RGBColor) -> f64 {
        let channel = |v: u8| {
            let v = f64::from(v) / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c.0) + 0.7152 * channel(c.1) + 0.0722 * channel(c.2)
    }

    fn contrast(a: RGBColor, b: RGBColor) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn meaningful_colours_contrast_with_both_backgrounds() {
        for theme in [Theme::Dark, Theme::Light] {
            let p = palette(theme);
            for s in Severity::ALL {
                let ratio = contrast(severity(s), p.background);
                assert!(ratio >= 3.0, "{s:?} on {theme:?}: {ratio:.2}");
            }
            for (name, c) in [
                ("text", p.text),
                ("muted", p.muted),
                ("requests", p.requests),
                ("denied", p.denied),
                ("action", p.action),
                ("neutral", p.neutral),
            ] {
                let ratio = contrast(c, p.background);
                assert!(ratio >= 3.0, "{name} on {theme:?}: {ratio:.2}");
            }
            assert!(contrast(p.text, p.background) >= 7.0, "body text on {theme:?}");
        }
    }
}
