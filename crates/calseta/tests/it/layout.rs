//! The workspace's layout rules (DESIGN.md §4): "inside a crate no two modules import each other
//! in a circle. No source file grows past ~800 lines". Circles make modules impossible to
//! understand, test or move on their own; long files hide them. And in `calseta-services`, the
//! pipeline's stages (`pipeline::ingest`, `extract`, `enrich`, `context`, `dispatch`) never import
//! each other: they hand off through `pipeline::kinds` and `pipeline::hooks`. The checks read
//! `crates/*/src` from disk, so they need no database and no server.
//!
//! A module is a path below `src/` cut at two levels: `lib.rs`/`main.rs` are `crate`, `error.rs`
//! is `error`, `pipeline/mod.rs` is `pipeline`, `pipeline/enrich/run.rs` is `pipeline::enrich`.
//! Module A imports module B when code outside `#[cfg(test)]` items in A names a path into B
//! starting with `crate::`, `self::` or `super::`, in a `use` tree or inline (`$crate::` in macros
//! too). A parent naming a child by its bare name (`child::f()`) is no import. An item re-exported
//! with `pub use` counts where it is defined, and the `pub use` itself is not an import. Comments
//! and string literals are skipped; `mod x;` declarations are not imports. A file's length is
//! its lines before its `#[cfg(test)]` module; files under `tests/` are not checked.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

const MAX_LINES: usize = 800;

/// The workspace root (the parent of `crates/`, where this crate's manifest directory lives) and
/// every crate in it: the directories of `crates/` that hold a `src/`.
fn workspace() -> (PathBuf, Vec<PathBuf>) {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("crates/").to_path_buf();
    let entries = fs::read_dir(&crates).expect("read crates/");
    let mut dirs: Vec<PathBuf> =
        entries.map(|e| e.expect("crates/ entry").path()).filter(|p| p.join("src").is_dir()).collect();
    dirs.sort();
    (crates.parent().expect("workspace root").to_path_buf(), dirs)
}

#[test]
fn workspace_has_no_module_cycles() {
    let (root, crates) = workspace();
    let mut report = String::new();
    for dir in crates {
        let name = dir.file_name().expect("crate dir name").to_string_lossy().to_string();
        for cycle in module_cycles(&crate_edges(&dir.join("src"), &root)) {
            report.push_str(&cycle.describe(&name));
        }
    }
    assert!(report.is_empty(), "modules import each other in a circle (DESIGN.md §4):\n{report}");
}

/// The pipeline's shared contract: the only `pipeline::` modules a stage may import.
const PIPELINE_CONTRACT: [&str; 2] = ["pipeline::kinds", "pipeline::hooks"];

/// The stages of `calseta-services/src/pipeline` that import another stage (not its contract).
fn stage_imports(edges: &Edges) -> Vec<String> {
    let is_stage = |m: &str| m.starts_with("pipeline::") && !PIPELINE_CONTRACT.contains(&m);
    edges
        .iter()
        .filter(|(from, _)| is_stage(from))
        .flat_map(|(from, to)| {
            to.iter().filter(|(to, _)| is_stage(to)).map(move |(to, at)| format!("  {from} -> {to}: {at}"))
        })
        .collect()
}

#[test]
fn pipeline_stages_hand_off_only_through_kinds_and_hooks() {
    let (root, _) = workspace();
    let services = root.join("crates/calseta-services/src");
    let edges = crate_edges(&services, &root);
    assert!(edges.keys().any(|m| m == "pipeline::enrich"), "the stages are where the layout says");
    let found = stage_imports(&edges);
    assert!(found.is_empty(), "pipeline stages import each other (DESIGN.md §4):\n{}", found.join("\n"));

    // The rule itself: a stage reaching into another is reported, its contract is not.
    let mut synthetic = Edges::new();
    synthetic.entry("pipeline::enrich".into()).or_default().insert("pipeline::kinds".into(), "a.rs:1".into());
    synthetic
        .entry("pipeline::enrich".into())
        .or_default()
        .insert("pipeline::dispatch".into(), "a.rs:2".into());
    assert_eq!(
        stage_imports(&synthetic),
        vec!["  pipeline::enrich -> pipeline::dispatch: a.rs:2".to_string()]
    );
}

