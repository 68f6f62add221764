//! Workflow code shown highlighted: Python through `syntect`'s grammar, as classed spans
//! (`hl-keyword`, `hl-string`, …; the colours are in `assets/app.css`), never inline styles.
//!
//! The code was written by whoever holds `workflows:write`: `syntect` HTML-escapes every piece of
//! text it emits, and the class names come from its grammar, never from the code. The result is
//! a [`HighlightedCode`], the only value besides [`crate::markdown::SafeHtml`] that templates
//! render with `|safe`. Code it cannot highlight (too large, a grammar failure) is escaped here
//! and shown plain.

use std::sync::LazyLock;

use syntect::html::{ClassStyle, ClassedHTMLGenerator};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// The grammars, loaded once, when code is first shown.
static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// Classes are prefixed so no grammar scope can collide with the console's own classes.
const STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// Beyond this (the services' limit on saved code) code is shown plain: highlighting is work
/// the server does for whoever posts the form.
const MAX_HIGHLIGHT_BYTES: usize = 256 * 1024;

/// HTML made by [`python`]: escaped code in classed spans, safe to render with `|safe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighlightedCode(String);

impl HighlightedCode {
    /// The HTML.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for HighlightedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `code` as highlighted Python, for a `<pre><code>`.
pub fn python(code: &str) -> HighlightedCode {
    if code.len() > MAX_HIGHLIGHT_BYTES {
        return plain(code);
    }
    let Some(syntax) = SYNTAXES.find_syntax_by_extension("py") else { return plain(code) };
    let mut generator = ClassedHTMLGenerator::new_with_class_style(syntax, &SYNTAXES, STYLE);
    // The grammar expects each line to end with a newline, the last one included.
    let mut text = code.replace("\r\n", "\n");
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for line in LinesWithEndings::from(&text) {
        if generator.parse_html_for_line_which_includes_newline(line).is_err() {
            return plain(code);
        }
    }
    HighlightedCode(generator.finalize())
}

/// `code` escaped, without highlighting.
fn plain(code: &str) -> HighlightedCode {
    let mut out = String::with_capacity(code.len() + 16);
    for c in code.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' => {}
            c => out.push(c),
        }
    }
    HighlightedCode(out)
}

/// How many lines `code` has (the numbered gutter beside the highlighted view).
pub fn line_count(code: &str) -> usize {
    code.lines().count().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_is_classed_spans_without_inline_styles() {
        let html = python("async def run(ctx):\n    # hi\n    return 'x'\n");
        let html = html.as_str();
        assert!(html.contains("<span class=\"hl-"), "{html}");
        assert!(html.contains("hl-comment") && html.contains("hl-string"), "{html}");
        assert!(!html.contains("style="), "{html}");
    }

    #[test]
    fn hostile_code_is_escaped_text() {
        for hostile in [
            "<script>alert(1)</script>",
            "x = \"</span><img src=x onerror=alert(1)>\"",
            "# <iframe srcdoc=\"<script>alert(1)</script>\"></iframe>\n'''<svg onload=alert(1)>'''",
            "{{7*7}} ${7*7} {% raw %}",
        ] {
            let html = python(hostile).to_string();
            for tag in ["<script", "<img", "<svg", "<iframe"] {
                assert!(!html.contains(tag), "{hostile}: {html}");
            }
            // Removing the tags gives back the code, unescaped: nothing was lost or added.
            let mut text = String::new();
            let mut in_tag = false;
            for c in html.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            let text = text
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&");
            assert_eq!(text.trim_end(), hostile, "{html}");
        }
        assert_eq!(plain("<b>&'\"").as_str(), "&lt;b&gt;&amp;&#39;&quot;");
    }

    #[test]
    fn lines_are_counted_for_the_gutter() {
        assert_eq!(line_count(""), 1);
        assert_eq!(line_count("a\nb\n"), 2);
        assert_eq!(line_count("a\r\nb\r\nc"), 3);
    }
}
