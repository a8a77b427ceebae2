//! A real browser for the UI tests: Debian's Chromium, headless, driven by its chromedriver
//! over the W3C WebDriver protocol (JSON over HTTP, spoken here with reqwest). Without
//! `chromium` and `chromedriver` on PATH the browser tests skip, saying so, unless
//! `MAIA_TEST_REQUIRE_BROWSER` is set (`.ci/run` sets it), where they fail.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::free_port;
use super::scratch::Scratch;

/// How long a wait for the page may take before the test fails, saying what it waited for.
const WAIT: Duration = Duration::from_secs(10);
/// How long chromedriver may take to listen and Chromium to start, on a loaded machine.
const START: Duration = Duration::from_secs(60);
/// The key WebDriver's element references are under.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's code for the Enter key, in text sent to an element.
pub const ENTER: &str = "\u{E007}";

/// A headless Chromium session: [`Browser::quit`] ends it; its driver is killed on drop.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: Child,
    /// Chromium's profile and the driver's home: writable wherever the tests run (a build
    /// sandbox's HOME is not).
    home: Scratch,
    /// One browser at a time: each is a few processes and hundreds of MB, and the tests
    /// of a binary run side by side on two cores.
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

static TURN: std::sync::LazyLock<std::sync::Arc<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(Default::default);

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

impl Browser {
    /// A browser with a window of `width` × `height`; `None` (the test skips) when Chromium
    /// is not installed and not required.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        if !(on_path("chromium") && on_path("chromedriver")) {
            assert!(
                std::env::var_os("MAIA_TEST_REQUIRE_BROWSER").is_none(),
                "MAIA_TEST_REQUIRE_BROWSER is set, but chromium or chromedriver is not on PATH"
            );
            eprintln!(
                "skipped: no chromium and chromedriver (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let turn = TURN.clone().lock_owned().await;
        let port = free_port();
        let home = Scratch::new("browser");
        // A process group of its own, so that Chromium goes with the driver (see Drop).
        let driver = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={port}"))
            .env("HOME", home.dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let profile = home.path("profile");
        let session = new_session(&http, &base, &profile, (width, height)).await;
        Some(Browser {
            http,
            session: format!("{base}/session/{session}"),
            driver,
            home,
            _turn: turn,
        })
    }

    /// A WebDriver command's value, or the error it answered with.
    async fn try_command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let ok = response.status().is_success();
        let answer: Value = response.json().await.unwrap();
        let value = answer["value"].clone();
        if ok {
            Ok(value)
        } else {
            Err(value)
        }
    }

    /// A WebDriver command's value; an error (an element not interactable, a script that
    /// threw) fails the test.
    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.try_command(method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The element `css` selects, if there is one now.
    async fn element(&self, css: &str) -> Option<String> {
        let body = json!({ "using": "css selector", "value": css });
        let found = self
            .try_command(reqwest::Method::POST, "/element", Some(body))
            .await
            .ok()?;
        found[ELEMENT].as_str().map(str::to_string)
    }

    /// Waits until `check` holds of the page, or fails saying `what` it waited for.
    pub async fn wait_for<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        wait_some(what, || {
            let holds = check();
            async move { holds.await.then_some(()) }
        })
        .await;
    }

    async fn existing(&self, css: &str) -> String {
        wait_some(&format!("{css} to exist"), || self.element(css)).await
    }

    pub async fn click(&self, css: &str) {
        let id = self.existing(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    /// Types `text` into the element `css` selects ([`ENTER`] presses Enter).
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.existing(css).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    /// The text the element `css` selects shows, empty if there is none.
    pub async fn text(&self, css: &str) -> String {
        match self.element(css).await {
            Some(id) => self
                .command(reqwest::Method::GET, &format!("/element/{id}/text"), None)
                .await
                .as_str()
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        }
    }

    /// Whether the element `css` selects is shown (false if there is none).
    pub async fn shown(&self, css: &str) -> bool {
        match self.element(css).await {
            Some(id) => self
                .command(
                    reqwest::Method::GET,
                    &format!("/element/{id}/displayed"),
                    None,
                )
                .await
                .as_bool()
                .unwrap_or(false),
            None => false,
        }
    }

    /// Waits until the element `css` selects is shown.
    pub async fn wait_shown(&self, css: &str) {
        self.wait_for(&format!("{css} to be shown"), || self.shown(css))
            .await;
    }

    /// Runs `script` (a function body) in the page; what it returns.
    pub async fn run(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// The window as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let shot = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("a screenshot"))
            .unwrap()
    }
}

/// Waits until `find` finds something, and gives it; fails saying `what` it waited for.
pub async fn wait_some<T, F, Fut>(what: &str, mut find: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = find().await {
            return found;
        }
        assert!(Instant::now() < deadline, "waited {WAIT:?} for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn new_session(
    http: &reqwest::Client,
    base: &str,
    profile: &std::path::Path,
    (width, height): (u32, u32),
) -> String {
    // The page's own size, as a phone's would be: a headless window is never narrower
    // than 500 pixels.
    let capabilities = json!({ "capabilities": { "alwaysMatch": { "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 format!("--user-data-dir={}", profile.display()),
                 format!("--window-size={width},{height}")],
        "mobileEmulation": { "deviceMetrics":
            { "width": width, "height": height, "pixelRatio": 1.0, "mobile": width < 600 } },
    }}}});
    let deadline = Instant::now() + START;
    loop {
        // The driver takes a moment to listen.
        if let Ok(response) = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
        {
            let answer: Value = response.json().await.unwrap();
            return answer["value"]["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("no WebDriver session: {answer}"))
                .to_string();
        }
        assert!(Instant::now() < deadline, "chromedriver never listened");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Browser {
    /// Ends the session, which closes Chromium.
    pub async fn quit(self) {
        self.command(reqwest::Method::DELETE, "", None).await;
    }
}

impl Drop for Browser {
    /// Kills the driver and the Chromium it started (its process group): a test that failed
    /// before `quit` leaves no browser behind.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}
