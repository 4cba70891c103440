//! A headless Chromium driven over the Chrome DevTools protocol: the
//! browser is started with a debugging port of its own choosing, read
//! from its first lines; one page is opened and driven by commands over
//! a WebSocket. Clicks and typing are input events, as a person's are.
//!
//! As root Chromium needs `--no-sandbox`; it is given always, since the
//! pages it loads are the test's own.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sipjet_testkit::PATIENCE;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Ws;

/// A browser with one page.
pub struct Browser {
    child: Child,
    ws: WebSocketStream<TcpStream>,
    session: String,
    next_id: u64,
}

impl Browser {
    /// Starts Chromium with its profile in `profile`, a window of
    /// `width`×`height`, and opens a blank page.
    pub async fn start(profile: &Path, width: u32, height: u32) -> Browser {
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.display()),
                "about:blank",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("chromium runs (apt-get install chromium)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_string();
                }
            }
            panic!("chromium ended without a DevTools address");
        })
        .await
        .expect("chromium says where DevTools listens");
        // Chromium's later complaints are read and dropped, so that a
        // full pipe never stalls it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let host = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .expect("a ws:// address")
            .to_string();
        let tcp = TcpStream::connect(&host).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp)
            .await
            .expect("the DevTools WebSocket");
        let mut b = Browser {
            child,
            ws,
            session: String::new(),
            next_id: 0,
        };
        let target = b
            .command("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = b
            .command(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.page(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        b
    }

    async fn send(&mut self, method: &str, params: Value, session: bool) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({"id": id, "method": method, "params": params});
        if session {
            command["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Ws::text(command.to_string()))
            .await
            .expect("DevTools takes the command");
        let answer = tokio::time::timeout(PATIENCE, async {
            loop {
                let frame = self
                    .ws
                    .next()
                    .await
                    .expect("DevTools stays open")
                    .expect("a DevTools frame");
                let Ws::Text(text) = frame else { continue };
                let v: Value = serde_json::from_str(&text).unwrap();
                if v["id"] == json!(id) {
                    return v;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {method}"));
        if let Some(e) = answer.get("error") {
            panic!("{method}: {e}");
        }
        answer["result"].clone()
    }

    async fn command(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, false).await
    }

    /// A command to the page.
    pub async fn page(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, true).await
    }

    /// Opens `url`.
    pub async fn open(&mut self, url: &str) {
        self.page("Page.navigate", json!({"url": url})).await;
    }

    /// The value of a JavaScript expression in the page (promises
    /// awaited).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .page(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page; `what` names the
    /// wait in the failure, with the last value of `show`.
    pub async fn wait_for(&mut self, what: &str, expression: &str, show: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if self.eval(expression).await == json!(true) {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let shown = self.eval(show).await;
                panic!("waited in vain for {what}; the page shows: {shown}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The visible text of the element `selector`.
    pub async fn text(&mut self, selector: &str) -> String {
        let js = format!(
            "(document.querySelector({}) || {{innerText: ''}}).innerText",
            json!(selector)
        );
        self.eval(&js)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Clicks the middle of the element `selector`, scrolled into view.
    pub async fn click(&mut self, selector: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null;
               e.scrollIntoView({{block: 'center', inline: 'center'}});
               const r = e.getBoundingClientRect();
               return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
            json!(selector)
        );
        let at = self.eval(&js).await;
        let (x, y) = (
            at[0]
                .as_f64()
                .unwrap_or_else(|| panic!("no {selector} to click")),
            at[1].as_f64().unwrap(),
        );
        for kind in ["mousePressed", "mouseReleased"] {
            self.page(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Types `text` into the focused field.
    pub async fn type_text(&mut self, text: &str) {
        self.page("Input.insertText", json!({"text": text})).await;
    }

    /// Saves what the page shows (all of it) as a PNG file.
    pub async fn screenshot(&mut self, file: &Path) {
        let shot = self
            .page(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
