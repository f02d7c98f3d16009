//! A round-robin TCP load balancer on loopback, in front of several
//! servers: each connection goes to the next backend that accepts one
//! (a dead backend is skipped), and bytes are copied both ways until
//! either side closes. What a deployment's load balancer does, without
//! one installed.

use std::io::Read;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Balancer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    backends: Arc<Mutex<Vec<u16>>>,
}

impl Balancer {
    pub fn start(backends: Vec<u16>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the balancer");
        let port = listener.local_addr().expect("balancer address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let stopping = stop.clone();
        let backends = Arc::new(Mutex::new(backends));
        let shared = backends.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = conn else { continue };
                let backends = shared.lock().map(|b| b.clone()).unwrap_or_default();
                let next = next.clone();
                std::thread::spawn(move || forward(client, &backends, &next));
            }
        });
        Balancer {
            port,
            stop,
            backends,
        }
    }

    /// Send new connections to these ports from now on (servers whose
    /// ports are known only once the balancer's is).
    pub fn set_backends(&self, ports: Vec<u16>) {
        if let Ok(mut b) = self.backends.lock() {
            *b = ports;
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn forward(client: TcpStream, backends: &[u16], next: &AtomicUsize) {
    if backends.is_empty() {
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let start = next.fetch_add(1, Ordering::Relaxed);
    let backend = (0..backends.len()).find_map(|i| {
        let port = backends[(start + i) % backends.len()];
        TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(2),
        )
        .ok()
    });
    let Some(backend) = backend else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let (Ok(c2), Ok(b2)) = (client.try_clone(), backend.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || copy(client, backend));
    copy(b2, c2);
    let _ = up.join();
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if std::io::Write::write_all(&mut to, &buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