/// The front ends: thin adapters over `calseta-services`, which owns storage (DESIGN.md §4).
const FRONT_ENDS: [&str; 3] = ["calseta-api", "calseta-mcp", "calseta-console"];

/// The crates a manifest names in its `[dependencies]`, `[dev-dependencies]` and
/// `[build-dependencies]` tables (`name = …` and `name.workspace = true` alike).
fn manifest_dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = matches!(line, "[dependencies]" | "[dev-dependencies]" | "[build-dependencies]");
            continue;
        }
        let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
        if in_deps && !name.is_empty() && !name.starts_with('#') {
            names.push(name.to_string());
        }
    }
    names
}

#[test]
fn front_ends_reach_storage_only_through_the_services() {
    let (root, _) = workspace();
    let mut found = Vec::new();
    for front_end in FRONT_ENDS {
        let manifest =
            fs::read_to_string(root.join("crates").join(front_end).join("Cargo.toml")).expect("manifest");
        let deps = manifest_dependencies(&manifest);
        assert!(deps.iter().any(|d| d == "calseta-services"), "{front_end} is a front end over the services");
        for storage in deps.iter().filter(|d| *d == "calseta-store" || *d == "sqlx") {
            found.push(format!("  {front_end} depends on {storage}"));
        }
    }
    assert!(found.is_empty(), "front ends must not reach the store (DESIGN.md §4):\n{}", found.join("\n"));

    // The reading itself: both spellings count, other tables and comments do not.
    let sample = "[package]\nname = \"x\"\n[dependencies]\ncalseta-store.workspace = true\n# calseta-jobs\n\
        serde = { version = \"1\" }\n[features]\ncalseta-core = []\n[dev-dependencies]\ntokio = \"1\"\n";
    assert_eq!(manifest_dependencies(sample), vec!["calseta-store", "serde", "tokio"]);
}

/// Every wire string of the core's enums, with the file that declares its enum.
fn enum_wire_strings() -> Vec<(&'static str, &'static str)> {
    use calseta_core::{agents, alerts, api_keys, indicators, jobs, workflows};
    let mut all = Vec::new();
    let mut add =
        |file: &'static str, names: Vec<&'static str>| all.extend(names.into_iter().map(|n| (n, file)));
    add("alerts.rs", alerts::Severity::names());
    add("alerts.rs", alerts::AlertStatus::names());
    add("alerts.rs", alerts::EnrichmentStatus::names());
    add("alerts.rs", alerts::Malice::names());
    add("alerts.rs", alerts::CloseClassification::names());
    add("indicators.rs", indicators::IndicatorType::names());
    add("indicators.rs", indicators::MaliceSource::names());
    add("jobs.rs", jobs::JobStatus::names());
    add("agents.rs", agents::PayloadProfile::names());
    add("agents.rs", agents::DeliveryStatus::names());
    add("workflows.rs", workflows::WorkflowState::names());
    add("workflows.rs", workflows::ApprovalMode::names());
    add("workflows.rs", workflows::RiskLevel::names());
    add("workflows.rs", workflows::WorkflowType::names());
    add("workflows.rs", workflows::RunState::names());
    add("workflows.rs", workflows::ApprovalStatus::names());
    add("api_keys.rs", api_keys::KeyType::names());
    all
}

/// Lines of `src` (before its test module) that compare a value with one of `wire` as a string
/// literal: `x == "Open"`, `"agent" != y`, `matches!(x, "pending" | …)`.
fn literal_comparisons(src: &str, wire: &[&str]) -> Vec<(usize, String)> {
    let counted = counted_lines(src);
    let mut found = Vec::new();
    for (n, line) in src.lines().take(counted).enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for w in wire {
            let quoted = format!("\"{w}\"");
            let compared = ["==", "!="].iter().any(|op| {
                code.contains(&format!("{op} {quoted}")) || code.contains(&format!("{quoted} {op}"))
            }) || (code.contains("matches!(") && code.contains(&format!(", {quoted}")));
            if compared {
                found.push((n + 1, w.to_string()));
            }
        }
    }
    found
}

