//! The one-way layers of the crate, checked on its source: a `use` that points up a layer,
//! or from one component into another that is not on the short list below, fails here with
//! the file, the line and the rule it breaks. The layers, bottom up:
//!
//! ```text
//! base       config/, logging/, metrics/, supervisor/, circuit_breaker, system_stats, tls
//! wire       discord/          Discord's formats, DiscordConfig, the REST client
//! storage    actors/db/        every SQL statement
//! components actors/<name>/, admin/
//! app        app/              builds the components and connects them
//! ```
//!
//! The binary (`src/main.rs`, `src/cli/`) sits on top and reaches the library only through
//! `discord_monitor::`. Only production code is read: test modules and files (`tests.rs`,
//! `*_tests.rs`, `test_*.rs`, anything after a file's first `#[cfg(test)]`) may use whatever
//! makes a test real.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Imports from one component into another that the design allows; every other one between
/// components (and every one pointing up a layer) is a failure. Each pair says why, so a new
/// entry has to be argued for.
const COMPONENT_IMPORTS: &[(&str, &str, &str)] = &[
    (
        "actors/backfill",
        "actors/ingest",
        "backfill stores what it pages with ingest's row conversion, and answers its SessionGap",
    ),
    (
        "actors/health",
        "actors/alert",
        "the ops rules raise and resolve alerts",
    ),
    (
        "actors/health",
        "actors/llm",
        "the ops rules read the router's budget and dead-target facts",
    ),
    (
        "actors/health",
        "actors/backup",
        "the ops rules read each backup's outcome",
    ),
    (
        "actors/processing",
        "actors/llm",
        "triage builds the router's requests and reads its answers and errors; the router \
         itself comes in as a recipient from app/",
    ),
    (
        "actors/health",
        "actors/processing",
        "the ops rules raise `pipeline_stalled` when the processing manager restarts a worker",
    ),
    (
        "admin",
        "actors/*",
        "the admin API serves every component's status",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    Base,
    Wire,
    Storage,
    Component,
    App,
}

/// The component (`actors/ingest`, `discord`, `config`, ...) a module path belongs to.
fn component_of(module: &[String]) -> Option<String> {
    match module {
        [] => None,
        [first, second, ..] if first == "actors" => Some(format!("actors/{second}")),
        [first, ..] if first == "actors" => None,
        [first, ..] => Some(first.clone()),
    }
}

fn layer_of(component: &str) -> Layer {
    match component {
        "discord" => Layer::Wire,
        "actors/db" => Layer::Storage,
        "app" => Layer::App,
        _ if component.starts_with("actors/") || component == "admin" => Layer::Component,
        _ => Layer::Base,
    }
}

fn allowed_between_components(from: &str, to: &str) -> bool {
    COMPONENT_IMPORTS
        .iter()
        .any(|(allowed_from, allowed_to, _)| {
            *allowed_from == from
                && (*allowed_to == to || (*allowed_to == "actors/*" && to.starts_with("actors/")))
        })
}

/// One `crate::` path found in production code.
#[derive(Debug)]
struct Import {
    file: PathBuf,
    line: usize,
    target: String,
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of the library with its module path (`src/actors/ingest/actor.rs` ->
/// `actors::ingest::actor`), leaving out the binary and whatever is compiled only for tests.
fn library_files() -> Vec<(PathBuf, Vec<String>)> {
    let root = source_root();
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    let test_only = test_only_modules(&files);
    let binary = binary_modules(&root);
    files
        .into_iter()
        .filter(|(path, module)| {
            let name = path
                .file_stem()
                .and_then(|stem| stem.to_str())
                .unwrap_or("");
            let is_binary = module.first().is_some_and(|first| binary.contains(first));
            let is_test_file =
                name == "tests" || name.ends_with("_tests") || name.starts_with("test_");
            let under_test_module =
                (1..=module.len()).any(|length| test_only.contains(&module[..length]));
            !is_binary && !is_test_file && !under_test_module
        })
        .collect()
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(PathBuf, Vec<String>)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            let relative = path.strip_prefix(root).expect("under src");
            let mut module: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module
                .last()
                .is_some_and(|last| last == "mod" || last == "lib")
            {
                module.pop();
            }
            files.push((path, module));
        }
    }
}

/// `main` and the modules `src/main.rs` declares: the binary, which may use `anyhow` and
/// reaches the library through `discord_monitor::`.
fn binary_modules(root: &Path) -> BTreeSet<String> {
    let main = fs::read_to_string(root.join("main.rs")).expect("src/main.rs");
    main.lines()
        .filter_map(|line| declared_module(line.trim()))
        .map(str::to_owned)
        .chain(["main".to_owned()])
        .collect()
}

/// Modules declared behind `#[cfg(test)]` (`#[cfg(test)] mod test_server;`), by module path.
fn test_only_modules(files: &[(PathBuf, Vec<String>)]) -> BTreeSet<Vec<String>> {
    let mut test_only = BTreeSet::new();
    for (path, module) in files {
        let text = fs::read_to_string(path).expect("source file");
        let mut after_cfg_test = false;
        for line in text.lines().map(str::trim) {
            if line == "#[cfg(test)]" {
                after_cfg_test = true;
                continue;
            }
            if after_cfg_test && let Some(name) = declared_module(line) {
                let mut child = module.clone();
                child.push(name.to_owned());
                test_only.insert(child);
            }
            after_cfg_test = line.starts_with("#[");
        }
    }
    test_only
}

/// `name` of `mod name;` / `pub(crate) mod name;` (a declaration, not an inline module).
fn declared_module(line: &str) -> Option<&str> {
    let rest = line.strip_suffix(';')?;
    let rest = rest
        .strip_prefix("pub(crate) ")
        .or_else(|| rest.strip_prefix("pub "))
        .unwrap_or(rest);
    rest.strip_prefix("mod ").map(str::trim)
}

/// The production part of a file: everything before its first `#[cfg(test)]` (by this
/// crate's habit the test module comes last), without comments.
fn production_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .map(|(index, line)| {
            let code = line.split("//").next().unwrap_or("");
            (index + 1, code)
        })
}

