//! Tables for people, JSON for scripts. Backend strings are printed with control characters
//! removed so a hostile user agent cannot rewrite the analyst's terminal.

use serde::Serialize;

pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Removes control characters (escape sequences included) and caps the width.
pub fn clean(s: &str, max: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    if s.chars().filter(|c| !c.is_control()).count() > max {
        out.pop();
        out.push('…');
    }
    out
}

pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_uppercase()).collect());
    for row in rows {
        line(row.iter().map(|c| clean(c, 60)).collect());
    }
    if rows.is_empty() {
        println!("(none)");
    }
}

pub fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Says how old the cached data is (on stderr, so `--json` output stays clean).
pub async fn data_age(console: &gatehouse_core::Console, profile: &str) {
    let Ok(store) = console.store().await else { return };
    match gatehouse_core::sync::data_age(store, profile).await {
        Ok(age) => match age.last_sync {
            Some(t) => {
                let mins = (chrono::Utc::now() - t).num_minutes();
                eprintln!(
                    "data from the local store, last synced {} ({mins} min ago)",
                    time(Some(t))
                );
            }
            None => eprintln!("never synced: run `gatehouse sync`"),
        },
        Err(e) => eprintln!("cannot tell how old the data is: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_strips_escape_sequences_and_caps() {
        assert_eq!(clean("ok\u{1b}[2Jwiped", 60), "ok[2Jwiped");
        assert_eq!(clean("abcdef", 4), "abc…");
    }
}