#[test]
fn enum_values_are_compared_as_enums_not_strings() {
    let (root, crates) = workspace();
    let wire = enum_wire_strings();
    let mut found = Vec::new();
    for dir in crates {
        let in_core = dir.ends_with("calseta-core");
        for file in rust_files(&dir.join("src")) {
            let src = fs::read_to_string(&file).expect("read source");
            let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            // The enum's own module may spell its values.
            let others: Vec<&str> =
                wire.iter().filter(|(_, home)| !(in_core && *home == name)).map(|(w, _)| *w).collect();
            for (line, value) in literal_comparisons(&src, &others) {
                found.push(format!("  {}:{line}: \"{value}\"", shown(&file, &root)));
            }
        }
    }
    assert!(
        found.is_empty(),
        "enum values compared as string literals (use the core enum):\n{}",
        found.join("\n")
    );

    // The reading itself.
    let sample = "fn f() {\n    if run.status == \"running\" {}\n    let x = \"running\";\n    if \"agent\" != k {}\n}\n";
    assert_eq!(
        literal_comparisons(sample, &["running", "agent"]),
        vec![(2, "running".into()), (4, "agent".into())]
    );
}

#[test]
fn no_source_file_over_800_lines() {
    let (root, crates) = workspace();
    let mut over = Vec::new();
    for dir in crates {
        for file in rust_files(&dir.join("src")) {
            let lines = counted_lines(&fs::read_to_string(&file).expect("read source"));
            if lines > MAX_LINES {
                over.push(format!("  {}: {lines} lines", shown(&file, &root)));
            }
        }
    }
    assert!(
        over.is_empty(),
        "source files over {MAX_LINES} lines, not counting their test module (DESIGN.md §4):\n{}",
        over.join("\n")
    );
}

/// Lines of a source file before its `#[cfg(test)]` module (all of them if it has none).
fn counted_lines(src: &str) -> usize {
    let lines: Vec<&str> = src.lines().map(str::trim).collect();
    let opens_module = |l: &str| ["mod ", "pub mod ", "pub(crate) mod "].iter().any(|p| l.starts_with(p));
    for (n, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix("#[cfg(test)]") else { continue };
        let mut item = std::iter::once(rest.trim()).chain(lines[n + 1..].iter().copied());
        if item.find(|l| !l.is_empty() && !l.starts_with("#[")).is_some_and(opens_module) {
            return n;
        }
    }
    lines.len()
}

/// The `.rs` files below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("read source dir") {
        let path = entry.expect("source dir entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn shown(file: &Path, base: &Path) -> String {
    file.strip_prefix(base).unwrap_or(file).display().to_string()
}

/// A Rust module path, without the leading `crate`.
type ModPath = Vec<String>;

/// The Rust module path of a file below `src/`: `a/b.rs` and `a/b/mod.rs` are `a::b`.
fn rust_path(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).expect("file below src/").with_extension("");
    let mut path: ModPath = rel.iter().map(|c| c.to_string_lossy().to_string()).collect();
    let top = path.len() == 1 && (path[0] == "lib" || path[0] == "main");
    if top || path.last().is_some_and(|l| l == "mod") {
        path.pop();
    }
    path
}

/// The module a path belongs to: the path cut at two levels, `crate` for the root.
fn module_key(path: &[String]) -> String {
    if path.is_empty() { "crate".to_string() } else { path[..path.len().min(2)].join("::") }
}

/// Imports between the modules of the crate at `src`: from → to → the first `file:line` (shown
/// relative to `base`) that makes it.
type Edges = BTreeMap<String, BTreeMap<String, String>>;

fn crate_edges(src: &Path, base: &Path) -> Edges {
    let files = rust_files(src);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| rust_path(src, f)).collect();
    let mut reexports = Reexports::new();
    let mut scanned = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("read source");
        let here = rust_path(src, file);
        let found = scan(&tokenize(&text), &here, &modules);
        reexports.extend(found.reexports);
        scanned.push((file, module_key(&here), found.refs));
    }
    let mut edges = Edges::new();
    for (file, from, refs) in scanned {
        for (path, line) in refs {
            let Some(to) = resolve(&path, &modules, &reexports, 0) else { continue };
            let to = module_key(&to);
            if to != from {
                let at = || format!("{}:{line}", shown(file, base));
                edges.entry(from.clone()).or_default().entry(to).or_insert_with(at);
            }
        }
    }
    edges
}

/// `pub use` re-exports: (module, name) → the absolute path it names, `None` if outside the crate.
type Reexports = HashMap<(ModPath, String), Option<ModPath>>;

