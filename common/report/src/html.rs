//! `results.html`: results.md's tables as HTML tables and every figure as
//! inline SVG, in one file with no external references.

use rwclip_figures::{escape, Figure};


fn cell(s: &str) -> String {
    let e = escape(s.trim());
    match e.strip_prefix("**").and_then(|r| r.strip_suffix("**")) {
        Some(bold) => format!("<b>{bold}</b>"),
        None => e,
    }
}

fn cells(line: &str) -> Vec<&str> {
    line.trim().trim_start_matches('|').trim_end_matches('|').split('|').collect()
}

/// Markdown headings, paragraphs and pipe tables as HTML.
fn markdown_html(md: &str) -> String {
    let mut html = String::new();
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with('|') {
            let start = i;
            while i < lines.len() && lines[i].starts_with('|') {
                i += 1;
            }
            let table = &lines[start..i];
            html.push_str("<table><thead><tr>");
            for c in cells(table[0]) {
                html.push_str(&format!("<th>{}</th>", cell(c)));
            }
            html.push_str("</tr></thead><tbody>");
            for row in table.iter().skip(2) {
                html.push_str("<tr>");
                for c in cells(row) {
                    html.push_str(&format!("<td>{}</td>", cell(c)));
                }
                html.push_str("</tr>");
            }
            html.push_str("</tbody></table>\n");
            continue;
        }
        if let Some(h) = line.strip_prefix("# ") {
            html.push_str(&format!("<h1>{}</h1>\n", escape(h)));
        } else if let Some(h) = line.trim_start_matches('#').strip_prefix(' ').filter(|_| line.starts_with("##")) {
            html.push_str(&format!("<h2>{}</h2>\n", escape(h)));
        } else if !line.trim().is_empty() {
            html.push_str(&format!("<p>{}</p>\n", escape(line)));
        }
        i += 1;
    }
    html
}

/// The report: `markdown` (results.md) then every figure, inline.
pub fn results_html(title: &str, markdown: &str, figures: &[Figure]) -> String {
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:80em;color:#222}}table{{border-collapse:collapse;margin:.5em 0 1.2em}}td,th{{border:1px solid #ccc;padding:.25em .6em}}th{{background:#f3f3f3}}figure{{margin:1.5em 0}}figcaption{{font-weight:600;margin-bottom:.4em}}svg{{max-width:100%;height:auto}}</style>\n</head><body>\n",
        escape(title)
    );
    html.push_str(&markdown_html(markdown));
    if !figures.is_empty() {
        html.push_str("<h2>Figures</h2>\n");
    }
    for f in figures {
        // The SVG's own XML declaration is not allowed inside HTML.
        let svg = f.svg.trim_start_matches(|c| c != '<').trim_start();
        let svg = if svg.starts_with("<?xml") { svg.split_once("?>").map_or(svg, |(_, rest)| rest.trim_start()) } else { svg };
        html.push_str(&format!("<figure id=\"{}\"><figcaption>{}</figcaption>\n{svg}\n</figure>\n", escape(&f.name), escape(&f.title)));
    }
    html.push_str("</body></html>\n");
    html
}
