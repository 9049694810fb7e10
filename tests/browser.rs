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

/// Where the page's first `What to do` section lies when the page is shown in a 1400×900 window:
/// (the text of the first `h3` on the page, that section's top and bottom in CSS pixels).
///
/// The report allows no script, so a wrapper page of the test's own (no CSP) loads it in a
/// 1400×900 frame and measures it from outside.
pub fn first_screen_layout(chromium: &Path, page: &Path) -> (String, f64, f64) {
    let dir = tempfile::tempdir().expect("a directory for the wrapper page");
    let page = page.canonicalize().expect("the page exists");
    let wrapper = dir.path().join("measure.html");
    std::fs::write(
        &wrapper,
        format!(
            r#"<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="file://{}" style="width:1400px;height:900px;border:0"></iframe>
<pre id="result">pending</pre>
<script>
document.getElementById("f").addEventListener("load", () => {{
  const doc = document.getElementById("f").contentDocument;
  const h3 = doc.querySelector("h3");
  const actions = doc.querySelector("section.actions");
  const box = actions ? actions.getBoundingClientRect() : {{top: -1, bottom: -1}};
  document.getElementById("result").textContent =
    JSON.stringify({{first_h3: h3 ? h3.textContent : "", top: box.top, bottom: box.bottom}});
}});
</script></body></html>"#,
            page.display()
        ),
    )
    .expect("the wrapper page is written");
    let profile = tempfile::tempdir().expect("a browser profile directory");
    let output = chromium_command(chromium, profile.path())
        .args([
            "--allow-file-access-from-files",
            "--virtual-time-budget=10000",
        ])
        .arg("--dump-dom")
        .arg(format!("file://{}", wrapper.display()))
        .output()
        .expect("chromium starts");
    let dom = String::from_utf8_lossy(&output.stdout);
    let start = dom.find("<pre id=\"result\">").expect("the result element") + 17;
    let end = start + dom[start..].find("</pre>").expect("the result's end");
    let result: serde_json::Value = serde_json::from_str(&dom[start..end].replace("&quot;", "\""))
        .unwrap_or_else(|e| panic!("the wrapper measured nothing ({e}): {}", &dom[start..end]));
    (
        result["first_h3"].as_str().unwrap_or_default().to_owned(),
        result["top"].as_f64().unwrap_or(-1.0),
        result["bottom"].as_f64().unwrap_or(-1.0),
    )
}