/// The file module an absolute path leads to: walk the segments through the modules that exist;
/// the first one that is no module is an item of the module reached, unless that module
/// re-exports it. `None` for a re-export from outside the crate.
fn resolve(path: &[String], modules: &BTreeSet<ModPath>, reexports: &Reexports, hops: u8) -> Option<ModPath> {
    let mut module = ModPath::new();
    for (n, segment) in path.iter().enumerate() {
        let mut next = module.clone();
        next.push(segment.clone());
        if modules.contains(&next) {
            module = next;
            continue;
        }
        return match reexports.get(&(module.clone(), segment.clone())) {
            Some(Some(target)) if hops < 8 => {
                let rest = target.iter().chain(&path[n + 1..]).cloned().collect::<ModPath>();
                resolve(&rest, modules, reexports, hops + 1)
            }
            Some(_) => None,
            None => Some(module),
        };
    }
    Some(module)
}

/// A path as written in module `here`, made absolute; `None` if it leaves the crate.
fn absolute(path: &[String], here: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let ups = path.iter().take_while(|s| *s == "super").count();
    let (base, rest) = match path.first()?.as_str() {
        "crate" => (&here[..0], &path[1..]),
        "self" => (here, &path[1..]),
        "super" => (here.get(..here.len().checked_sub(ups)?)?, &path[ups..]),
        _ if modules.contains(&[here, &path[..1]].concat()) => (here, path),
        _ => return None,
    };
    Some([base, rest].concat())
}

/// What one file names: absolute paths with their lines, and its `pub use` re-exports.
#[derive(Default)]
struct Scanned {
    refs: Vec<(ModPath, usize)>,
    reexports: Vec<((ModPath, String), Option<ModPath>)>,
}

struct Tok {
    text: String,
    line: usize,
}

/// Whether a path starting with `first` is an import: paths from a child module's bare name
/// (`child::f()` in a parent) are not, as the parent that declares a child may use it.
fn from_here(first: &str) -> bool {
    matches!(first, "crate" | "self" | "super")
}

fn is_ident(text: &str) -> bool {
    text.starts_with(|c: char| c.is_alphabetic() || c == '_')
}

