//! The layers of `profiler/src`, guarded: every import points down or sideways, never up, and
//! no two modules import each other, directly or around a cycle (docs/architecture.md draws
//! the map). Reads the sources as text: `use` declarations and paths written out in full
//! (`crate::x::y`, `super::x`, `profiler::x` in the binary), outside `#[cfg(test)]` items.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Bottom first. A module may import from its own layer and the ones below.
const LAYERS: [(&str, &[&str]); 4] = [
    (
        "what a recording holds, name tables, the thin syscall layer",
        &["recording", "syscalls", "sys", "duration"],
    ),
    (
        "the machinery",
        &["ebpf", "profile", "seccomp", "cgroup", "output"],
    ),
    (
        "the jobs users run",
        &["record", "daemon", "audit", "report", "enforce"],
    ),
    ("parsing and dispatch (main.rs, cli/)", &["cli"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// One import: from module path `from` (top-level module first) to `to`.
#[derive(Debug)]
struct Import {
    file: PathBuf,
    from: Vec<String>,
    to: Vec<String>,
}

#[test]
fn imports_point_down_and_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut imports = Vec::new();
    let mut modules = BTreeSet::new();
    let files: Vec<(PathBuf, Vec<String>, String)> = rust_files(&src)
        .into_iter()
        .map(|file| {
            let module = module_of(&src, &file);
            let code = strip(&fs::read_to_string(&file).unwrap());
            (file, module, code)
        })
        .collect();
    // Modules kept in files of their own but compiled for tests only (`#[cfg(test)] mod tests;`).
    let test_only: Vec<Vec<String>> = files
        .iter()
        .flat_map(|(_, module, code)| {
            test_modules(code).into_iter().map(move |name| {
                let mut path = module.clone();
                path.push(name);
                path
            })
        })
        .collect();
    for (file, module, code) in &files {
        if test_only.iter().any(|t| module.starts_with(t)) {
            continue;
        }
        if let Some(top) = module.first() {
            modules.insert(top.clone());
        }
        let code = without_tests(code);
        for path in paths(&code) {
            if let Some(to) = resolve(module, &path) {
                imports.push(Import {
                    file: file.strip_prefix(&src).unwrap().to_owned(),
                    from: module.clone(),
                    to,
                });
            }
        }
    }
    let mut problems = Vec::new();
    for module in &modules {
        if layer_of(module).is_none() {
            problems.push(format!(
                "module {module} is in no layer: add it to LAYERS in {} and to \
                 docs/architecture.md",
                file!()
            ));
        }
    }
    // Upward imports, and the edges between top-level modules.
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for import in &imports {
        let (Some(from), Some(to)) = (import.from.first(), import.to.first()) else {
            continue;
        };
        if from == to {
            continue;
        }
        if let (Some(a), Some(b)) = (layer_of(from), layer_of(to)) {
            if b > a {
                problems.push(format!(
                    "{}: {from} ({}) imports {} from a layer above it ({})",
                    import.file.display(),
                    LAYERS[a].0,
                    import.to.join("::"),
                    LAYERS[b].0
                ));
            }
        }
        top.entry(from.clone()).or_default().insert(to.clone());
    }
    if let Some(cycle) = find_cycle(&top) {
        problems.push(format!("modules import each other: {}", cycle.join(" -> ")));
    }
    // Within each module, its submodules form no cycle either (the module's own root file,
    // which declares and re-exports them, is left out).
    let mut within: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for import in &imports {
        if import.from.len() < 2 || import.to.len() < 2 || import.from[0] != import.to[0] {
            continue;
        }
        if import.from[1] != import.to[1] {
            within
                .entry(import.from[0].clone())
                .or_default()
                .entry(import.from[1].clone())
                .or_default()
                .insert(import.to[1].clone());
        }
    }
    for (module, graph) in &within {
        if let Some(cycle) = find_cycle(graph) {
            problems.push(format!(
                "submodules of {module} import each other: {}",
                cycle.join(" -> ")
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the layers are broken:\n  {}",
        problems.join("\n  ")
    );
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `main.rs` belongs with `cli/`, the binary's
/// part; `lib.rs` is the root.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [only] if only == "lib" => return Vec::new(),
        [only] if only == "main" => return vec!["cli".to_owned()],
        _ => {}
    }
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The text with comments and the contents of string and character literals blanked out, so
/// that braces and `use` in them count for nothing.
fn strip(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if let Some(len) = raw_string_start(&chars[i..]) {
            let hashes = len - 2 - usize::from(c == 'b');
            i += len;
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i < chars.len() && !chars[i..].starts_with(&closing) {
                i += 1;
            }
            i += closing.len();
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && is_char_literal(&chars[i..]) {
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// The length of `r"`, `r#"`, `br##"`… at the start of `chars`, if a raw string starts there.
fn raw_string_start(chars: &[char]) -> Option<usize> {
    let start = match chars {
        ['b', 'r', ..] => 2,
        ['r', ..] => 1,
        _ => return None,
    };
    let hashes = chars[start..].iter().take_while(|&&c| c == '#').count();
    (chars.get(start + hashes) == Some(&'"')).then_some(start + hashes + 1)
}

/// `'x'`, `'\n'`, `'\u{1b}'`, as opposed to a lifetime `'a`.
fn is_char_literal(chars: &[char]) -> bool {
    matches!(chars, ['\'', '\\', ..] | ['\'', _, '\'', ..])
}

/// `code` without the items marked `#[cfg(test)]`.
fn without_tests(code: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        rest = &rest[at + MARK.len()..];
        // The item ends at its first `;` outside braces, or with the block it opens.
        let mut depth = 0usize;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The modules `code` declares for tests only, in files of their own: `#[cfg(test)] mod x;`.
fn test_modules(code: &str) -> Vec<String> {
    const MARK: &str = "#[cfg(test)]";
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(MARK) {
        rest = &rest[at + MARK.len()..];
        let words: Vec<&str> = rest
            .split(|c: char| c.is_whitespace() || c == ';')
            .filter(|w| !w.is_empty())
            .take(3)
            .collect();
        if let ["mod", name, ..] = words.as_slice() {
            let declaration = rest.trim_start()[3..].trim_start()[name.len()..].trim_start();
            if declaration.starts_with(';') {
                found.push((*name).to_owned());
            }
        }
    }
    found
}

/// Every path a `use` declaration names (its tree expanded) and every path written out from
/// `crate`, `super`, `self` or `profiler` elsewhere, as segments.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let words: Vec<(usize, &str)> = word_starts(code);
    let mut skip_until = 0;
    for &(at, word) in &words {
        if at < skip_until {
            continue;
        }
        if word == "use" {
            let end = code[at..].find(';').map_or(code.len(), |e| at + e);
            let tree: String = code[at + 3..end]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            expand(&tree, &mut Vec::new(), &mut found);
            skip_until = end;
        } else if matches!(word, "crate" | "super" | "self" | "profiler") {
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if path.contains("::") {
                found.push(path.split("::").map(str::to_owned).collect());
            }
            skip_until = at + path.len();
        }
    }
    found
}

/// Where each word (identifier or keyword) starts.
fn word_starts(code: &str) -> Vec<(usize, &str)> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in code.char_indices().chain([(code.len(), ' ')]) {
        let word_char = c.is_alphanumeric() || c == '_';
        match (start, word_char) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                words.push((s, &code[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    words
}

/// The leaves of a use tree (`a::{b, c::{d, e as f}}`), each with the prefix that leads to it.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim_start_matches("::");
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let depth = prefix.len();
        prefix.extend(head);
        let mut level = 0;
        let mut part_start = 0;
        for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
            match c {
                '{' => level += 1,
                '}' => level -= 1,
                ',' if level == 0 => {
                    let part = &inner[part_start..i];
                    if !part.is_empty() {
                        expand(part, prefix, out);
                    }
                    part_start = i + 1;
                }
                _ => {}
            }
        }
        prefix.truncate(depth);
    } else {
        let path = tree.split("as").next().unwrap_or(tree);
        let mut full = prefix.clone();
        full.extend(
            path.split("::")
                .filter(|s| !s.is_empty() && *s != "*")
                .map(str::to_owned),
        );
        out.push(full);
    }
}

/// A path as the module it names inside the crate (top-level module first); `None` for paths
/// into other crates and the standard library.
fn resolve(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let resolved: Vec<String> = match first.as_str() {
        "crate" if module.first().is_some_and(|m| m == "cli") => {
            // In the binary, `crate` is main.rs's crate: only cli/ is in it.
            std::iter::once("cli".to_owned())
                .chain(rest.iter().cloned())
                .collect()
        }
        "crate" | "profiler" => rest.to_vec(),
        "self" => module.iter().chain(rest).cloned().collect(),
        "super" => {
            let ups = 1 + rest.iter().take_while(|s| *s == "super").count();
            let base = &module[..module.len().saturating_sub(ups)];
            base.iter().chain(&rest[ups - 1..]).cloned().collect()
        }
        _ => return None,
    };
    (!resolved.is_empty()).then_some(resolved)
}

/// A cycle in `graph`, as the modules around it (the first one repeated at the end).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn the_guard_reads_use_trees_comments_and_tests_as_rustc_does() {
    let code = strip(
        "use crate::{a::{b, c as d}, e};\n// use crate::commented;\nlet s = \"use crate::x;\";\n\
         let c = '{'; fn f<'a>(x: &'a str) {}\n#[cfg(test)]\nmod tests { use crate::tested; }\n\
         let y = crate::inline::path();",
    );
    let found = paths(&without_tests(&code));
    let joined: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "crate::a::b",
            "crate::a::c",
            "crate::e",
            "crate::inline::path"
        ]
    );
    assert_eq!(
        test_modules("#[cfg(test)]\nmod tests;\n#[cfg(test)]\nmod inline {}\n#[cfg(test)] mod x ;"),
        ["tests", "x"]
    );
    let module = vec!["profile".to_owned(), "ops".to_owned()];
    let super_path = vec!["super".to_owned(), "resolve".to_owned()];
    assert_eq!(
        resolve(&module, &super_path),
        Some(vec!["profile".to_owned(), "resolve".to_owned()])
    );
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "a"]);
}