/// Module paths named in `code`: `crate::a::b`, `super::x`, and `crate::{a, b::c}`, each
/// resolved against `module` (the file's own path) to a path from the crate root.
fn paths_in(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(start) = find_path_start(rest) {
        let tail = &rest[start..];
        let (base, after): (Vec<String>, &str) = if let Some(after) = tail.strip_prefix("crate::") {
            (Vec::new(), after)
        } else {
            // `super::super::x`: one level up per `super`, from the file's parent module.
            let mut base = module.to_vec();
            let mut after = tail;
            while let Some(next) = after.strip_prefix("super::") {
                base.pop();
                after = next;
            }
            (base, after)
        };
        if let Some(group) = after.strip_prefix('{') {
            for item in split_top_level(inside_braces(group)) {
                let mut path = base.clone();
                path.extend(leading_segments(item.trim()));
                found.push(path);
            }
        } else {
            let mut path = base;
            path.extend(leading_segments(after));
            found.push(path);
        }
        // Past the `crate::` / `super::` prefixes, so `super::super::x` counts once.
        rest = after;
    }
    found
}

fn find_path_start(text: &str) -> Option<usize> {
    let is_boundary = |index: usize| {
        index == 0
            || !text[..index]
                .chars()
                .next_back()
                .is_some_and(|before| before.is_alphanumeric() || before == '_')
    };
    ["crate::", "super::"]
        .iter()
        .flat_map(|needle| text.match_indices(needle).map(|(index, _)| index))
        .filter(|index| is_boundary(*index))
        .min()
}

