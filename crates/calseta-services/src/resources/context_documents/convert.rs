//! Converting uploaded context documents to Markdown.
//!
//! Parsers of untrusted files run in a child process — the `calseta` binary re-executed as
//! `calseta convert-document`, which limits its own CPU time and memory before parsing — and the
//! parent kills it after a wall-clock timeout, so a hostile or corrupt file can neither crash nor
//! hang the server.

use std::io::{Cursor, Read};
use std::path::Path;
use std::time::Duration;

use quick_xml::events::Event;

use crate::ServiceError;
use crate::platform::isolation::{ChildFailure, ChildLimits, run_isolated};

/// Formats we convert, by file extension.
pub const FORMATS: [&str; 8] = ["md", "markdown", "txt", "html", "htm", "pdf", "docx", "pptx"];
/// Largest Markdown a conversion may produce.
const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;
/// How long a conversion may take before it is killed.
const CONVERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// The format of a file name, when supported.
pub fn format_of(filename: &str) -> Option<&'static str> {
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    FORMATS.iter().copied().find(|f| *f == ext)
}

/// Converts a file's bytes to Markdown (runs in the converter child process).
pub fn convert(format: &str, bytes: &[u8]) -> Result<String, String> {
    match format {
        "md" | "markdown" | "txt" => {
            String::from_utf8(bytes.to_vec()).map_err(|_| "the file is not UTF-8 text".to_string())
        }
        "html" | "htm" => {
            let html = String::from_utf8_lossy(bytes);
            htmd::convert(&html).map_err(|e| format!("cannot read the HTML: {e}"))
        }
        "pdf" => pdf_extract::extract_text_from_mem(bytes).map_err(|e| format!("cannot read the PDF: {e}")),
        "docx" => docx_to_markdown(bytes),
        "pptx" => pptx_to_markdown(bytes),
        other => Err(format!("unsupported format '{other}'")),
    }
}

/// Reads one member of an Office Open XML archive, bounded so a zip bomb cannot exhaust memory.
fn read_member(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    kind: &str,
) -> Result<String, String> {
    let mut xml = String::new();
    archive
        .by_name(name)
        .map_err(|e| format!("cannot read the {kind}: {e}"))?
        .take(64 * 1024 * 1024)
        .read_to_string(&mut xml)
        .map_err(|e| format!("cannot read the {kind}: {e}"))?;
    Ok(xml)
}