/// Walks a file's tokens, skipping `#[cfg(test)]` items and following inline `mod x { .. }`.
fn scan(toks: &[Tok], file_module: &[String], modules: &BTreeSet<ModPath>) -> Scanned {
    let text = |i: usize| toks.get(i).map_or("", |t| t.text.as_str());
    let back = |i: usize, n: usize| i.checked_sub(n).map_or("", text);
    // `pub(in crate::a)` names a module but imports nothing.
    let in_visibility = |i: usize| back(i, 1) == "in" && back(i, 2) == "(" && back(i, 3) == "pub";
    let mut out = Scanned::default();
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let here: ModPath = file_module.iter().cloned().chain(inline.iter().map(|m| m.0.clone())).collect();
        match text(i) {
            "#" if text(i + 1) == "!" && is_cfg_test(toks, i + 2) => return Scanned::default(),
            "#" if is_cfg_test(toks, i + 1) => {
                i = skip_item(toks, i + 7);
                continue;
            }
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|m| m.1 == depth) {
                    inline.pop();
                }
            }
            "mod" if is_ident(text(i + 1)) && text(i + 2) == "{" => {
                inline.push((text(i + 1).to_string(), depth));
                depth += 1;
                i += 3;
                continue;
            }
            "use" => {
                // `pub use` or `pub(crate) use`, `pub(super) use`
                let public = back(i, 1) == "pub" || (back(i, 1) == ")" && back(i, 4) == "pub");
                i += 1;
                let mut leaves = Vec::new();
                use_tree(toks, &mut i, ModPath::new(), &mut leaves);
                for (path, name, line) in leaves {
                    let target = absolute(&path, &here, modules);
                    match (public, name, target) {
                        (true, Some(name), target) => out.reexports.push(((here.clone(), name), target)),
                        (false, _, Some(target)) if from_here(&path[0]) => out.refs.push((target, line)),
                        _ => {}
                    }
                }
                continue;
            }
            t if from_here(t) && text(i + 1) == "::" && back(i, 1) != "::" && !in_visibility(i) => {
                let mut path = vec![t.to_string()];
                let line = toks[i].line;
                while text(i + 1) == "::" && is_ident(text(i + 2)) {
                    path.push(text(i + 2).to_string());
                    i += 2;
                }
                if let Some(target) = absolute(&path, &here, modules) {
                    out.refs.push((target, line));
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Whether the tokens at `i` are `[cfg(test)]`.
fn is_cfg_test(toks: &[Tok], i: usize) -> bool {
    let want = ["[", "cfg", "(", "test", ")", "]"];
    toks.len() >= i + want.len() && toks[i..i + want.len()].iter().zip(want).all(|(t, w)| t.text == w)
}

/// The index after the item starting at `i` (past its attributes, up to its `;` or its braces).
fn skip_item(toks: &[Tok], mut i: usize) -> usize {
    let mut depth = 0usize;
    while let Some(t) = toks.get(i) {
        i += 1;
        match t.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth = depth.saturating_sub(1),
            ";" if depth == 0 => return i,
            _ => {}
        }
        if t.text == "}" && depth == 0 {
            return i;
        }
    }
    i
}

/// A path a `use` names, the name it binds (`None` for a glob), and its line.
type UseLeaf = (ModPath, Option<String>, usize);

/// Parses one use tree at `i` into its leaves.
fn use_tree(toks: &[Tok], i: &mut usize, mut prefix: ModPath, out: &mut Vec<UseLeaf>) {
    let text = |i: usize| toks.get(i).map_or("", |t| t.text.as_str());
    while let Some(tok) = toks.get(*i) {
        match tok.text.as_str() {
            "::" => *i += 1,
            "*" => {
                *i += 1;
                out.push((prefix, None, tok.line));
                return;
            }
            "{" => {
                *i += 1;
                while *i < toks.len() && text(*i) != "}" {
                    let before = *i;
                    use_tree(toks, i, prefix.clone(), out);
                    if text(*i) == "," || *i == before {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            segment if is_ident(segment) => {
                *i += 1;
                if segment != "self" || prefix.is_empty() {
                    prefix.push(segment.to_string());
                }
                if text(*i) == "::" {
                    continue;
                }
                let mut name = prefix.last().cloned();
                if text(*i) == "as" {
                    name = Some(text(*i + 1).to_string());
                    *i += 2;
                }
                out.push((prefix, name, tok.line));
                return;
            }
            _ => return,
        }
    }
}

/// The tokens of a source file with their lines: identifiers (`$crate` is `crate`), `::`, and
/// single punctuation characters. Comments are dropped and each string or char literal is one
/// `"` token, so no text inside them is taken for code.
fn tokenize(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let word = |i: usize| at(i).is_alphanumeric() || at(i) == '_';
    let (mut toks, mut line, mut i) = (Vec::new(), 1, 0);
    while i < c.len() {
        let (end, text) = if at(i) == '/' && at(i + 1) == '/' {
            (c[i..].iter().position(|&ch| ch == '\n').map_or(c.len(), |n| i + n), None)
        } else if at(i) == '/' && at(i + 1) == '*' {
            (block_comment_end(&c, i), None)
        } else if let Some((mut j, raw, hashes)) = string_opening(&c, i) {
            loop {
                match c.get(j) {
                    None => break (c.len(), Some("\"".to_string())),
                    Some('\\') if !raw => j += 2,
                    Some('"') if c[j + 1..].iter().take_while(|&&h| h == '#').count() >= hashes => {
                        break (j + 1 + hashes, Some("\"".to_string()));
                    }
                    _ => j += 1,
                }
            }
        } else if at(i) == '\'' && (at(i + 1) == '\\' || at(i + 2) == '\'') {
            // A char literal; a lifetime has no closing quote right after one character.
            let mut j = i + 1;
            while j < c.len() && c[j] != '\'' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            (j + 1, Some("\"".to_string()))
        } else if word(i) || (at(i) == '$' && word(i + 1)) {
            let end = (i + 1..=c.len()).find(|&j| !word(j)).unwrap_or(c.len());
            let text: String = c[i..end].iter().collect();
            (end, Some(if text == "$crate" { "crate".to_string() } else { text }))
        } else if at(i) == ':' && at(i + 1) == ':' {
            (i + 2, Some("::".to_string()))
        } else {
            (i + 1, (!at(i).is_whitespace()).then(|| at(i).to_string()))
        };
        let end = end.min(c.len());
        if let Some(text) = text {
            toks.push(Tok { text, line });
        }
        line += c[i..end].iter().filter(|&&ch| ch == '\n').count();
        i = end;
    }
    toks
}

/// The index after the (nested) block comment opening at `i`.
fn block_comment_end(c: &[char], mut i: usize) -> usize {
    let mut depth = 0;
    while i + 1 < c.len() {
        let delta = match (c[i], c[i + 1]) {
            ('/', '*') => 1,
            ('*', '/') => -1,
            _ => 0,
        };
        depth += delta;
        i += if delta == 0 { 1 } else { 2 };
        if depth == 0 {
            return i;
        }
    }
    c.len()
}

/// Whether a string literal opens at `i` (`"`, `b"`, `c"`, `r#"`, `br#"`, ...): the index of its
/// first character inside, whether it is raw, and its number of `#`.
fn string_opening(c: &[char], i: usize) -> Option<(usize, bool, usize)> {
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    if at(i) == '"' {
        return Some((i + 1, false, 0));
    }
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    let mut j = i + usize::from(matches!(at(i), 'b' | 'c'));
    let raw = at(j) == 'r';
    j += usize::from(raw);
    let hashes = if raw { c[j..].iter().take_while(|&&h| h == '#').count() } else { 0 };
    (j > i && at(j + hashes) == '"').then_some((j + hashes + 1, raw, hashes))
}

/// A set of modules that import each other in a circle, and a shortest circle among them.
#[derive(Debug)]
struct Cycle {
    members: Vec<String>,
    path: Vec<String>,
    /// Every import between members, as `from -> to: file:line`.
    imports: Vec<String>,
}

impl Cycle {
    fn describe(&self, crate_name: &str) -> String {
        let (path, members) = (self.path.join(" -> "), self.members.join(", "));
        let imports: String = self.imports.iter().map(|i| format!("    {i}\n")).collect();
        let n = self.members.len();
        format!(
            "{crate_name}: {path}\n  all {n} modules of the circle: {members}\n  imports among them:\n{imports}"
        )
    }
}

/// The strongly connected components of more than one module, found by a DFS from each module.
fn module_cycles(edges: &Edges) -> Vec<Cycle> {
    let next = |m: &str| edges.get(m).into_iter().flat_map(|to| to.keys().map(String::as_str));
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = next(from).collect();
        while let Some(m) = stack.pop() {
            if seen.insert(m.to_string()) {
                stack.extend(next(m));
            }
        }
        seen
    };
    let nodes: BTreeSet<&str> =
        edges.iter().flat_map(|(f, to)| to.keys().chain([f])).map(String::as_str).collect();
    let reaches: BTreeMap<&str, BTreeSet<String>> = nodes.iter().map(|&n| (n, reach(n))).collect();
    let mut placed = BTreeSet::new();
    let mut cycles = Vec::new();
    for &start in &nodes {
        if placed.contains(start) || !reaches[start].contains(start) {
            continue;
        }
        let members: BTreeSet<&str> = nodes
            .iter()
            .copied()
            .filter(|&m| reaches[start].contains(m) && reaches[m].contains(start))
            .collect();
        placed.extend(members.iter().copied());
        let path = members.iter().filter_map(|&m| shortest_cycle(edges, &members, m)).min_by_key(Vec::len);
        let imports = members
            .iter()
            .flat_map(|&f| {
                edges[f].iter().filter(|(t, _)| members.contains(t.as_str())).map(move |(t, at)| (f, t, at))
            })
            .map(|(f, t, at)| format!("{f} -> {t}: {at}"))
            .collect();
        let members = members.iter().map(|m| m.to_string()).collect();
        cycles.push(Cycle { members, path: path.expect("a component has a cycle"), imports });
    }
    cycles
}

/// The shortest circle from `start` back to it through `members`, breadth-first.
fn shortest_cycle(edges: &Edges, members: &BTreeSet<&str>, start: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(m) = queue.pop_front() {
        for to in edges[m].keys().map(String::as_str).filter(|to| members.contains(to)) {
            if to == start {
                let mut path = vec![start.to_string()];
                let mut at = m;
                while at != start {
                    path.push(at.to_string());
                    at = came_from[at];
                }
                path.push(start.to_string());
                path.reverse();
                return Some(path);
            }
            if !came_from.contains_key(to) {
                came_from.insert(to, m);
                queue.push_back(to);
            }
        }
    }
    None
}

/// A crate written to a fresh temporary directory, removed on drop.
struct TempCrate(PathBuf);

impl TempCrate {
    fn new(files: &[(&str, &str)]) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("calseta-layout-{}-{n}", std::process::id()));
        for (path, text) in files {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().expect("parent")).expect("create dir");
            fs::write(path, text).expect("write file");
        }
        TempCrate(dir)
    }

    fn edges(&self) -> Edges {
        crate_edges(&self.0.join("src"), &self.0)
    }
}

