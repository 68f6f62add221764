//! Markdown to sanitized HTML: the one place the console turns text it did not write into markup.
//! Context documents, detection-rule documentation and findings are Markdown written by someone
//! else (an integration, an agent, whoever sent the alert), so the HTML is built in two layers:
//!
//! 1. `pulldown-cmark` parses the Markdown, and raw HTML in it (blocks and inline tags) is turned
//!    into text, so it is shown as written rather than interpreted; images become links to the
//!    image (the console never loads a remote image by itself: a picture in a document would tell
//!    its author when and from where an analyst read it), and
//! 2. `ammonia` cleans the result against its default allow-list (no `script`, `style`, SVG or
//!    MathML elements, no `on*` or `style` attributes), with links limited to `http`, `https` and
//!    `mailto` (`javascript:` and `data:` URLs are removed) and given
//!    `rel="noopener noreferrer"`.
//!
//! [`SafeHtml`] can only be made here, and templates mark only its output `|safe`.

use std::collections::HashSet;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd, html};

/// HTML this module produced from Markdown and sanitized: the only value templates render with
/// `|safe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafeHtml(String);

impl SafeHtml {
    /// The HTML.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SafeHtml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `markdown` as sanitized HTML.
pub fn render(markdown: &str) -> SafeHtml {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        // Raw HTML is shown as the text it is.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Image { dest_url, title, id, .. }) => {
            Event::Start(Tag::Link { link_type: LinkType::Inline, dest_url, title, id })
        }
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    });
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, events);
    SafeHtml(cleaner().clean(&unsafe_html).to_string())
}

/// Ammonia's defaults, narrowed: no images, web and mail links only.
fn cleaner() -> ammonia::Builder<'static> {
    let mut builder = ammonia::Builder::default();
    builder
        .rm_tags(["img"])
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer"))
        .strip_comments(true);
    builder
}

/// [`render`] of a text that may be absent or blank (`None` then).
pub fn render_opt(markdown: Option<&str>) -> Option<SafeHtml> {
    markdown.filter(|m| !m.trim().is_empty()).map(render)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(md: &str) -> String {
        render(md).as_str().to_string()
    }

    #[test]
    fn markdown_becomes_html() {
        let out =
            html("# Title\n\n*very* **bold** `code`\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
        for part in [
            "<h1>Title</h1>",
            "<em>very</em>",
            "<strong>bold</strong>",
            "<code>code</code>",
            "<li>one</li>",
            "<table>",
            "<td>1</td>",
        ] {
            assert!(out.contains(part), "{part} missing in {out}");
        }
    }

    #[test]
    fn script_tags_are_removed() {
        let out = html("<script>alert(1)</script>\n\ntext <script>alert(2)</script>");
        assert!(!out.contains("<script"), "{out}");
    }

    #[test]
    fn raw_html_blocks_are_shown_as_text() {
        let out = html("<div class=\"x\"><b>bold?</b></div>\n\ninline <span>tag</span>");
        assert!(!out.contains("<div") && !out.contains("<b>") && !out.contains("<span"), "{out}");
        assert!(out.contains("&lt;div"), "{out}");
    }

    #[test]
    fn event_handler_and_style_attributes_are_removed() {
        // Raw HTML in Markdown is text: the attributes are shown, never a tag's.
        let out = html("<p onclick=\"alert(1)\" style=\"color:red\">x</p>\n\n[a](https://e.test \"t\")");
        assert!(!out.contains("<p onclick") && !out.contains("<p style"), "{out}");
        assert!(out.contains("&lt;p onclick"), "{out}");
        assert!(
            out.contains("<a href=\"https://e.test\" title=\"t\" rel=\"noopener noreferrer\">a</a>"),
            "{out}"
        );
        // Even markup that reaches the cleaner (not only what the parser makes) loses them.
        let cleaned =
            cleaner().clean("<a href=\"https://e.test\" onmouseover=\"x()\" style=\"a:b\">x</a>").to_string();
        assert!(!cleaned.contains("onmouseover") && !cleaned.contains("style"), "{cleaned}");
    }

    #[test]
    fn javascript_and_data_links_are_removed() {
        let out =
            html("[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) [vb](vbscript:x)");
        assert!(
            !out.contains("javascript:") && !out.contains("data:") && !out.contains("vbscript:"),
            "{out}"
        );
        assert!(out.contains("click"), "the text stays: {out}");
    }

    #[test]
    fn links_open_without_referrer_or_opener() {
        let out = html("[docs](https://docs.example.test/runbook)");
        assert!(out.contains("href=\"https://docs.example.test/runbook\""), "{out}");
        assert!(out.contains("rel=\"noopener noreferrer\""), "{out}");
    }

    #[test]
    fn images_become_links_and_are_never_loaded() {
        let out = html("![tracker](https://attacker.test/pixel.png)");
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("href=\"https://attacker.test/pixel.png\""), "{out}");
        let out = html("![x](data:image/png;base64,AAAA)");
        assert!(!out.contains("<img") && !out.contains("data:"), "{out}");
    }

    #[test]
    fn svg_and_mathml_are_removed() {
        let cleaned = cleaner()
            .clean("<svg onload=\"x()\"><script>y()</script></svg><math><mi>x</mi></math><p>ok</p>")
            .to_string();
        assert!(
            !cleaned.contains("<svg") && !cleaned.contains("<math") && !cleaned.contains("<script"),
            "{cleaned}"
        );
        let out = html("<svg><a href=\"javascript:x\">s</a></svg>");
        assert!(!out.contains("<svg") && !out.contains("<a href=\"javascript"), "{out}");
    }

    #[test]
    fn empty_documents_render_as_none() {
        assert_eq!(render_opt(Some("  \n")), None);
        assert_eq!(render_opt(None), None);
        assert!(render_opt(Some("x")).is_some());
    }
}
