//! A paginated A4 PDF with the same content as the HTML report: text laid out with the embedded
//! DejaVu Sans (measured with its own metrics, wrapped, tables split across pages with their
//! header repeated) and the charts as vector graphics, converted from the very SVGs `render/`
//! produced (krilla-svg over usvg).
//!
//! Layout is a first pass into a list of drawing operations per page; the second pass draws them
//! with krilla. Keeping them apart avoids juggling krilla's borrowed page surfaces while deciding
//! where a page ends, and lets the footer say "page i of n".

use std::sync::Arc;

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::text::{Font, TextDirection};
use krilla_svg::{SurfaceExt, SvgSettings};

use super::{Error, ReportData, clean, fmt_time, printed_timeline, severity_label};

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 48.0;
const TOP: f32 = MARGIN;
const BOTTOM: f32 = PAGE_H - MARGIN - 14.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;

type Rgb = (u8, u8, u8);
const INK: Rgb = (27, 31, 36);
const MUTED: Rgb = (91, 100, 112);
const RULE: Rgb = (201, 206, 214);
const HEADER_BG: Rgb = (240, 242, 245);
const OK: Rgb = (30, 122, 60);
const BAD: Rgb = (185, 28, 28);

enum Op {
    Text {
        x: f32,
        baseline: f32,
        size: f32,
        bold: bool,
        color: Rgb,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        color: Rgb,
    },
    Line {
        x1: f32,
        y1: f32,
        x2: f32,
        y2: f32,
        color: Rgb,
    },
    Svg {
        tree: usize,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

struct Metrics {
    regular: ttf_parser::Face<'static>,
    bold: ttf_parser::Face<'static>,
}

impl Metrics {
    fn width(&self, text: &str, size: f32, bold: bool) -> f32 {
        let face = if bold { &self.bold } else { &self.regular };
        let upem = f32::from(face.units_per_em());
        text.chars()
            .map(|c| {
                face.glyph_index(c)
                    .or_else(|| face.glyph_index('?'))
                    .and_then(|g| face.glyph_hor_advance(g))
                    .map(f32::from)
                    .unwrap_or(upem * 0.6)
            })
            .sum::<f32>()
            * size
            / upem
    }

    /// Greedy word wrap; words wider than the line are broken between characters.
    fn wrap(&self, text: &str, width: f32, size: f32, bold: bool) -> Vec<String> {
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for word in para.split_whitespace() {
                let candidate = if line.is_empty() {
                    word.to_string()
                } else {
                    format!("{line} {word}")
                };
                if self.width(&candidate, size, bold) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                if self.width(word, size, bold) <= width {
                    line = word.to_string();
                } else {
                    for c in word.chars() {
                        line.push(c);
                        if self.width(&line, size, bold) > width {
                            let last = line.pop();
                            lines.push(std::mem::take(&mut line));
                            line.extend(last);
                        }
                    }
                }
            }
            lines.push(line);
        }
        if lines.is_empty() {
            lines.push(String::new());
        }
        lines
    }
}

struct Layout {
    m: Metrics,
    pages: Vec<Vec<Op>>,
    y: f32,
    trees: Vec<usvg::Tree>,
    svg_options: usvg::Options<'static>,
}

impl Layout {
    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    fn ensure(&mut self, h: f32) {
        if self.y + h > BOTTOM && self.y > TOP {
            self.new_page();
        }
    }

    fn text_at(&mut self, x: f32, top: f32, size: f32, bold: bool, color: Rgb, text: String) {
        self.ops().push(Op::Text {
            x,
            baseline: top + size * 0.93,
            size,
            bold,
            color,
            text,
        });
    }

    fn heading(&mut self, text: &str, size: f32) {
        self.ensure(size * 4.0);
        self.y += size * 0.6;
        for line in self.m.wrap(&clean(text, 300), CONTENT_W, size, true) {
            self.text_at(MARGIN, self.y, size, true, INK, line);
            self.y += size * 1.3;
        }
        let y = self.y;
        self.ops().push(Op::Line {
            x1: MARGIN,
            y1: y,
            x2: MARGIN + CONTENT_W,
            y2: y,
            color: RULE,
        });
        self.y += size * 0.5;
    }

