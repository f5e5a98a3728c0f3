//! Text that goes into an SVG: untrusted labels made safe to show, and number formats.
//!
//! plotters escapes `< > & " '`, which keeps markup out. It passes everything else through, and
//! some characters are still a problem: C0/C1 controls and U+FFFE/U+FFFF make the document
//! ill-formed XML (a report that does not open), and bidi controls such as U+202E let a label
//! display as something other than what it is (`moc.elgoog` shown as `google.com`). So labels are
//! cleaned here, before drawing, and never escaped here (plotters would escape twice).

/// Labels longer than this many characters are cut with an ellipsis.
pub const MAX_LABEL_CHARS: usize = 48;
/// Titles may be longer than labels.
pub const MAX_TITLE_CHARS: usize = 96;

/// Makes an untrusted string safe and short enough to draw: drops control characters (XML forbids
/// most of them) and invisible formatting controls, folds whitespace runs (newlines included) into
/// one space, and cuts to `max_chars` characters (including the ellipsis).
pub fn clean(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    let mut pending_space = false;
    let mut kept = 0usize;
    let mut truncated = false;
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = true;
            continue;
        }
        if c.is_control() || is_invisible_control(c) {
            continue;
        }
        if kept >= max_chars {
            truncated = true;
            break;
        }
        if pending_space && kept > 0 {
            out.push(' ');
            kept += 1;
            if kept >= max_chars {
                truncated = true;
                break;
            }
        }
        pending_space = false;
        out.push(c);
        kept += 1;
    }
    if truncated && max_chars > 0 {
        // Remove the last kept character (and a trailing space) to make room for the ellipsis.
        out.pop();
        while out.ends_with(' ') {
            out.pop();
        }
        out.push('…');
    }
    out
}

/// Bidi controls, invisible marks and XML non-characters: none has a place in a label.
fn is_invisible_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'                  // arabic letter mark
            | '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
            | '\u{202A}'..='\u{202E}' // embeddings and overrides
            | '\u{2060}'..='\u{2069}' // word joiner, invisible operators, isolates
            | '\u{FEFF}'              // byte order mark
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotations
            | '\u{FFFE}'
            | '\u{FFFF}'
    )
}

/// Groups thousands with a space: `8950.4` → `8 950`. Rounds to whole numbers.
pub fn thousands(value: f64) -> String {
    let rounded = value.round();
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if rounded < 0.0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(d);
    }
    out
}

/// A distance: one decimal below 10 km, whole kilometres with grouped thousands above.
pub fn km(value: f64) -> String {
    if value.abs() < 10.0 {
        format!("{value:.1} km")
    } else {
        format!("{} km", thousands(value))
    }
}

/// Axis labels for counts: `950`, `1.5k`, `12k`, `3.4M`, `4.2G`.
pub fn compact_count(value: f64) -> String {
    const UNITS: [(f64, &str); 3] = [(1e9, "G"), (1e6, "M"), (1e3, "k")];
    for (scale, unit) in UNITS {
        if value.abs() >= scale {
            let scaled = value / scale;
            let text = if scaled.abs() < 10.0 && scaled.fract().abs() > 1e-9 {
                format!("{scaled:.1}")
            } else {
                format!("{scaled:.0}")
            };
            return format!("{text}{unit}");
        }
    }
    format!("{value:.0}")
}

/// A rough width of drawn text in pixels. Without fonts the layout can only estimate; this
/// errs on the wide side for Latin text so labels do not overlap.
pub fn estimated_width(s: &str, font_px: f64) -> f64 {
    s.chars().count() as f64 * font_px * 0.6
}

/// How many characters of text at `font_px` fit in `width_px`, by the same estimate.
pub fn fitting_chars(width_px: i32, font_px: f64) -> usize {
    (f64::from(width_px.max(0)) / (font_px * 0.6)).floor().max(1.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_drops_controls_and_bidi_overrides() {
        assert_eq!(clean("a\u{0}b\u{7}c\u{202E}d\u{FFFE}", 40), "abcd");
        assert_eq!(clean("  line\none\r\n\ttwo  ", 40), "line one two");
        assert_eq!(clean("\u{85}x\u{9F}", 40), "x");
    }

    #[test]
    fn clean_keeps_markup_characters_for_plotters_to_escape() {
        assert_eq!(clean("<b>&amp;\"'", 40), "<b>&amp;\"'");
    }

    #[test]
    fn clean_truncates_with_an_ellipsis() {
        assert_eq!(clean("abcdef", 4), "abc…");
        assert_eq!(clean("abcd", 4), "abcd");
        assert_eq!(clean("ab cdef", 4), "ab…");
        assert_eq!(clean(&"é".repeat(1000), 10).chars().count(), 10);
        assert_eq!(clean("abc", 0), "");
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(8950.4), "8 950");
        assert_eq!(thousands(2_140_000.0), "2 140 000");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(thousands(-1234.0), "-1 234");
        assert_eq!(km(3.25), "3.2 km");
        assert_eq!(km(8950.0), "8 950 km");
        assert_eq!(compact_count(950.0), "950");
        assert_eq!(compact_count(1500.0), "1.5k");
        assert_eq!(compact_count(12_000.0), "12k");
        assert_eq!(compact_count(2_000_000.0), "2M");
        assert_eq!(compact_count(4.2e9), "4.2G");
    }
}
