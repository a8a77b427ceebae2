//! A real browser for the UI tests: Debian's Chromium, headless, driven by its chromedriver
//! through fantoccini (a WebDriver client). Without `chromium` and `chromedriver` on PATH the
//! browser tests skip, saying so, unless `MAIA_TEST_REQUIRE_BROWSER` is set (`.ci/run` sets
//! it), where they fail.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use super::http::free_port;
use super::scratch::Scratch;

/// How long a wait for the page may take before the test fails, saying what it waited for.
const WAIT: Duration = Duration::from_secs(10);
/// How long chromedriver may take to listen and Chromium to start, on a loaded machine.
const START: Duration = Duration::from_secs(60);
/// The Enter key, in text typed into an element.
pub const ENTER: &str = "\u{E007}";

/// A headless Chromium session: [`Browser::quit`] ends it; its driver is killed on drop.
pub struct Browser {
    client: Client,
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

/// An element that is not there, or was replaced since it was found (the page re-rendered):
/// a wait tries again.
fn gone(error: &CmdError) -> bool {
    error.is_no_such_element() || error.is_stale_element_reference()
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
        let client = new_session(port, &home.path("profile"), (width, height)).await;
        Some(Browser {
            client,
            driver,
            home,
            _turn: turn,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    /// The element `css` selects, if there is one now.
    async fn element(&self, css: &str) -> Option<Element> {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => Some(element),
            Err(e) if gone(&e) => None,
            Err(e) => panic!("finding {css}: {e}"),
        }
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

    /// Does `act` to the element `css` selects, once it exists and stays long enough.
    async fn act<F, Fut>(&self, css: &str, what: &str, act: F)
    where
        F: Fn(Element) -> Fut,
        Fut: std::future::Future<Output = Result<(), CmdError>>,
    {
        wait_some(&format!("{css} to {what}"), || async {
            let element = self.element(css).await?;
            match act(element).await {
                Ok(()) => Some(()),
                Err(e) if gone(&e) => None,
                Err(e) => panic!("{what} {css}: {e}"),
            }
        })
        .await;
    }

    pub async fn click(&self, css: &str) {
        self.act(css, "click", |e| async move { e.click().await })
            .await;
    }

    /// Types `text` into the element `css` selects ([`ENTER`] presses Enter).
    pub async fn type_into(&self, css: &str, text: &str) {
        self.act(css, "type into", |e| async move { e.send_keys(text).await })
            .await;
    }

    /// Empties the field `css` selects.
    pub async fn clear(&self, css: &str) {
        self.act(css, "clear", |e| async move { e.clear().await })
            .await;
    }

    /// The text the element `css` selects shows, empty if there is none.
    pub async fn text(&self, css: &str) -> String {
        match self.element(css).await {
            Some(element) => element.text().await.unwrap_or_default(),
            None => String::new(),
        }
    }

    /// Whether the element `css` selects is shown (false if there is none).
    pub async fn shown(&self, css: &str) -> bool {
        match self.element(css).await {
            Some(element) => element.is_displayed().await.unwrap_or(false),
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
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("the script threw: {e}"))
    }

    /// Picks the option whose value is `value` in the `<select>` that `css` selects.
    pub async fn select(&self, css: &str, value: &str) {
        self.act(css, "select in", |e| async move {
            e.select_by_value(value).await
        })
        .await;
    }

    /// Waits for the page's `prompt()`, `confirm()` or `alert()`; its text.
    async fn dialog(&self) -> String {
        wait_some("a dialog", || async {
            self.client.get_alert_text().await.ok()
        })
        .await
    }

    /// Answers the page's `prompt()` with `text`.
    pub async fn answer_prompt(&self, text: &str) {
        self.dialog().await;
        self.client.send_alert_text(text).await.expect("a prompt");
        self.client
            .accept_alert()
            .await
            .expect("the prompt answered");
    }

    /// Says OK (`yes`) or Cancel to the page's `confirm()`; what it asked.
    pub async fn confirm(&self, yes: bool) -> String {
        let asked = self.dialog().await;
        let said = if yes {
            self.client.accept_alert().await
        } else {
            self.client.dismiss_alert().await
        };
        said.expect("the dialog answered");
        asked
    }

    /// The window as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client.screenshot().await.expect("a screenshot")
    }

    /// Ends the session, which closes Chromium.
    pub async fn quit(self) {
        self.client.clone().close().await.expect("the session ends");
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

async fn new_session(port: u16, profile: &std::path::Path, (width, height): (u32, u32)) -> Client {
    // The page's own size, as a phone's would be: a headless window is never narrower
    // than 500 pixels.
    let capabilities = json!({ "goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 format!("--user-data-dir={}", profile.display()),
                 format!("--window-size={width},{height}")],
        "mobileEmulation": { "deviceMetrics":
            { "width": width, "height": height, "pixelRatio": 1.0, "mobile": width < 600 } },
    }});
    let Value::Object(capabilities) = capabilities else {
        unreachable!()
    };
    let mut builder = ClientBuilder::new(HttpConnector::new());
    builder.capabilities(capabilities);
    let address = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + START;
    loop {
        // The driver takes a moment to listen.
        match builder.connect(&address).await {
            Ok(client) => return client,
            Err(e) => assert!(
                Instant::now() < deadline,
                "no WebDriver session in {START:?}: {e}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
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