    fn para(&mut self, text: &str, size: f32, bold: bool, color: Rgb) {
        self.para_at(MARGIN, CONTENT_W, text, size, bold, color);
    }

    fn para_at(&mut self, x: f32, width: f32, text: &str, size: f32, bold: bool, color: Rgb) {
        let lh = size * 1.35;
        for line in self.m.wrap(&clean(text, 20_000), width, size, bold) {
            self.ensure(lh);
            self.text_at(x, self.y, size, bold, color, line);
            self.y += lh;
        }
        self.y += size * 0.35;
    }

    /// A table whose columns take the given fractions of the width; the header repeats on each
    /// page the table spans.
    fn table(&mut self, headers: &[&str], fractions: &[f32], rows: &[Vec<String>], size: f32) {
        let lh = size * 1.3;
        let pad = 3.0;
        let widths: Vec<f32> = fractions.iter().map(|f| f * CONTENT_W).collect();
        let header_h = lh + 2.0 * pad;
        self.ensure(header_h + lh + 2.0 * pad);
        // A key-value table (the summary) has no header row.
        let has_header = headers.iter().any(|h| !h.is_empty());
        if has_header {
            self.table_header(headers, &widths, size, lh, pad);
        }
        for row in rows {
            let cells: Vec<Vec<String>> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| self.m.wrap(&clean(c, 4_000), w - 2.0 * pad, size, false))
                .collect();
            let lines = cells.iter().map(Vec::len).max().unwrap_or(1);
            let h = lines as f32 * lh + 2.0 * pad;
            if self.y + h > BOTTOM {
                self.new_page();
                if has_header {
                    self.table_header(headers, &widths, size, lh, pad);
                }
            }
            let mut x = MARGIN;
            let top = self.y;
            for (cell, w) in cells.into_iter().zip(&widths) {
                for (i, line) in cell.into_iter().enumerate() {
                    self.text_at(x + pad, top + pad + i as f32 * lh, size, false, INK, line);
                }
                x += w;
            }
            self.y += h;
            let y = self.y;
            self.ops().push(Op::Line {
                x1: MARGIN,
                y1: y,
                x2: MARGIN + CONTENT_W,
                y2: y,
                color: RULE,
            });
        }
        self.y += 6.0;
    }

    fn table_header(&mut self, headers: &[&str], widths: &[f32], size: f32, lh: f32, pad: f32) {
        let top = self.y;
        self.ops().push(Op::Rect {
            x: MARGIN,
            y: top,
            w: CONTENT_W,
            h: lh + 2.0 * pad,
            color: HEADER_BG,
        });
        let mut x = MARGIN;
        for (h, w) in headers.iter().zip(widths) {
            self.text_at(x + pad, top + pad, size, true, INK, (*h).to_string());
            x += w;
        }
        self.y += lh + 2.0 * pad;
    }

    /// An SVG from `render/`, scaled to the content width (or `max_h`).
    fn svg(&mut self, svg: &str, max_h: f32) -> Result<(), Error> {
        let tree = usvg::Tree::from_str(svg, &self.svg_options)
            .map_err(|e| Error::Pdf(format!("a chart is not valid SVG: {e}")))?;
        let (tw, th) = (tree.size().width(), tree.size().height());
        if tw <= 0.0 || th <= 0.0 {
            return Ok(());
        }
        let mut w = CONTENT_W;
        let mut h = w * th / tw;
        if h > max_h {
            h = max_h;
            w = h * tw / th;
        }
        self.ensure(h + 4.0);
        self.trees.push(tree);
        let idx = self.trees.len() - 1;
        let y = self.y;
        self.ops().push(Op::Svg {
            tree: idx,
            x: MARGIN + (CONTENT_W - w) / 2.0,
            y,
            w,
            h,
        });
        self.y += h + 6.0;
        Ok(())
    }
}