/// `a::b::{c, d}` -> `[a, b]`: the module part of a path (lowercase segments).
fn leading_segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(|segment| {
            segment
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .take_while(|segment| {
            segment
                .chars()
                .next()
                .is_some_and(|first| first.is_ascii_lowercase())
        })
        .collect()
}

/// `a, b::{c, d} } rest` -> `a, b::{c, d} `: the text up to the brace that closes the group.
fn inside_braces(group: &str) -> &str {
    let mut depth = 0usize;
    for (index, character) in group.char_indices() {
        match character {
            '{' => depth += 1,
            '}' if depth == 0 => return &group[..index],
            '}' => depth -= 1,
            _ => {}
        }
    }
    group
}

/// Splits `a, b::{c, d}, e` at the commas outside braces.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (index, character) in text.char_indices() {
        match character {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                items.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items
}

/// Every import from one component into another, in production code.
fn cross_component_imports() -> BTreeMap<(String, String), Vec<Import>> {
    let mut imports: BTreeMap<(String, String), Vec<Import>> = BTreeMap::new();
    for (path, module) in library_files() {
        let Some(from) = component_of(&module) else {
            continue;
        };
        let text = fs::read_to_string(&path).expect("source file");
        for (line, code) in production_lines(&text) {
            for target in paths_in(code, &module) {
                let Some(to) = component_of(&target) else {
                    continue;
                };
                if to != from {
                    imports.entry((from.clone(), to)).or_default().push(Import {
                        file: path.clone(),
                        line,
                        target: target.join("::"),
                    });
                }
            }
        }
    }
    imports
}

fn describe(imports: &[Import]) -> String {
    imports
        .iter()
        .map(|import| {
            format!(
                "    {}:{} uses crate::{}",
                import
                    .file
                    .strip_prefix(source_root().parent().expect("crate root"))
                    .unwrap_or(&import.file)
                    .display(),
                import.line,
                import.target
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn imports_point_down_the_layers_and_across_components_only_where_listed() {
    let mut problems = Vec::new();
    for ((from, to), imports) in cross_component_imports() {
        let (from_layer, to_layer) = (layer_of(&from), layer_of(&to));
        let rule = if to_layer > from_layer {
            Some(format!(
                "{from} ({from_layer:?}) must not import {to} ({to_layer:?}): layers point down"
            ))
        } else if to_layer == Layer::Component
            && from_layer == Layer::Component
            && !allowed_between_components(&from, &to)
        {
            Some(format!(
                "{from} must not import {to}: components reach each other only as listed in \
                 COMPONENT_IMPORTS (pass what it needs in through its constructor instead)"
            ))
        } else {
            None
        };
        if let Some(rule) = rule {
            problems.push(format!("{rule}\n{}", describe(&imports)));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n\n"));
}

#[test]
fn no_two_components_import_each_other_even_indirectly() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in cross_component_imports().into_keys() {
        edges.entry(from).or_default().insert(to);
    }
    // Depth-first search for a back edge; the path to it is the cycle to report.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(position) = path.iter().position(|seen| seen == node) {
            let mut cycle = path[position..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        let cycle = visit(node, &edges, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle between components: {}",
            cycle.unwrap().join(" -> ")
        );
    }
}

#[test]
fn the_simulator_and_anyhow_stay_out_of_the_library() {
    let mut problems = Vec::new();
    for (path, module) in library_files() {
        let text = fs::read_to_string(&path).expect("source file");
        for (line, code) in production_lines(&text) {
            // Only `demo` runs the service against the simulator.
            if code.contains("discord_sim") && module != ["app", "demo"] {
                problems.push(format!(
                    "{}:{line}: the service depends on discord_sim",
                    path.display()
                ));
            }
            if code.contains("anyhow") {
                problems.push(format!(
                    "{}:{line}: anyhow outside the binary (use a thiserror enum)",
                    path.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_checker_reads_paths_as_rust_does() {
    let module: Vec<String> = ["actors", "ingest", "actor"].map(str::to_owned).to_vec();
    let paths = paths_in(
        "use crate::{discord::gateway::{A, B}, metrics::Metrics}; use super::super::db::X;",
        &module,
    );
    let joined: Vec<String> = paths.iter().map(|path| path.join("::")).collect();
    assert_eq!(joined, ["discord::gateway", "metrics", "actors::db"]);
    assert_eq!(component_of(&paths[2]), Some("actors/db".to_owned()));
    assert!(paths_in("let x = my_crate::y;", &module).is_empty());
    assert_eq!(
        declared_module("pub(crate) mod test_server;"),
        Some("test_server")
    );
}
