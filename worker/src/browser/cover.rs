//! Carries the stealth disguise to every target a page opens: its out-of-process iframes
//! and its workers (dedicated ones, and those they open in turn), which chromiumoxide's own
//! session resumes as soon as they start.
//!
//! Invariant: no script of a covered page's child target runs before its disguise is in
//! place. A second CDP connection of ours attaches to the page and auto-attaches to its
//! children with `waitForDebuggerOnStart`; Chromium starts a child only once every client
//! that asked to wait has let it run, and this one lets it run only after Chromium has
//! answered every override sent to it (answers on a session come in order).

use std::{collections::HashMap, sync::Arc};

use async_tungstenite::{tokio::connect_async, tungstenite::Message};
use futures::StreamExt;
use serde_json::{Value, json};

use super::stealth::{self, Fingerprint};
use crate::error::FetchError;

/// What each target of a stealth page is told, prepared once per page.
pub(super) struct Disguise {
    user_agent: Value,
    timezone: String,
    locale: String,
    cores: u32,
    document_script: String,
    worker_script: String,
}

impl Disguise {
    pub(super) fn new(fp: &Fingerprint, engine: &str, scripts: &stealth::Scripts) -> Self {
        Self {
            user_agent: stealth::user_agent_override(fp, engine),
            timezone: fp.timezone.clone(),
            locale: fp.locale.clone(),
            cores: fp.hardware_concurrency,
            document_script: scripts.document.clone(),
            worker_script: scripts.worker.clone(),
        }
    }

    /// The commands a target of `kind` gets before it may run (the page itself, `None`,
    /// has its script from its own session, [`stealth::apply`]).
    fn commands(&self, kind: Option<&str>) -> Vec<(&'static str, Value)> {
        let mut out = vec![
            ("Emulation.setUserAgentOverride", self.user_agent.clone()),
            ("Network.setUserAgentOverride", self.user_agent.clone()),
            (
                "Emulation.setTimezoneOverride",
                json!({ "timezoneId": self.timezone }),
            ),
            (
                "Emulation.setHardwareConcurrencyOverride",
                json!({ "hardwareConcurrency": self.cores }),
            ),
        ];
        let worker = kind.is_some_and(|k| k.contains("worker"));
        if !worker {
            out.push((
                "Emulation.setLocaleOverride",
                json!({ "locale": self.locale }),
            ));
        }
        match kind {
            Some(_) if worker => out.push((
                "Runtime.evaluate",
                json!({ "expression": self.worker_script, "silent": true }),
            )),
            Some(_) => {
                // A frame runs the scripts of sessions with its Page domain on.
                out.push(("Page.enable", json!({})));
                out.push((
                    "Page.addScriptToEvaluateOnNewDocument",
                    json!({ "source": self.document_script }),
                ));
            }
            None => {}
        }
        out.push((
            "Target.setAutoAttach",
            json!({ "autoAttach": true, "waitForDebuggerOnStart": true, "flatten": true }),
        ));
        out
    }
}

/// The connection covering one page; dropping it ends the cover (with the page).
pub(super) struct Cover {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Cover {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Socket = async_tungstenite::WebSocketStream<async_tungstenite::tokio::ConnectStream>;

/// One CDP connection: numbered commands, and what to do when each is answered.
struct Link {
    socket: Socket,
    next: u64,
    /// Command id → the child session to let run once it is answered.
    resume: HashMap<u64, String>,
}

impl Link {
    async fn send(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<u64, FetchError> {
        self.next += 1;
        let mut msg = json!({ "id": self.next, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.socket
            .send(Message::text(msg.to_string()))
            .await
            .map_err(|e| FetchError::Browser(format!("cover: {e}")))?;
        Ok(self.next)
    }

    async fn next_message(&mut self) -> Option<Value> {
        loop {
            match self.socket.next().await? {
                Ok(Message::Text(text)) => return serde_json::from_str(&text).ok(),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Waits for the answer to command `id`, handling what arrives meanwhile.
    async fn answer(&mut self, id: u64, disguise: &Disguise) -> Result<Value, FetchError> {
        while let Some(msg) = self.next_message().await {
            if msg["id"].as_u64() == Some(id) {
                return match msg.get("error") {
                    Some(e) => Err(FetchError::Browser(format!("cover: {e}"))),
                    None => Ok(msg["result"].clone()),
                };
            }
            self.handle(msg, disguise).await?;
        }
        Err(FetchError::Browser(
            "cover: the browser closed the connection".into(),
        ))
    }

    /// A child target attached: disguise it, then let it run once all is answered.
    async fn handle(&mut self, msg: Value, disguise: &Disguise) -> Result<(), FetchError> {
        if let Some(id) = msg["id"].as_u64() {
            if let Some(session) = self.resume.remove(&id) {
                self.send(Some(&session), "Runtime.runIfWaitingForDebugger", json!({}))
                    .await?;
            }
            return Ok(());
        }
        if msg["method"] != "Target.attachedToTarget" {
            return Ok(());
        }
        let params = &msg["params"];
        let Some(session) = params["sessionId"].as_str().map(str::to_owned) else {
            return Ok(());
        };
        let kind = params["targetInfo"]["type"].as_str().unwrap_or("other");
        let mut last = 0;
        for (method, args) in disguise.commands(Some(kind)) {
            last = self.send(Some(&session), method, args).await?;
        }
        self.resume.insert(last, session);
        Ok(())
    }
}

impl Cover {
    /// Attaches to the page `target` over `ws` (the browser's DevTools address) and
    /// disguises it and every child it opens; returns once the page itself is covered.
    pub(super) async fn start(
        ws: &str,
        target: &str,
        disguise: Arc<Disguise>,
    ) -> Result<Self, FetchError> {
        let (socket, _) = connect_async(ws)
            .await
            .map_err(|e| FetchError::Browser(format!("cover: {e}")))?;
        let mut link = Link {
            socket,
            next: 0,
            resume: HashMap::new(),
        };
        let attach = link
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await?;
        let attached = link.answer(attach, &disguise).await?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or_else(|| FetchError::Browser("cover: no session".into()))?
            .to_owned();
        let mut last = 0;
        for (method, args) in disguise.commands(None) {
            last = link.send(Some(&session), method, args).await?;
        }
        // Answered in order: the auto-attach, sent last, means every override is in place.
        link.answer(last, &disguise).await?;
        let task = tokio::spawn(async move {
            while let Some(msg) = link.next_message().await {
                if link.handle(msg, &disguise).await.is_err() {
                    return;
                }
            }
        });
        Ok(Self { task })
    }
}