fn face(bytes: &'static [u8]) -> Result<ttf_parser::Face<'static>, Error> {
    ttf_parser::Face::parse(bytes, 0).map_err(|e| Error::Pdf(format!("embedded font: {e}")))
}

pub(super) fn render(d: &ReportData) -> Result<Vec<u8>, Error> {
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(REGULAR.to_vec());
    db.load_font_data(BOLD.to_vec());
    db.set_sans_serif_family("DejaVu Sans");
    let svg_options = usvg::Options {
        font_family: "DejaVu Sans".into(),
        fontdb: Arc::new(db),
        ..Default::default()
    };
    let mut l = Layout {
        m: Metrics {
            regular: face(REGULAR)?,
            bold: face(BOLD)?,
        },
        pages: vec![Vec::new()],
        y: TOP,
        trees: Vec::new(),
        svg_options,
    };
    lay_out(&mut l, d)?;
    draw(d, l)
}

fn lay_out(l: &mut Layout, d: &ReportData) -> Result<(), Error> {
    let inc = &d.incident;
    for line in l.m.wrap(&clean(&inc.title, 300), CONTENT_W, 20.0, true) {
        l.text_at(MARGIN, l.y, 20.0, true, INK, line);
        l.y += 26.0;
    }
    l.para(
        &format!(
            "Incident report {} · generated {} by {} with {}",
            inc.id,
            fmt_time(d.generated_at),
            d.generated_by,
            d.generator
        ),
        9.0,
        false,
        MUTED,
    );

    l.heading("Summary", 14.0);
    let verified = d.actions.iter().filter(|a| a.verified).count();
    let mut summary = vec![
        vec!["Severity".into(), severity_label(inc.severity).into()],
        vec!["Status".into(), inc.status.as_str().into()],
        vec!["Profile".into(), inc.profile.clone()],
        vec![
            "Opened".into(),
            format!("{} by {}", fmt_time(inc.created_at), inc.created_by),
        ],
        vec!["Last change".into(), fmt_time(inc.updated_at)],
    ];
    if let Some(t) = inc.closed_at {
        summary.push(vec!["Closed".into(), fmt_time(t)]);
    }
    summary.extend([
        vec![
            "Affected users".into(),
            d.users
                .iter()
                .map(|u| format!("{} ({})", u.username, u.id))
                .collect::<Vec<_>>()
                .join(", "),
        ],
        vec!["Affected sessions".into(), d.sessions.len().to_string()],
        vec!["Findings".into(), d.findings.len().to_string()],
        vec![
            "Actions".into(),
            format!("{} ({verified} verified)", d.actions.len()),
        ],
    ]);
    l.table(&["", ""], &[0.25, 0.75], &summary, 9.5);
    if !inc.notes.trim().is_empty() {
        l.para("Analyst notes", 10.5, true, INK);
        l.para(&inc.notes, 9.5, false, INK);
    }

    l.heading("Findings", 14.0);
    if d.findings.is_empty() {
        l.para("No findings.", 10.0, false, INK);
    }
    for f in &d.findings {
        l.ensure(60.0);
        l.para(
            &format!(
                "{} · {} · score {}",
                severity_label(f.severity),
                f.kind.as_str(),
                f.score
            ),
            11.0,
            true,
            if f.severity >= crate::detect::Severity::High {
                BAD
            } else {
                INK
            },
        );
        l.para(f.finding["explanation"].as_str().unwrap_or(""), 9.5, false, INK);
        l.para(
            &format!(
                "User {} · session {} · detected {} · last seen {} · id {}",
                f.username.as_deref().unwrap_or(&f.user_id),
                f.session_id.as_deref().unwrap_or("-"),
                fmt_time(f.detected_at),
                fmt_time(f.last_seen),
                f.id
            ),
            8.5,
            false,
            MUTED,
        );
        if let Some(ev) = f.finding["evidence"].as_array().filter(|e| !e.is_empty()) {
            let rows: Vec<Vec<String>> = ev
                .iter()
                .map(|e| {
                    vec![
                        e["kind"].as_str().unwrap_or("").to_string(),
                        e["score"].as_u64().unwrap_or(0).to_string(),
                        e["explanation"].as_str().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            l.table(
                &["Evidence", "Score", "Explanation"],
                &[0.2, 0.08, 0.72],
                &rows,
                8.5,
            );
        }
    }

    l.heading("Actions taken", 14.0);
    if d.actions.is_empty() {
        l.para(
            "No containment action was recorded for these sessions and users.",
            10.0,
            false,
            INK,
        );
    }
    for a in &d.actions {
        l.ensure(50.0);
        let (outcome, color) = match (a.outcome.as_str(), a.verified) {
            ("succeeded", true) => ("succeeded, verified".to_string(), OK),
            ("succeeded", false) => ("succeeded, NOT verified".to_string(), BAD),
            _ => (format!("failed: {}", a.error.as_deref().unwrap_or("")), BAD),
        };
        l.para(&format!("{} {}", a.kind, a.target), 11.0, true, INK);
        l.para(
            &format!(
                "{outcome} · {} by {} · audit entry #{}",
                fmt_time(a.at),
                a.actor,
                a.audit_seq
            ),
            9.5,
            true,
            color,
        );
        for c in &a.checks {
            l.para_at(
                MARGIN + 12.0,
                CONTENT_W - 12.0,
                &format!("[{}] {}", if c.ok { "ok" } else { "FAILED" }, c.what),
                9.0,
                false,
                if c.ok { INK } else { BAD },
            );
        }
        if let Some(r) = &a.residual {
            l.para(
                &format!(
                    "Residual exposure: {}{}",
                    match r.until {
                        Some(t) => format!("until {} — ", fmt_time(t)),
                        None => "none — ".into(),
                    },
                    r.note
                ),
                9.0,
                false,
                INK,
            );
        }
    }

    if !d.charts.is_empty() {
        l.heading("Activity and places", 14.0);
        for c in &d.charts {
            l.ensure(200.0);
            l.para(&c.title, 10.5, true, INK);
            l.svg(&c.rate_svg, 220.0)?;
            l.svg(&c.map_svg, 330.0)?;
        }
    }

    let (rows, omitted) = printed_timeline(d);
    l.heading("Timeline", 14.0);
    if omitted > 0 {
        l.para(
            &format!("{omitted} routine requests are left out here; the CSV export has every item."),
            8.5,
            false,
            MUTED,
        );
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|t| {
            let place = match (&t.place, &t.ip) {
                (Some(p), Some(ip)) => format!("{p} ({ip})"),
                (Some(p), None) => p.clone(),
                (None, Some(ip)) => ip.clone(),
                (None, None) => String::new(),
            };
            vec![
                t.at.format("%Y-%m-%d %H:%M:%S").to_string(),
                t.source.as_str().to_string(),
                t.subject.clone(),
                t.summary.clone(),
                place,
            ]
        })
        .collect();
    l.table(
        &["Time (UTC)", "Source", "Subject", "What", "Where"],
        &[0.17, 0.08, 0.17, 0.38, 0.2],
        &rows,
        7.5,
    );

    l.heading("Affected sessions", 14.0);
    let rows: Vec<Vec<String>> = d
        .sessions
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                s.username.clone().unwrap_or_else(|| s.user_id.clone()),
                fmt_time(s.started_at),
                [s.city.as_deref(), s.country.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", "),
                format!("{} ({} denied)", s.events, s.denied),
                match s.revoked_at {
                    Some(t) => format!("revoked {}", fmt_time(t)),
                    None if s.active => "active".into(),
                    None => "ended".into(),
                },
            ]
        })
        .collect();
    l.table(
        &["Session", "User", "Started", "Place", "Requests", "State"],
        &[0.2, 0.14, 0.2, 0.14, 0.12, 0.2],
        &rows,
        8.0,
    );
    if let Some(a) = &d.geoip_attribution {
        l.para(a, 8.0, false, MUTED);
    }
    l.para(
        "This report is signed: check it with `gatehouse report verify` and the manifest next to it.",
        8.0,
        false,
        MUTED,
    );
    Ok(())
}

fn fill(color: Rgb) -> Option<Fill> {
    Some(Fill {
        paint: rgb::Color::new(color.0, color.1, color.2).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    })
}

fn draw(d: &ReportData, l: Layout) -> Result<Vec<u8>, Error> {
    let regular = Font::new(REGULAR.into(), 0).ok_or_else(|| Error::Pdf("embedded font".into()))?;
    let bold = Font::new(BOLD.into(), 0).ok_or_else(|| Error::Pdf("embedded font".into()))?;
    let mut doc = Document::new();
    doc.set_metadata(
        krilla::metadata::Metadata::new()
            .title(clean(&d.incident.title, 300))
            .creator(d.generator.clone())
            .producer(d.generator.clone()),
    );
    let total = l.pages.len();
    let size = Size::from_wh(PAGE_W, PAGE_H).ok_or_else(|| Error::Pdf("page size".into()))?;
    for (i, ops) in l.pages.into_iter().enumerate() {
        let mut page = doc.start_page_with(PageSettings::new(size));
        let mut s = page.surface();
        let footer = format!(
            "{} · {} · page {} of {}",
            d.incident.id,
            clean(&d.incident.title, 80),
            i + 1,
            total
        );
        let footer_ops = [Op::Text {
            x: MARGIN,
            baseline: PAGE_H - MARGIN + 8.0,
            size: 7.5,
            bold: false,
            color: MUTED,
            text: footer,
        }];
        for op in ops.iter().chain(footer_ops.iter()) {
            match op {
                Op::Text {
                    x,
                    baseline,
                    size,
                    bold: b,
                    color,
                    text,
                } => {
                    if text.is_empty() {
                        continue;
                    }
                    s.set_fill(fill(*color));
                    s.draw_text(
                        Point::from_xy(*x, *baseline),
                        if *b { bold.clone() } else { regular.clone() },
                        *size,
                        text,
                        false,
                        TextDirection::Auto,
                    );
                }
                Op::Rect { x, y, w, h, color } => {
                    let mut pb = PathBuilder::new();
                    if let Some(r) = Rect::from_xywh(*x, *y, *w, *h) {
                        pb.push_rect(r);
                    }
                    if let Some(p) = pb.finish() {
                        s.set_stroke(None);
                        s.set_fill(fill(*color));
                        s.draw_path(&p);
                    }
                }
                Op::Line {
                    x1,
                    y1,
                    x2,
                    y2,
                    color,
                } => {
                    let mut pb = PathBuilder::new();
                    pb.move_to(*x1, *y1);
                    pb.line_to(*x2, *y2);
                    if let Some(p) = pb.finish() {
                        s.set_fill(None);
                        s.set_stroke(Some(Stroke {
                            paint: rgb::Color::new(color.0, color.1, color.2).into(),
                            width: 0.6,
                            ..Default::default()
                        }));
                        s.draw_path(&p);
                        s.set_stroke(None);
                    }
                }
                Op::Svg { tree, x, y, w, h } => {
                    if let (Some(t), Some(sz)) = (l.trees.get(*tree), Size::from_wh(*w, *h)) {
                        s.push_transform(&Transform::from_translate(*x, *y));
                        s.draw_svg(t, sz, SvgSettings::default());
                        s.pop();
                    }
                }
            }
        }
        s.finish();
        page.finish();
    }
    doc.finish().map_err(|e| Error::Pdf(format!("{e:?}")))
}
