//! Headless Chromium for the HTML report's tests: load a file, read back the DOM after it ran,
//! every console message, and optionally a screenshot.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). On a developer's machine
//! without it the browser tests skip with a message; under CI (`CI` set) a missing browser fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the browser made of a page.
pub struct PageLoad {
    /// The DOM after the page's scripts (if any) ran, serialized.
    pub dom: String,
    /// Every console message, CSP violations and failed loads included.
    pub console: Vec<String>,
}

/// Where Chromium is, if anywhere: `$CHROMIUM`, else `chromium`, `chromium-browser` or
/// `google-chrome` on the PATH.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&paths) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// The browser, or `None` (after saying why) when a developer's machine has none. Panics in CI.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    match find_chromium() {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => {
            panic!("{test}: Chromium is required in CI (.ci/run installs Debian's chromium)")
        }
        None => {
            eprintln!(
                "SKIPPED {test}: no Chromium found (install Debian's `chromium` or set CHROMIUM)"
            );
            None
        }
    }
}

fn chromium_command(chromium: &Path, profile: &Path) -> Command {
    let mut command = Command::new(chromium);
    // The flags Chromium needs to start quickly and quietly on a closed network, as root.
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    command.arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Loads `page` and returns its DOM and console; with `screenshot`, also saves one there.
pub fn load(chromium: &Path, page: &Path, screenshot: Option<&Path>) -> PageLoad {
    let profile = tempfile::tempdir().expect("a browser profile directory");
    let url = format!(
        "file://{}",
        page.canonicalize().expect("the page exists").display()
    );
    let output = chromium_command(chromium, profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium starts");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    if let Some(shot) = screenshot {
        let output = chromium_command(chromium, profile.path())
            .arg("--window-size=1300,2400")
            .arg(format!("--screenshot={}", shot.display()))
            .arg(&url)
            .output()
            .expect("chromium starts");
        assert!(
            output.status.success(),
            "chromium screenshot failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    PageLoad {
        dom: String::from_utf8_lossy(&output.stdout).into_owned(),
        console,
    }
}
