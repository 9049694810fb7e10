//! The documentation as a product (issue 25): README.md is a front door of at most 300 lines, and
//! every relative link in it, in docs/ and in the other Markdown files beside the code leads to a
//! file that exists and, with a `#anchor`, to a heading of that file by GitHub's anchor rules.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{} is readable: {e}", path.display()))
}

/// The Markdown files people read: the README, docs/*.md, and the other guides in the tree.
fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = [
        "README.md",
        "BENCHMARKS.md",
        "sample-data/README.md",
        "benches/baselines/README.md",
    ]
    .iter()
    .map(|f| root().join(f))
    .collect();
    for entry in std::fs::read_dir(root().join("docs")).expect("docs/ is readable") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The lines of `text` outside fenced code blocks.
fn unfenced_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence {
            lines.push(line);
        }
    }
    lines
}

/// The lines of `text` outside fenced code blocks, with inline code spans removed: what Markdown
/// reads as prose and links.
fn prose_lines(text: &str) -> Vec<String> {
    unfenced_lines(text)
        .into_iter()
        .map(without_code_spans)
        .collect()
}

/// `line` without its code spans: a run of backticks up to the next run of the same length.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let fence = &rest[start..start + ticks];
        let after = &rest[start + ticks..];
        match after.find(fence) {
            Some(end) => rest = &after[end + ticks..],
            // An unmatched backtick is literal.
            None => {
                out.push_str(fence);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The targets of the inline links and images of `text` (`[text](target)`, `![alt](target)`).
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            // A title after the target (`(file "title")`) is not part of it.
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push(target.to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// A heading's anchor as GitHub makes it: lowercased, spaces as `-`, every character but letters,
/// digits, `-` and `_` dropped (so `Redirects and links: where the key goes` is
/// `redirects-and-links-where-the-key-goes`).
fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor the headings of `text` give, a repeated one numbered as GitHub numbers it
/// (`-1`, `-2`, …).
fn anchors(text: &str) -> HashSet<String> {
    let mut anchors = HashSet::new();
    // A heading's code spans count: their backticks are dropped like any punctuation.
    for line in unfenced_lines(text) {
        let level = line.len() - line.trim_start_matches('#').len();
        if !(1..=6).contains(&level) || !line[level..].starts_with(' ') {
            continue;
        }
        let anchor = github_anchor(&line[level..]);
        let mut unique = anchor.clone();
        let mut n = 0;
        while anchors.contains(&unique) {
            n += 1;
            unique = format!("{anchor}-{n}");
        }
        anchors.insert(unique);
    }
    anchors
}

#[test]
fn github_anchors_follow_githubs_rules() {
    assert_eq!(
        github_anchor(" Redirects and links: where the key goes"),
        "redirects-and-links-where-the-key-goes"
    );
    assert_eq!(
        github_anchor("Import, and callbudget against DuckDB and pandas (issue 18)"),
        "import-and-callbudget-against-duckdb-and-pandas-issue-18"
    );
    assert_eq!(
        github_anchor("The final code on a quiet machine (issue 18's \"done when\")"),
        "the-final-code-on-a-quiet-machine-issue-18s-done-when"
    );
    assert_eq!(github_anchor("a — b"), "a--b");
    let text = "# Views\n```sh\n# not a heading\n```\n## Views\n";
    let found = anchors(text);
    assert_eq!(
        found,
        HashSet::from(["views".to_owned(), "views-1".to_owned()])
    );
    assert_eq!(
        link_targets("[a](x.md#y) `[b](not-a-link)` ![c](img.png \"title\")"),
        ["x.md#y", "img.png"]
    );
}

#[test]
fn every_relative_link_in_the_docs_leads_to_a_file_and_a_heading() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = read(&file);
        let shown = file
            .strip_prefix(root())
            .unwrap_or(&file)
            .display()
            .to_string();
        for target in link_targets(&text) {
            if target.is_empty()
                || target.contains("://")
                || target.starts_with("mailto:")
                || target.starts_with('<')
            {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let linked = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a file in a directory").join(path)
            };
            if !linked.exists() {
                broken.push(format!("{shown}: {target}: no such file"));
                continue;
            }
            if let Some(anchor) = anchor {
                let is_markdown = linked.extension().is_some_and(|e| e == "md");
                if !is_markdown || !anchors(&read(&linked)).contains(anchor) {
                    broken.push(format!("{shown}: {target}: no such heading"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
    assert!(
        checked > 50,
        "only {checked} links found: is the parser still reading them?"
    );
}

#[test]
fn the_readme_is_a_front_door_of_at_most_300_lines() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "README.md has {lines} lines: move the detail into docs/ and link it"
    );
    // Where to read more: every page of docs/ that a person reads is linked from the README.
    let linked = link_targets(&readme);
    for file in markdown_files() {
        if let Ok(page) = file.strip_prefix(root().join("docs")) {
            let page = format!("docs/{}", page.display());
            assert!(
                linked.iter().any(|l| l.split('#').next() == Some(&page)),
                "README.md does not link {page}"
            );
        }
    }
}
