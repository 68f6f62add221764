//! The workflow code editor's model: the code as typed, the same code highlighted with numbered
//! lines, and the problems the services' validation found, each located at its line and column
//! (shared by the new-workflow form and a workflow's code page).

use super::forms::FormErrors;
use crate::highlight::{self, HighlightedCode};

/// One problem the validation found, at its line and column when it names them.
pub struct Problem {
    /// The message, exactly as REST gives it.
    pub message: String,
    /// Its line (from 1).
    pub line: Option<usize>,
    /// Its column, as the message gives it.
    pub column: Option<usize>,
}

/// The line and column a validation message names: `Line 4, column 8: …` (a check on the parsed
/// code) or `Syntax error: … (line 4, column 9)` (the parser's own).
pub fn locate(message: &str) -> (Option<usize>, Option<usize>) {
    let number = |text: &str| -> Option<usize> {
        let digits: String = text.trim_start().chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let (line, column) = if let Some(rest) = message.strip_prefix("Line ") {
        let column = rest.split_once(", column ").and_then(|(_, c)| number(c));
        (number(rest), column)
    } else if let Some(at) = message.rfind("(line ") {
        let rest = &message[at + "(line ".len()..];
        let column = rest.split_once(", column ").and_then(|(_, c)| number(c));
        (number(rest), column)
    } else {
        (None, None)
    };
    (line.filter(|l| *l > 0), column)
}

/// A line number of the gutter.
pub struct GutterLine {
    /// From 1.
    pub number: usize,
    /// A problem is at this line.
    pub marked: bool,
}

/// The editor: the code as typed (the textarea), the same code highlighted with numbered lines,
/// and the problems found in it.
pub struct CodeEditor {
    /// The code, as the textarea holds it.
    pub code: String,
    /// The code highlighted (escaped by `crate::highlight`).
    pub highlighted: HighlightedCode,
    /// The gutter's line numbers.
    pub lines: Vec<GutterLine>,
    /// What the validation (or a save) refused, in its order.
    pub problems: Vec<Problem>,
}

impl CodeEditor {
    /// The editor for `code`, with the `code` field's refusals in `errors` as its problems.
    pub fn new(code: &str, errors: &FormErrors) -> Self {
        let problems: Vec<Problem> = errors
            .all_fields()
            .filter(|(path, _)| *path == "code")
            .map(|(_, message)| {
                let (line, column) = locate(message);
                Problem { message: message.to_string(), line, column }
            })
            .collect();
        let lines = (1..=highlight::line_count(code))
            .map(|number| GutterLine { number, marked: problems.iter().any(|p| p.line == Some(number)) })
            .collect();
        CodeEditor { code: code.to_string(), highlighted: highlight::python(code), lines, problems }
    }

    /// Whether any problem was found.
    pub fn invalid(&self) -> bool {
        !self.problems.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_located_at_their_line_and_column() {
        assert_eq!(locate("Line 1, column 0: import of 'subprocess' is not allowed"), (Some(1), Some(0)));
        assert_eq!(locate("Line 12, column 4: access to '__class__' is not allowed"), (Some(12), Some(4)));
        assert_eq!(locate("Syntax error: expected ':' (line 3, column 18)"), (Some(3), Some(18)));
        assert_eq!(locate("Workflow code must define an async function named 'run'"), (None, None));
        assert_eq!(locate("Line 0, column 0: x"), (None, Some(0)));
    }

    #[test]
    fn the_gutter_marks_the_lines_with_problems() {
        let mut errors = FormErrors::none();
        errors.add("code", "Line 2, column 0: import of 'os' is not allowed");
        errors.add("name", "name must be 1 to 255 characters");
        let editor = CodeEditor::new("a = 1\nimport os\nb = 2\n", &errors);
        assert_eq!(editor.lines.len(), 3);
        assert_eq!(editor.lines.iter().filter(|l| l.marked).map(|l| l.number).collect::<Vec<_>>(), [2]);
        assert_eq!(editor.problems.len(), 1);
        assert!(editor.invalid());
    }
}
