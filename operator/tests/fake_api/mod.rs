//! A fake Kubernetes API server for the controllers' scenario tests: a tower service the
//! kube `Client` sends its requests to, holding objects by path and logging every write
//! (method, path and body), so a test can say which writes a reconcile made, and that it
//! made none when nothing changed. It answers the requests the controllers make: GET of an
//! object (404 when absent), server-side apply and JSON patches (the finalizer's add, test,
//! remove), Event creation and updates, and DELETE.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use axum::body::Bytes;
use axum::http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use kube::Client;
use serde_json::{Value, json};

/// A write the controllers made.
#[derive(Debug, Clone)]
pub struct Write {
    pub method: Method,
    /// The path without the query.
    pub path: String,
    pub body: Value,
}

impl Write {
    /// `PATCH .../status`, `POST .../events` and so on, for assertions.
    pub fn is(&self, method: &Method, path_ends: &str) -> bool {
        self.method == *method && self.path.ends_with(path_ends)
    }
}

#[derive(Default)]
struct State {
    objects: HashMap<String, Value>,
    writes: Vec<Write>,
}

#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    /// A kube client whose every request this fake answers.
    pub fn client(&self) -> Client {
        let me = self.clone();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let me = me.clone();
            async move { Ok::<_, Infallible>(me.answer(req).await) }
        });
        Client::new(service, "default")
    }

    /// Stores `object` at `path`, as if it had been created.
    pub fn put(&self, path: &str, object: Value) {
        self.lock().objects.insert(path.to_owned(), object);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.lock().objects.get(path).cloned()
    }

    /// The writes made since the last call.
    pub fn take_writes(&self) -> Vec<Write> {
        std::mem::take(&mut self.lock().writes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn answer(&self, req: Request<kube::client::Body>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let bytes = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if method != Method::GET {
            self.lock().writes.push(Write {
                method: method.clone(),
                path: path.clone(),
                body: body.clone(),
            });
        }
        let mut state = self.lock();
        match method {
            Method::GET => match state.objects.get(&path) {
                Some(obj) => respond(StatusCode::OK, obj),
                None => not_found(&path),
            },
            Method::POST => {
                let name = body["metadata"]["name"]
                    .as_str()
                    .unwrap_or("generated")
                    .to_owned();
                state.objects.insert(format!("{path}/{name}"), body.clone());
                respond(StatusCode::CREATED, &body)
            }
            Method::PATCH => {
                let (target, subresource) = match path.strip_suffix("/status") {
                    Some(p) => (p.to_owned(), true),
                    None => (path.clone(), false),
                };
                let current = state.objects.get(&target).cloned();
                let updated = patched(current, &body, subresource);
                state.objects.insert(target, updated.clone());
                respond(StatusCode::OK, &updated)
            }
            Method::DELETE => match state.objects.remove(&path) {
                Some(obj) => respond(StatusCode::OK, &obj),
                None => not_found(&path),
            },
            _ => respond(StatusCode::METHOD_NOT_ALLOWED, &json!({})),
        }
    }
}

/// The object after a patch: a JSON patch (a list of operations) applied op by op; a
/// server-side apply body merged over it (its `status` only, for the status subresource).
fn patched(current: Option<Value>, patch: &Value, subresource: bool) -> Value {
    let mut obj = current.unwrap_or_else(|| json!({}));
    match patch {
        Value::Array(ops) => {
            for op in ops {
                let pointer = op["path"].as_str().unwrap_or_default();
                match op["op"].as_str() {
                    Some("add" | "replace") => set(&mut obj, pointer, op["value"].clone()),
                    Some("remove") => set(&mut obj, pointer, Value::Null),
                    _ => {}
                }
            }
        }
        Value::Object(fields) if subresource => {
            obj["status"] = fields.get("status").cloned().unwrap_or(Value::Null);
        }
        Value::Object(fields) => {
            for (k, v) in fields {
                if k != "status" {
                    obj[k] = v.clone();
                }
            }
        }
        _ => {}
    }
    obj
}

/// Sets the value at a JSON pointer, creating objects on the way; `Null` removes it (an
/// array element by its index).
fn set(obj: &mut Value, pointer: &str, value: Value) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let mut at = obj;
    for p in parent.split('/').skip(1) {
        if !at.is_object() {
            *at = json!({});
        }
        at = &mut at[p];
    }
    match (value, at) {
        (Value::Null, Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        (Value::Null, Value::Object(map)) => {
            map.remove(last);
        }
        (v, Value::Array(items)) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => items[i] = v,
            _ => items.push(v),
        },
        (v, at) => {
            if !at.is_object() {
                *at = json!({});
            }
            at[last] = v;
        }
    }
}

fn respond(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn not_found(path: &str) -> Response<Full<Bytes>> {
    respond(
        StatusCode::NOT_FOUND,
        &json!({
            "kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": format!("{path} not found"), "reason": "NotFound", "code": 404,
        }),
    )
}
