//! Headless Chromium through chromedriver, driven with fantoccini. One browser at a time per
//! test binary (the machine is small): each test takes the lock, starts chromedriver on a
//! free loopback port and Chromium with a fresh profile, and both end with the test.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use mppsol_e2e::{Kill, TempDir, free_port};
use mppsol_operator::IssuedKey;
use serde_json::json;
use tokio::sync::{Mutex, MutexGuard};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

static ONE_AT_A_TIME: LazyLock<Mutex<()>> = LazyLock::new(|| Mutex::new(()));

/// A browser session; ends its Chromium and chromedriver when dropped.
pub struct Browser {
    pub c: Client,
    pub base: String,
    _driver: Kill,
    _profile: TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl Drop for Browser {
    /// Chromium outlives a killed chromedriver (a test that panics never ends its WebDriver
    /// session): end every Chromium process of this test's profile first.
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(format!("user-data-dir={}", self._profile.0.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium pointed at `base`.
    pub async fn start(base: &str) -> Self {
        let turn = ONE_AT_A_TIME.lock().await;
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver (.ci/run installs them)"
        );
        let port = free_port();
        let driver = Kill(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn chromedriver"),
        );
        let profile = TempDir::new("chromium");
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1360,900",
                    format!("--user-data-dir={}", profile.0.display()),
                ]
            }
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let c = loop {
            // chromedriver is on loopback: plain HTTP, no TLS stack.
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not start: {e}"),
            }
        };
        Self {
            c,
            base: base.to_owned(),
            _driver: driver,
            _profile: profile,
            _turn: turn,
        }
    }

    /// Opens `path` of the dashboard.
    pub async fn open(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// The current path.
    pub async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_owned()
    }

    /// The visible text of `css`.
    pub async fn text(&self, css: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// Types `value` into the field `css` (replacing what it held).
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self
            .c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    /// The current value of the form field `css`.
    pub async fn value(&self, css: &str) -> Option<String> {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .prop("value")
            .await
            .unwrap()
    }

    /// Clicks `css` and waits for the next page: WebDriver's click returns once the form is
    /// submitted, so wait until the old document is gone (its root element goes stale) and the
    /// new one has loaded.
    pub async fn click(&self, css: &str) {
        let old = self.c.find(Locator::Css("html")).await.unwrap();
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
        for _ in 0..150 {
            if old.tag_name().await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        for _ in 0..150 {
            let state = self.c.execute("return document.readyState", vec![]).await;
            if matches!(state, Ok(ref v) if v == "complete") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// Signs in through the form with `key`.
    pub async fn sign_in(&self, key: &IssuedKey) {
        self.open("/dashboard").await;
        assert_eq!(
            self.path().await,
            "/dashboard/sign-in",
            "no session: sent to sign in"
        );
        self.fill("#key_id", &key.key.id).await;
        self.fill("#secret", &key.secret).await;
        self.click("#sign-in button[type=submit]").await;
        // The click returns once the form is submitted; the redirect lands a moment later
        // (later still on a loaded machine).
        let mut path = self.path().await;
        for _ in 0..150 {
            if path == "/dashboard" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            path = self.path().await;
        }
        assert_eq!(path, "/dashboard", "signed in: sent to the overview");
    }

    /// Saves a PNG of the page as `target/screenshots/<name>.png` (workspace root).
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = self.c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG came back");
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = self.c.clone().close().await;
    }
}