impl Drop for TempCrate {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A crate where a -> b::c (through a re-export in b/c/mod.rs) -> error (through `super::` and
/// the root's re-export) and b -> b::c; `ERROR_RS` closes the circle or does not.
const FIXTURE: [(&str, &str); 5] = [
    ("src/lib.rs", "pub mod a;\npub mod b;\nmod error;\n\npub use error::Failure;\n\npub fn v() {}\n"),
    ("src/a.rs", "use crate::{\n    b::{self, c::Step},\n    v,\n};\n\npub fn helper() {}\n"),
    ("src/b/mod.rs", "pub mod c;\n\nuse self::c::Step;\n"),
    ("src/b/c/mod.rs", "mod d;\npub use d::Step;\n"),
    ("src/b/c/d.rs", "const Q: char = '\"';\nuse super::super::super::Failure;\npub struct Step;\n"),
];

fn fixture(error_rs: &str) -> TempCrate {
    let mut files = FIXTURE.to_vec();
    files.push(("src/error.rs", error_rs));
    TempCrate::new(&files)
}

fn edge_list(edges: &Edges) -> Vec<String> {
    edges.iter().flat_map(|(f, to)| to.iter().map(move |(t, at)| format!("{f} -> {t} @ {at}"))).collect()
}

const ACYCLIC_EDGES: [&str; 5] = [
    "a -> b @ src/a.rs:2",
    "a -> b::c @ src/a.rs:2",
    "a -> crate @ src/a.rs:3",
    "b -> b::c @ src/b/mod.rs:3",
    "b::c -> error @ src/b/c/d.rs:2",
];

#[test]
fn checker_finds_a_cycle_through_grouped_uses_super_and_reexports() {
    let krate = fixture("pub struct Failure;\n\nfn retry() {\n    super::a::helper();\n}\n");
    let edges = krate.edges();
    let mut expected = ACYCLIC_EDGES.to_vec();
    expected.push("error -> a @ src/error.rs:4");
    assert_eq!(edge_list(&edges), expected);
    let cycles = module_cycles(&edges);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(cycles[0].members, ["a", "b", "b::c", "error"]);
    assert_eq!(cycles[0].path, ["a", "b::c", "error", "a"]);
    assert!(cycles[0].describe("fixture").starts_with("fixture: a -> b::c -> error -> a\n"));
    assert!(cycles[0].imports.contains(&"error -> a: src/error.rs:4".to_string()));
}

#[test]
fn checker_ignores_test_modules_comments_and_strings() {
    let error_rs = r##"//! Doc: crate::a::helper().
pub struct Failure;
/* super::a::helper() /* nested */ crate::a */
pub const NOTE: &str = "crate::b::c and \" crate::a::helper";
pub const RAW: &str = r#"super::a::helper() "# ;

#[cfg(test)]
mod tests {
    use crate::a::helper;
    fn uses() { super::super::a::helper(); }
}
"##;
    let krate = fixture(error_rs);
    let edges = krate.edges();
    assert_eq!(edge_list(&edges), ACYCLIC_EDGES);
    assert!(module_cycles(&edges).is_empty());
}

#[test]
fn files_are_counted_up_to_their_test_module() {
    let long = "fn f() {}\n".repeat(801);
    assert_eq!(counted_lines(&format!("{long}\n#[cfg(test)]\nmod tests {{}}\n")), 802);
    assert_eq!(counted_lines(&format!("#[cfg(test)]\nuse x::Y;\n{long}")), 803);
    assert_eq!(counted_lines(&format!("{long}#[cfg(test)]\n#[allow(dead_code)]\nmod tests;\n")), 801);
}
