//! A real HTTP/1.1 server on 127.0.0.1 for tests: canned responses per
//! path, optional delays, and a count of requests per path. It serves
//! until dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Send only this many body bytes, then stall for the duration.
    pub stall: Option<(usize, Duration)>,
    /// Send this ETag, and answer 304 to a request carrying it.
    pub etag: Option<String>,
}

impl Response {
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Response {
            status: 200,
            body: body.into(),
            ..Default::default()
        }
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            body: body.into(),
            ..Default::default()
        }
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

/// What the server answers for each path: a queue per path, the last
/// response repeating.
type Routes = Arc<Mutex<HashMap<String, Vec<Response>>>>;

pub struct Server {
    pub port: u16,
    routes: Routes,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    requests: Arc<Mutex<Vec<String>>>,
    bodies: Bodies,
    stop: Arc<AtomicBool>,
}

/// Each request's path and body, as received.
type Bodies = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let port = listener.local_addr().unwrap().port();
        let routes: Routes = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let bodies: Bodies = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (r, h, q, s) = (routes.clone(), hits.clone(), requests.clone(), stop.clone());
        let b = bodies.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (r, h, q, b) = (r.clone(), h.clone(), q.clone(), b.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, &r, &h, &q, &b);
                });
            }
        });
        Server {
            port,
            routes,
            hits,
            requests,
            bodies,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Answers `path` with these responses in turn (the last one repeats).
    pub fn route(&self, path: &str, responses: Vec<Response>) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_string(), responses);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// Every request's head (request line and headers), as received.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The bodies received on `path`, in order, as text.
    pub fn bodies(&self, path: &str) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(
    mut conn: TcpStream,
    routes: &Routes,
    hits: &Arc<Mutex<HashMap<String, usize>>>,
    requests: &Arc<Mutex<Vec<String>>>,
    bodies: &Bodies,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    requests.lock().unwrap().push(head.clone());
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    bodies.lock().unwrap().push((path.clone(), body));
    let n = {
        let mut h = hits.lock().unwrap();
        let e = h.entry(path.clone()).or_insert(0);
        *e += 1;
        *e
    };
    let resp = {
        let r = routes.lock().unwrap();
        match r.get(&path) {
            Some(list) if !list.is_empty() => list[(n - 1).min(list.len() - 1)].clone(),
            _ => Response {
                status: 404,
                body: b"not found".to_vec(),
                ..Default::default()
            },
        }
    };
    std::thread::sleep(resp.delay);
    let mut resp = resp;
    if let Some(tag) = &resp.etag {
        let asked = head.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("if-none-match:") && l.contains(tag.as_str())
        });
        if asked {
            resp = Response {
                status: 304,
                ..Default::default()
            };
        } else {
            resp.headers.push(("ETag".into(), tag.clone()));
        }
    }
    let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", resp.status);
    let mut has_length = false;
    for (k, v) in &resp.headers {
        has_length |= k.eq_ignore_ascii_case("content-length");
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_length && resp.status != 304 {
        out.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    out.push_str("\r\n");
    conn.write_all(out.as_bytes())?;
    if let Some((n, pause)) = resp.stall {
        conn.write_all(&resp.body[..n.min(resp.body.len())])?;
        conn.flush()?;
        std::thread::sleep(pause);
        return Ok(());
    }
    conn.write_all(&resp.body)?;
    conn.flush()?;
    let _ = reader.read(&mut [0u8; 0]);
    Ok(())
}
