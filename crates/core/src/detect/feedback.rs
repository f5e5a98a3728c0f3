//! Analyst feedback and suppressions, as plain data and pure functions.
//!
//! An analyst marks a finding a true or a false positive. A false positive can become a
//! suppression scoped to the user and one attribute of what fired: a place (country, optionally
//! city: "Frankfurt is this user's VPN exit"), a network (AS number) or a client (browser or tool
//! family, optionally OS). Suppressions never silence everything about a user, only signals whose
//! evidence involves that attribute, on either side of a comparison.
//!
//! Persistence belongs to the store: it saves [`Feedback`] and [`Suppression`] values and hands
//! the current list to [`super::Engine::set_suppressions`] (new signals) and to [`rescore`]
//! (findings already made).

use serde::{Deserialize, Serialize};

use super::{Config, Evidence, Finding, Kind, Side};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    TruePositive,
    FalsePositive,
}

/// An analyst's verdict on one finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
pub struct Feedback {
    pub finding_id: String,
    pub verdict: Verdict,
    pub note: Option<String>,
}

/// What a suppression is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SuppressionScope {
    /// A country (as the source or GeoIP spells it), optionally narrowed to a city.
    Place {
        country: String,
        city: Option<String>,
    },
    Network {
        asn: u32,
    },
    /// A browser or tool family (`Chrome`, `curl`), optionally narrowed to an OS family.
    Device {
        family: String,
        os: Option<String>,
    },
}

/// "For this user, do not flag signals involving this place / network / client."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
pub struct Suppression {
    pub user: String,
    pub scope: SuppressionScope,
    /// Only these kinds are suppressed; empty means all kinds.
    #[serde(default)]
    pub kinds: Vec<Kind>,
    pub reason: Option<String>,
    /// The finding it was made from.
    pub from_finding: Option<String>,
}

impl SuppressionScope {
    fn matches_side(&self, s: &Side) -> bool {
        match self {
            SuppressionScope::Place { country, city } => s.place.as_ref().is_some_and(|p| {
                p.country
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(country))
                    && city
                        .as_deref()
                        .is_none_or(|want| p.city.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(want)))
            }),
            SuppressionScope::Network { asn } => s.network.as_ref().is_some_and(|n| n.asn == Some(*asn)),
            SuppressionScope::Device { family, os } => s.device.as_ref().is_some_and(|d| {
                d.family.eq_ignore_ascii_case(family)
                    && os.as_deref().is_none_or(|o| d.os.eq_ignore_ascii_case(o))
            }),
        }
    }
}

impl Suppression {
    /// Whether this suppression silences a piece of evidence about `user`.
    pub fn matches(&self, user: &str, ev: &Evidence) -> bool {
        self.user == user
            && (self.kinds.is_empty() || self.kinds.contains(&ev.kind))
            && (self.scope.matches_side(&ev.event)
                || ev.previous.as_ref().is_some_and(|p| self.scope.matches_side(p)))
    }
}

/// Which attribute of a finding to turn into a suppression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    Place,
    Network,
    Device,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FeedbackError {
    #[error("finding {0} was marked a true positive; only false positives become suppressions")]
    NotFalsePositive(String),
    #[error("feedback is about finding {feedback}, not {finding}")]
    WrongFinding { feedback: String, finding: String },
    #[error("finding {0} has no evidence with a {1} to suppress")]
    NothingToSuppress(String, &'static str),
}

/// Turns a false positive into a suppression of the attribute of its strongest evidence (the
/// side that is new for the user: the triggering event's place, network or client).
pub fn suppression_from(
    finding: &Finding,
    feedback: &Feedback,
    scope: ScopeKind,
) -> Result<Suppression, FeedbackError> {
    if feedback.finding_id != finding.id {
        return Err(FeedbackError::WrongFinding {
            feedback: feedback.finding_id.clone(),
            finding: finding.id.clone(),
        });
    }
    if feedback.verdict != Verdict::FalsePositive {
        return Err(FeedbackError::NotFalsePositive(finding.id.clone()));
    }
    let sides = finding.evidence.iter().map(|e| &e.event);
    let found = match scope {
        ScopeKind::Place => sides.filter_map(|s| s.place.as_ref()).find_map(|p| {
            p.country.clone().map(|country| SuppressionScope::Place {
                country,
                city: p.city.clone(),
            })
        }),
        ScopeKind::Network => sides
            .filter_map(|s| s.network.as_ref().and_then(|n| n.asn))
            .map(|asn| SuppressionScope::Network { asn })
            .next(),
        ScopeKind::Device => sides
            .filter_map(|s| s.device.as_ref())
            .map(|d| SuppressionScope::Device {
                family: d.family.clone(),
                os: Some(d.os.clone()),
            })
            .next(),
    };
    let found =
        found.ok_or_else(|| FeedbackError::NothingToSuppress(finding.id.clone(), scope_name(scope)))?;
    Ok(Suppression {
        user: finding.user.clone(),
        scope: found,
        kinds: Vec::new(),
        reason: feedback.note.clone(),
        from_finding: Some(finding.id.clone()),
    })
}

fn scope_name(k: ScopeKind) -> &'static str {
    match k {
        ScopeKind::Place => "place",
        ScopeKind::Network => "network",
        ScopeKind::Device => "client",
    }
}

/// Applies suppressions to findings already made: matching evidence is dropped, scores and
/// severities are recomputed, and findings left without evidence disappear.
pub fn rescore(findings: &[Finding], suppressions: &[Suppression], cfg: &Config) -> Vec<Finding> {
    let mut out = Vec::with_capacity(findings.len());
    for f in findings {
        let relevant: Vec<&Suppression> = suppressions.iter().filter(|s| s.user == f.user).collect();
        if relevant.is_empty() {
            out.push(f.clone());
            continue;
        }
        let mut g = f.clone();
        g.evidence
            .retain(|ev| !relevant.iter().any(|s| s.matches(&f.user, ev)));
        if g.evidence.is_empty() {
            continue;
        }
        g.occurrences
            .retain(|k, _| g.evidence.iter().any(|e| e.kind == *k));
        g.detected_at = g.evidence.iter().map(|e| e.at).min().unwrap_or(g.detected_at);
        g.rescore(cfg);
        out.push(g);
    }
    super::engine::sort_findings(&mut out);
    out
}

/// The verdict recorded for each finding, latest feedback winning.
pub fn verdict_of<'a>(finding_id: &str, feedback: impl IntoIterator<Item = &'a Feedback>) -> Option<Verdict> {
    feedback
        .into_iter()
        .filter(|f| f.finding_id == finding_id)
        .last()
        .map(|f| f.verdict)
}