/// Slide text of a PPTX, one `## Slide N` section per slide, in slide order.
fn pptx_to_markdown(bytes: &[u8]) -> Result<String, String> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("cannot read the PPTX: {e}"))?;
    let mut slides: Vec<(u32, String)> = archive
        .file_names()
        .filter_map(|name| {
            let name = name.ok()?;
            let number = name.strip_prefix("ppt/slides/slide")?.strip_suffix(".xml")?.parse().ok()?;
            Some((number, name.to_string()))
        })
        .collect();
    if slides.is_empty() {
        return Err("cannot read the PPTX: it has no slides".into());
    }
    slides.sort();
    let mut sections = Vec::new();
    for (number, name) in slides {
        let xml = read_member(&mut archive, &name, "PPTX")?;
        let mut reader = quick_xml::Reader::from_str(&xml);
        let (mut lines, mut paragraph, mut in_text) =
            (vec![format!("## Slide {number}")], String::new(), false);
        loop {
            match reader.read_event().map_err(|e| format!("cannot read the PPTX: {e}"))? {
                Event::Start(e) if e.name().as_ref() == b"a:t" => in_text = true,
                Event::End(e) if e.name().as_ref() == b"a:t" => in_text = false,
                Event::Text(t) if in_text => paragraph.push_str(&t.unescape().map_err(|e| e.to_string())?),
                Event::End(e) if e.name().as_ref() == b"a:p" => {
                    let text = std::mem::take(&mut paragraph);
                    if !text.trim().is_empty() {
                        lines.push(text.trim().to_string());
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        sections.push(lines.join("\n\n"));
    }
    Ok(sections.join("\n\n"))
}

/// Paragraph text of a DOCX (`word/document.xml`), headings as `#` lines.
fn docx_to_markdown(bytes: &[u8]) -> Result<String, String> {
    let mut archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| format!("cannot read the DOCX: {e}"))?;
    let xml = read_member(&mut archive, "word/document.xml", "DOCX")?;
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut out, mut paragraph, mut heading, mut in_text) = (Vec::new(), String::new(), 0usize, false);
    loop {
        match reader.read_event().map_err(|e| format!("cannot read the DOCX: {e}"))? {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"w:pStyle" => {
                let style = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.as_ref() == b"w:val")
                    .map(|a| String::from_utf8_lossy(&a.value).to_string())
                    .unwrap_or_default();
                heading = style.strip_prefix("Heading").and_then(|n| n.parse().ok()).unwrap_or(0);
            }
            Event::Start(e) if e.name().as_ref() == b"w:t" => in_text = true,
            Event::End(e) if e.name().as_ref() == b"w:t" => in_text = false,
            Event::Empty(e) if e.name().as_ref() == b"w:tab" => paragraph.push('\t'),
            Event::Empty(e) if e.name().as_ref() == b"w:br" => paragraph.push('\n'),
            Event::Text(t) if in_text => paragraph.push_str(&t.unescape().map_err(|e| e.to_string())?),
            Event::End(e) if e.name().as_ref() == b"w:p" => {
                let text = std::mem::take(&mut paragraph);
                if !text.trim().is_empty() {
                    out.push(if heading > 0 {
                        format!("{} {}", "#".repeat(heading.min(6)), text.trim())
                    } else {
                        text
                    });
                }
                heading = 0;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out.join("\n\n"))
}

/// Converts in a child process (`converter` = the `calseta` binary, re-executed as
/// `calseta convert-document`) with a kill timeout and an output bound.
pub async fn convert_isolated(converter: &Path, format: &str, bytes: &[u8]) -> Result<String, ServiceError> {
    let unsupported = |message: String| ServiceError::Unprocessable { code: "UNSUPPORTED_FORMAT", message };
    let limits = ChildLimits { timeout: CONVERSION_TIMEOUT, max_output_bytes: MAX_OUTPUT_BYTES };
    match run_isolated(converter, &["convert-document", "--format", format], bytes, limits).await {
        Ok(output) => {
            String::from_utf8(output).map_err(|_| unsupported("the converter produced invalid text".into()))
        }
        Err(ChildFailure::Spawn { program, reason }) => {
            Err(ServiceError::Config(format!("cannot start the document converter {program}: {reason}")))
        }
        Err(ChildFailure::TimedOut(limit)) => {
            Err(unsupported(format!("converting the {format} file took longer than {} s", limit.as_secs())))
        }
        Err(ChildFailure::OutputTooLarge(_)) => {
            Err(unsupported("the converted document is larger than 16 MB".into()))
        }
        Err(ChildFailure::Failed(reason)) => {
            Err(unsupported(format!("The {format} file could not be converted: {reason}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(format_of("Runbook.MD"), Some("md"));
        assert_eq!(format_of("plan.docx"), Some("docx"));
        assert_eq!(format_of("malware.exe"), None);
        assert_eq!(format_of("noext"), None);
    }

    #[test]
    fn converts_text_and_html() {
        assert_eq!(convert("txt", b"plain").unwrap(), "plain");
        let md = convert("html", b"<h1>IR Plan</h1><p>Call the <b>lead</b>.</p>").unwrap();
        assert!(md.contains("# IR Plan") && md.contains("**lead**"), "{md}");
        assert!(convert("txt", &[0xff, 0xfe]).is_err());
        assert!(convert("docx", b"not a zip").is_err());
        assert!(convert("pptx", b"not a zip").is_err());
    }

    #[test]
    fn converts_pptx_slides_in_order() {
        use std::io::Write;
        let mut buffer = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let slide = |text: &str| {
            format!(
                r#"<p:sld xmlns:p="p" xmlns:a="a"><p:txBody><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sld>"#
            )
        };
        for (name, text) in [
            ("ppt/slides/slide10.xml", "Lessons learned"),
            ("ppt/slides/slide2.xml", "Contain &amp; eradicate"),
        ] {
            zip.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
            zip.write_all(slide(text).as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        let md = convert("pptx", buffer.get_ref()).unwrap();
        assert_eq!(md, "## Slide 2\n\nContain & eradicate\n\n## Slide 10\n\nLessons learned");
    }
}
