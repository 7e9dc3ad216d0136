//! The report as a document: headings, paragraphs, lists, tables and figures, built once
//! and rendered to Markdown (`report.md`, charts linked as files) and to one
//! self-contained HTML page (`report.html`, charts inlined as `<svg>`).

use std::fmt::Write as _;
use std::path::Path;

use super::ReportError;

#[derive(Clone, Debug)]
pub(super) enum Inline {
    Text(String),
    Bold(String),
    Code(String),
}

pub(super) type Cell = Vec<Inline>;

#[derive(Debug)]
pub(super) enum Block {
    Heading(u8, String),
    Para(Vec<Inline>),
    List(Vec<Vec<Inline>>),
    Table {
        head: Vec<Cell>,
        rows: Vec<Vec<Cell>>,
    },
    /// Index into `Document::charts`.
    Figure(usize),
}

#[derive(Debug)]
pub(super) struct Chart {
    pub(super) file: String,
    pub(super) caption: String,
    pub(super) svg: String,
}

#[derive(Debug)]
pub(super) struct Document {
    pub(super) title: String,
    pub(super) blocks: Vec<Block>,
    pub(super) charts: Vec<Chart>,
}

pub(super) fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

pub(super) fn cell(s: impl Into<String>) -> Cell {
    vec![text(s)]
}

pub(super) fn add_chart(
    doc: &mut Document,
    out_dir: &Path,
    file: String,
    caption: String,
    svg: Result<String, String>,
) -> Result<(), ReportError> {
    let svg = svg.map_err(|problem| ReportError::Chart {
        path: out_dir.join(&file),
        problem,
    })?;
    doc.charts.push(Chart { file, caption, svg });
    doc.blocks.push(Block::Figure(doc.charts.len() - 1));
    Ok(())
}

pub(super) fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '`' | '[' | ']' | '<' | '>' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn md_inline(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for i in inlines {
        match i {
            Inline::Text(t) => out.push_str(&md_escape(t)),
            Inline::Bold(t) => {
                let _ = write!(out, "**{}**", md_escape(t));
            }
            Inline::Code(t) => {
                let fence = if t.contains('`') { "`` " } else { "`" };
                let close = if t.contains('`') { " ``" } else { "`" };
                let _ = write!(out, "{fence}{t}{close}");
            }
        }
    }
    out.replace('\n', " ")
}

pub(super) fn render_markdown(doc: &Document) -> String {
    let mut out = format!("# {}\n\n", md_escape(&doc.title));
    for block in &doc.blocks {
        match block {
            Block::Heading(level, t) => {
                let _ = writeln!(
                    out,
                    "{} {}\n",
                    "#".repeat(usize::from(*level)),
                    md_escape(t)
                );
            }
            Block::Para(inl) => {
                let _ = writeln!(out, "{}\n", md_inline(inl));
            }
            Block::List(items) => {
                for item in items {
                    let _ = writeln!(out, "- {}", md_inline(item));
                }
                out.push('\n');
            }
            Block::Table { head, rows } => {
                let row_text = |cells: &[Cell]| {
                    let cells: Vec<String> = cells.iter().map(|c| md_inline(c)).collect();
                    format!("| {} |", cells.join(" | "))
                };
                let _ = writeln!(out, "{}", row_text(head));
                let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
                for row in rows {
                    let _ = writeln!(out, "{}", row_text(row));
                }
                out.push('\n');
            }
            Block::Figure(i) => {
                let c = &doc.charts[*i];
                let _ = writeln!(out, "![{}]({})\n", md_escape(&c.caption), c.file);
                let _ = writeln!(out, "*{}*\n", md_escape(&c.caption));
            }
        }
    }
    out
}

pub(super) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn html_inline(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for i in inlines {
        match i {
            Inline::Text(t) => out.push_str(&html_escape(t)),
            Inline::Bold(t) => {
                let _ = write!(out, "<strong>{}</strong>", html_escape(t));
            }
            Inline::Code(t) => {
                let _ = write!(out, "<code>{}</code>", html_escape(t));
            }
        }
    }
    out
}

pub(super) const CSS: &str = "\
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2em auto; \
max-width: 1040px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #eee; padding-bottom: .15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .3em .6em; text-align: right; vertical-align: top; }
th { background: #f4f4f4; }
td:first-child, th:first-child { text-align: left; }
td.t { text-align: left; }
code { background: #f4f4f4; padding: 0 .25em; border-radius: 3px; }
figure { margin: 1em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
";

pub(super) fn render_html(doc: &Document) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{CSS}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        html_escape(&doc.title),
        html_escape(&doc.title)
    );
    for block in &doc.blocks {
        match block {
            Block::Heading(level, t) => {
                let _ = writeln!(out, "<h{level}>{}</h{level}>", html_escape(t));
            }
            Block::Para(inl) => {
                let _ = writeln!(out, "<p>{}</p>", html_inline(inl));
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for item in items {
                    let _ = writeln!(out, "<li>{}</li>", html_inline(item));
                }
                out.push_str("</ul>\n");
            }
            Block::Table { head, rows } => {
                out.push_str("<table>\n<thead><tr>");
                for c in head {
                    let _ = write!(out, "<th>{}</th>", html_inline(c));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for c in row {
                        // Numbers align right, words left.
                        let numeric = c.first().is_none_or(|i| match i {
                            Inline::Text(t) | Inline::Bold(t) | Inline::Code(t) => t
                                .chars()
                                .next()
                                .is_none_or(|ch| ch.is_ascii_digit() || matches!(ch, '—' | '-')),
                        });
                        let class = if numeric { "" } else { " class=\"t\"" };
                        let _ = write!(out, "<td{class}>{}</td>", html_inline(c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::Figure(i) => {
                let c = &doc.charts[*i];
                let _ = writeln!(
                    out,
                    "<figure>\n{}\n<figcaption>{} ({})</figcaption>\n</figure>",
                    inline_svg(&c.svg),
                    html_escape(&c.caption),
                    html_escape(&c.file)
                );
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// The SVG without an XML prolog, ready to inline in HTML.
pub(super) fn inline_svg(svg: &str) -> &str {
    let svg = svg.trim();
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}
