//! The web console over plain HTTP (the browser tests come with the rest
//! of the console): signing in with a token makes an HttpOnly,
//! SameSite=Strict session cookie; a wrong token is refused; pages need
//! the session; a form without its CSRF value is refused.

use slipway_test_support::{GitRepo, Registry, Server, http_raw, require_tools};

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

fn form(
    server: &Server,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> slipway_test_support::HttpResponse {
    let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
    let c;
    if let Some(v) = cookie {
        c = format!("slipway_session={v}");
        h.push(("Cookie", &c));
    }
    http_raw(server.port, "POST", path, &h, body.as_bytes())
}

fn header<'a>(r: &'a slipway_test_support::HttpResponse, name: &str) -> Option<&'a str> {
    r.headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Sign in over HTTP with `token`: the `slipway_session=…` cookie pair.
fn session_cookie(server: &Server, token: &str) -> String {
    let r = form(server, "/login", &format!("token={token}"), None);
    assert_eq!(r.status, 303, "{}", r.body);
    header(&r, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn sign_in_makes_a_strict_session_and_forms_need_their_csrf_value() {
    require_tools();
    let server = Server::start(std::path::Path::new(BIN), 1);

    // Not signed in: to the sign-in page.
    let r = http_raw(server.port, "GET", "/", &[], b"");
    assert_eq!(r.status, 303, "{}", r.headers);
    assert_eq!(header(&r, "location"), Some("/login"));
    let r = http_raw(server.port, "GET", "/login", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("name=\"token\""), "{}", r.body);

    // A wrong token: refused, no cookie.
    let r = form(&server, "/login", "token=slw_nonsense", None);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("not valid"), "{}", r.body);
    assert!(header(&r, "set-cookie").is_none());

    // The right token posted from another site's page: refused before
    // anything (login CSRF), no cookie.
    let login = format!("token={}", server.token());
    for h in [
        ("Origin", "http://evil.example"),
        ("Sec-Fetch-Site", "cross-site"),
    ] {
        let r = http_raw(
            server.port,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded"), h],
            login.as_bytes(),
        );
        assert_eq!(r.status, 403, "{h:?}: {}", r.body);
        assert!(header(&r, "set-cookie").is_none());
    }

    // The right one: a session cookie, HttpOnly and SameSite=Strict.
    let r = form(
        &server,
        "/login",
        &format!("token={}", server.token()),
        None,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let cookie = header(&r, "set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let id = cookie
        .split(';')
        .next()
        .unwrap()
        .strip_prefix("slipway_session=")
        .unwrap()
        .to_string();
    let c = format!("slipway_session={id}");
    let r = http_raw(server.port, "GET", "/", &[("Cookie", &c)], b"");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<h1>Dashboard</h1>"), "{}", r.body);
    assert!(
        header(&r, "server-timing").is_some_and(|v| v.starts_with("app;dur=")),
        "{}",
        r.headers
    );
    // Not framed, not cached, no script from elsewhere.
    assert_eq!(header(&r, "x-frame-options"), Some("DENY"));
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    assert!(
        header(&r, "content-security-policy").is_some_and(
            |v| v.contains("frame-ancestors 'none'") && v.contains("script-src 'self'")
        ),
        "{}",
        r.headers
    );

    // Signing out without the form's CSRF value is refused; with it, the
    // session ends.
    let r = form(&server, "/logout", "", Some(&id));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = form(&server, "/logout", "csrf=0000", Some(&id));
    assert_eq!(r.status, 403, "{}", r.body);
    let page = http_raw(server.port, "GET", "/", &[("Cookie", &c)], b"").body;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string();
    let r = form(&server, "/logout", &format!("csrf={csrf}"), Some(&id));
    assert_eq!(r.status, 303, "{}", r.body);
    let r = http_raw(server.port, "GET", "/", &[("Cookie", &c)], b"");
    assert_eq!(r.status, 303, "the session ended");
}

/// The value of the hidden `csrf` field of the form posting to `action`.
fn csrf_of(page: &str, action: &str) -> String {
    let form = page
        .split(&format!("action=\"{action}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("no form for {action}: {page}"));
    form.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_string()
}

#[test]
fn builds_list_build_page_and_cancel_with_csrf() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 1);
    let id_cookie = session_cookie(&server, &server.token());
    let session = id_cookie
        .strip_prefix("slipway_session=")
        .unwrap()
        .to_string();
    let get = |path: &str| http_raw(server.port, "GET", path, &[("Cookie", &id_cookie)], b"");

    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=c/app version=1 component=app-container\nRUN echo console-sleeping && sleep 3303\n"
        ),
    )]);
    let id = server.queue(&repo, &format!("{}/c/app:1", server.host()), &[]);
    server.wait_build(id, "Running", |p| p == "Running");

    let list = get("/builds");
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains(&format!("href=\"/builds/{id}\"")),
        "{}",
        list.body
    );
    let filtered = get("/builds?phase=Complete");
    assert!(
        !filtered.body.contains(&format!("href=\"/builds/{id}\"")),
        "{}",
        filtered.body
    );

    let page = get(&format!("/builds/{id}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("id=\"phase\" class=\"phase-Running\""),
        "{}",
        page.body
    );
    // The page follows the log and the phase with the session's cookie:
    // it reads those two API routes, and nothing that changes anything.
    let log = get(&format!("/api/v1/builds/{id}/log"));
    assert_eq!(log.status, 200, "{}", log.body);
    let events = slipway_test_support::http_status(
        server.port,
        "GET",
        "/api/v1/events",
        &[("Cookie", &id_cookie)],
        b"",
    );
    assert_eq!(events, 200);
    let r = http_raw(
        server.port,
        "POST",
        &format!("/api/v1/builds/{id}/cancel"),
        &[("Cookie", &id_cookie), ("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(
        r.status, 401,
        "a cookie never changes anything through the API: {}",
        r.body
    );
    assert_eq!(
        get("/api/v1/builds").status,
        401,
        "nor reads beyond the log and the events"
    );
    let action = format!("/builds/{id}/cancel");
    // Without the form's CSRF value, or with another form's: refused.
    let r = form(&server, &action, "", Some(&session));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = form(
        &server,
        &action,
        &format!("csrf={}", csrf_of(&page.body, "/logout")),
        Some(&session),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(server.build_json(id)["phase"], "Running");
    // With it: cancelled.
    let r = form(
        &server,
        &action,
        &format!("csrf={}", csrf_of(&page.body, &action)),
        Some(&session),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(server.wait_final(id)["phase"], "Cancelled");
    let page = get(&format!("/builds/{id}"));
    assert!(page.body.contains("phase-Cancelled"), "{}", page.body);
    assert!(
        !page.body.contains("id=\"cancel\""),
        "an ended build has no cancel button"
    );
    // A build that does not exist.
    assert_eq!(get("/builds/999999").status, 404);
}

#[test]
fn configs_draw_their_parent_child_graph() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 1);
    let labels = "LABEL name=g/app version=1 component=app-container";
    let parent = GitRepo::new(&[("Dockerfile", &format!("FROM {base}\n{labels}\n"))]);
    let child = GitRepo::new(&[(
        "Dockerfile",
        &format!("FROM {}/g/parent\n{labels}\n", server.host()),
    )]);
    server.apply(&format!(
        "name: parent\nsource: {{ url: {} }}\noutput: g/parent\n---\nname: child\nsource: {{ url: {} }}\noutput: g/child\n",
        parent.path().display(),
        child.path().display()
    ));
    let cookie = session_cookie(&server, &server.token());
    let get = |path: &str| http_raw(server.port, "GET", path, &[("Cookie", &cookie)], b"");
    let all = get("/configs");
    assert_eq!(all.status, 200, "{}", all.body);
    assert!(
        all.body.contains("data-from=\"parent\" data-to=\"child\""),
        "{}",
        all.body
    );
    assert_eq!(
        all.body.matches("class=\"edge\"").count(),
        1,
        "{}",
        all.body
    );
    let one = get("/configs/child");
    assert_eq!(one.status, 200, "{}", one.body);
    assert!(one.body.contains("<h1>Config child</h1>"), "{}", one.body);
    assert!(one.body.contains("data-name=\"parent\""), "{}", one.body);
    assert_eq!(get("/configs/nosuch").status, 404);

    // Clusters: a global admin drains one from its page (with the form's
    // CSRF value) and the page says so.
    let page = get("/clusters");
    assert_eq!(page.status, 200, "{}", page.body);
    let action = "/clusters/local/disable";
    let session = cookie.strip_prefix("slipway_session=").unwrap();
    assert_eq!(form(&server, action, "", Some(session)).status, 403);
    let r = form(
        &server,
        action,
        &format!("csrf={}", csrf_of(&page.body, action)),
        Some(session),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let page = get("/clusters");
    assert!(page.body.contains("no (draining)"), "{}", page.body);
    let status = server.cli_json(&["clusters", "-o", "json"]);
    assert_eq!(status[0]["enabled"], false, "{status}");
}

/// Headless Chromium over WebDriver (Debian's `chromium` and
/// `chromium-driver`): chromedriver on a free loopback port, one session,
/// each call run to its end on a runtime of its own (the tests are plain
/// blocking tests, as the server helpers are).
struct Browser {
    rt: tokio::runtime::Runtime,
    client: fantoccini::Client,
    driver: std::process::Child,
    base: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start(server: &Server) -> Browser {
        for tool in ["chromium", "chromedriver"] {
            assert!(
                std::process::Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .output()
                    .is_ok_and(|o| o.status.success()),
                "{tool} is not installed; run `bash scripts/test.sh` (it installs Debian's chromium and chromium-driver)"
            );
        }
        let port = slipway_test_support::free_port();
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let client = rt.block_on(async {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let connector = hyper_util::client::legacy::connect::HttpConnector::new();
                match fantoccini::ClientBuilder::new(connector)
                    .capabilities(caps.clone())
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await
                {
                    Ok(c) => break c,
                    Err(e) if std::time::Instant::now() < deadline => {
                        let _ = e;
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("cannot start a Chromium session: {e}"),
                }
            }
        });
        Browser {
            rt,
            client,
            driver,
            base: format!("http://127.0.0.1:{}", server.port),
            _profile: profile,
        }
    }

    fn goto(&self, path: &str) {
        self.rt
            .block_on(self.client.goto(&format!("{}{path}", self.base)))
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// Run `script` in the page (its `arguments` are `args`); its value.
    fn js(&self, script: &str) -> serde_json::Value {
        self.rt
            .block_on(self.client.execute(script, vec![]))
            .unwrap_or_else(|e| panic!("run {script}: {e}"))
    }

    fn text(&self, css: &str) -> String {
        self.js(&format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            serde_json::json!(css)
        ))
        .as_str()
        .unwrap_or_else(|| panic!("no element {css} on {}", self.url()))
        .to_string()
    }

    fn url(&self) -> String {
        self.rt
            .block_on(self.client.current_url())
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    fn fill(&self, css: &str, value: &str) {
        self.rt.block_on(async {
            let e = self
                .client
                .find(fantoccini::Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css}: {e}"));
            e.send_keys(value).await.unwrap();
        });
    }

    fn click(&self, css: &str) {
        self.rt.block_on(async {
            let e = self
                .client
                .find(fantoccini::Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css}: {e}"));
            e.click()
                .await
                .unwrap_or_else(|e| panic!("click {css}: {e}"));
        });
    }

    /// Wait until `script` returns true in the page.
    fn wait_for(&self, what: &str, script: &str, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            if self.js(script) == serde_json::Value::Bool(true) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what} did not happen within {within:?} on {}: {}",
                self.url(),
                self.js("return document.body ? document.body.innerText : '';")
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// A PNG of the page, kept in `target/console-screenshots/NAME.png`
    /// (the test's artifacts; the README shows some of them).
    fn screenshot(&self, name: &str) {
        let png = self
            .rt
            .block_on(self.client.screenshot())
            .expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = slipway_test_support::workspace_root().join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Sign in with `token` and wait for the answer's page: the
    /// dashboard, or the sign-in page saying why not.
    fn sign_in(&self, token: &str) {
        self.goto("/login");
        self.fill("input[name=token]", token);
        self.click("form button");
        self.wait_for(
            "the answer to signing in",
            "return document.readyState === 'complete' && (location.pathname !== '/login' || !!document.querySelector('.error'));",
            std::time::Duration::from_secs(20),
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.rt.block_on(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// In the browser: a wrong token is refused; signing in reaches the
/// dashboard; a running build's page shows log lines as they come and
/// its phase, live; cancelling from the page changes the phase without a
/// reload; the main pages render (screenshots).
#[test]
fn browser_signs_in_follows_a_build_live_and_cancels_it() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 1);
    let browser = Browser::start(&server);

    browser.sign_in("slw_not-a-token");
    assert!(
        browser.text("body").contains("That token is not valid"),
        "{}",
        browser.text("body")
    );
    assert!(browser.url().ends_with("/login"), "{}", browser.url());
    browser.screenshot("sign-in-refused");

    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=c/live version=1 component=live-container\nRUN i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done\n"
        ),
    )]);
    let id = server.queue(&repo, &format!("{}/c/live:1", server.host()), &[]);
    server.wait_build(id, "Running", |p| p == "Running");

    browser.sign_in(&server.token());
    assert!(
        browser.text("h1").contains("Dashboard"),
        "{}",
        browser.url()
    );
    assert!(
        browser.text("#active").contains(&id.to_string()),
        "{}",
        browser.text("#active")
    );
    browser.screenshot("dashboard");

    browser.goto(&format!("/builds/{id}"));
    assert_eq!(browser.text("#phase"), "Running");
    // A marker that a reload would lose.
    browser.js("window.__stayed = true; return null;");
    // Lines appear while the page stays open: the highest tick grows.
    let ticks = "Math.max(0, ...[...document.getElementById('log').textContent.matchAll(/tick-(\\d+)/g)].map(x => Number(x[1])))";
    let first = browser.js(&format!("return {ticks};")).as_i64().unwrap();
    browser.wait_for(
        "new log lines",
        &format!("return {ticks} >= {};", first + 10),
        std::time::Duration::from_secs(60),
    );
    browser.screenshot("build-running");

    browser.click("#cancel");
    browser.wait_for(
        "the phase to become Cancelled",
        "return document.getElementById('phase').textContent === 'Cancelled';",
        std::time::Duration::from_secs(60),
    );
    assert_eq!(
        browser.js("return window.__stayed === true;"),
        serde_json::Value::Bool(true),
        "the page was not reloaded"
    );
    assert_eq!(
        browser.js("return document.getElementById('cancel') === null;"),
        serde_json::Value::Bool(true),
        "an ended build's page has no cancel button"
    );
    assert_eq!(server.wait_final(id)["phase"], "Cancelled");
    browser.screenshot("build-cancelled");

    for (path, name) in [
        ("/builds", "builds"),
        ("/clusters", "clusters"),
        ("/waves", "waves"),
        ("/scans", "scans"),
        ("/notifications", "notifications"),
        ("/images", "images"),
    ] {
        browser.goto(path);
        assert!(
            browser.text("h1").len() > 2 && !browser.url().ends_with("/login"),
            "{path}: {}",
            browser.text("body")
        );
        browser.screenshot(name);
    }
}

/// In the browser: the configs page draws the parent→child graph with
/// the right edges, parents above their children; a form posted without
/// its CSRF value is refused and changes nothing.
#[test]
fn browser_draws_the_config_graph_and_refuses_a_form_without_csrf() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 1);
    let labels = "LABEL name=g/app version=1 component=app-container";
    let from = |parent: &str| {
        GitRepo::new(&[(
            "Dockerfile",
            &format!("FROM {}/g/{parent}\n{labels}\n", server.host()),
        )])
    };
    let root = GitRepo::new(&[("Dockerfile", &format!("FROM {base}\n{labels}\n"))]);
    let (mid, leaf, other) = (from("root"), from("mid"), from("root"));
    let mut yaml = String::new();
    for (name, repo) in [
        ("root", &root),
        ("mid", &mid),
        ("leaf", &leaf),
        ("other", &other),
    ] {
        yaml.push_str(&format!(
            "---\nname: {name}\nsource: {{ url: {} }}\noutput: g/{name}\ntriggers: {{ poll: 1h }}\n",
            repo.path().display()
        ));
    }
    server.apply(&yaml);
    let browser = Browser::start(&server);
    browser.sign_in(&server.token());

    browser.goto("/configs");
    let edges = browser.js(
        "return [...document.querySelectorAll('#graph [data-from][data-to]')].map(e => e.dataset.from + '->' + e.dataset.to).sort();",
    );
    assert_eq!(
        edges,
        serde_json::json!(["mid->leaf", "root->mid", "root->other"]),
        "the graph's edges"
    );
    let top = |name: &str| {
        browser
            .js(&format!(
                "return document.querySelector('#graph [data-name=\"{name}\"]').getBoundingClientRect().top;"
            ))
            .as_f64()
            .unwrap_or_else(|| panic!("no node {name}"))
    };
    assert!(top("root") < top("mid") && top("mid") < top("leaf"));
    assert!(top("root") < top("other"));
    browser.screenshot("configs");
    browser.click("#graph [data-name=\"mid\"] rect");
    browser.wait_for(
        "the config's page",
        "return location.pathname === '/configs/mid';",
        std::time::Duration::from_secs(10),
    );
    assert!(browser.text("#triggers").contains("polled every 1h"));
    // The config's own page draws its parents and children.
    let edges = browser.js(
        "return [...document.querySelectorAll('#graph [data-from][data-to]')].map(e => e.dataset.from + '->' + e.dataset.to).sort();",
    );
    let edges: Vec<String> = serde_json::from_value(edges).unwrap();
    for e in ["mid->leaf", "root->mid"] {
        assert!(edges.iter().any(|x| x == e), "{e} in {edges:?}");
    }
    browser.screenshot("config");

    // The clusters page's disable form without its CSRF value: refused.
    browser.goto("/clusters");
    browser.screenshot("clusters");
    browser.js(
        "const f = document.querySelector('form[action=\"/clusters/local/disable\"]'); f.querySelector('input[name=csrf]').remove(); f.submit(); return null;",
    );
    browser.wait_for(
        "the refusal",
        "return !!document.getElementById('refusal');",
        std::time::Duration::from_secs(10),
    );
    assert!(
        browser.text("#refusal").contains("CSRF"),
        "{}",
        browser.text("body")
    );
    assert_eq!(browser.text("h1"), "403");
    let status = server.cli_json(&["clusters", "-o", "json"]);
    assert_eq!(status[0]["enabled"], true, "nothing changed: {status}");
    // With it (the page as served), the cluster drains.
    browser.goto("/clusters");
    browser.click("form[action=\"/clusters/local/disable\"] button");
    browser.wait_for(
        "the cluster to drain",
        "return document.body.textContent.includes('no (draining)');",
        std::time::Duration::from_secs(10),
    );
    let status = server.cli_json(&["clusters", "-o", "json"]);
    assert_eq!(status[0]["enabled"], false, "{status}");
}

/// In the browser: a build printing 100,000 lines while its page follows
/// it; the page keeps a bounded window (≤ 5,000 followed lines), stays
/// responsive (no frame gap over 2 s while the lines arrive), and loads
/// older lines on demand.
#[test]
fn browser_follows_a_100000_line_log_in_a_bounded_window() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 1);
    let repo = GitRepo::new(&[(
        "Dockerfile",
        &format!(
            "FROM {base}\nLABEL name=c/big version=1 component=big-container\nRUN sleep 6 && seq 1 100000 && echo all-lines-out && sleep 3600\n"
        ),
    )]);
    let id = server.queue(&repo, &format!("{}/c/big:1", server.host()), &[]);
    server.wait_build(id, "Running", |p| p == "Running");
    let browser = Browser::start(&server);
    browser.sign_in(&server.token());
    browser.goto(&format!("/builds/{id}"));
    // Frame gaps while the lines arrive.
    browser.js(
        "window.__maxGap = 0; let last = performance.now(); (function f() { const n = performance.now(); window.__maxGap = Math.max(window.__maxGap, n - last); last = n; requestAnimationFrame(f); })(); return null;",
    );
    browser.wait_for(
        "the last of 100,000 lines",
        "return /(^|\\n)all-lines-out(\\n|$)/.test(document.getElementById('log').textContent);",
        std::time::Duration::from_secs(120),
    );
    let text = browser.text("#log");
    assert!(
        text.contains("\n100000\n"),
        "the last number is there: {}",
        &text[text.len().saturating_sub(400)..]
    );
    let shown = text.lines().count();
    assert!(
        shown <= 5_001,
        "a bounded window: {shown} lines in the page"
    );
    let gap = browser.js("return window.__maxGap;").as_f64().unwrap();
    assert!(gap < 2_000.0, "the page froze for {gap} ms");
    eprintln!("100,000-line log: {shown} lines in the page, longest frame gap {gap:.0} ms");
    // Older lines on demand: the window grows backwards.
    let first = |b: &Browser| {
        b.js("return Number(document.getElementById('log').textContent.split('\\n').find(l => /^\\d+$/.test(l)));")
            .as_i64()
            .unwrap()
    };
    let before = first(&browser);
    assert!(before > 90_000, "the window starts near the end: {before}");
    browser.click("#older");
    browser.wait_for(
        "older lines",
        &format!("return Number(document.getElementById('log').textContent.split('\\n').find(l => /^\\d+$/.test(l))) < {before};"),
        std::time::Duration::from_secs(20),
    );
    let after = first(&browser);
    let grown = browser.text("#log").lines().count();
    assert!(
        grown > shown && after < before,
        "{after} < {before}, {grown} > {shown}"
    );
    browser.screenshot("build-100000-lines");
    let r = server.api("POST", &format!("/api/v1/builds/{id}/cancel"), Some("{}"));
    assert!(r.status < 300, "{}", r.body);
    assert_eq!(server.wait_final(id)["phase"], "Cancelled");
    // Every line reached the stored log, in order (buildah's chroot relay
    // drops a step's last lines when its reader falls behind; Slipway
    // reads ahead of the log writer).
    let log = server
        .api("GET", &format!("/api/v1/builds/{id}/log"), None)
        .body;
    let numbers: Vec<u64> = log.lines().filter_map(|l| l.parse().ok()).collect();
    assert_eq!(numbers.len(), 100_000, "lines lost");
    assert!(numbers.iter().zip(1..).all(|(n, i)| *n == i), "in order");
}

/// The console respects the API's roles: a project's viewer sees its
/// project's builds only (another project's is refused), gets no cancel
/// button and no cluster switches, and a form posted anyway is refused;
/// revoking its token ends its session.
#[test]
fn pages_show_and_allow_what_the_token_may() {
    require_tools();
    let registry = Registry::start();
    let base = registry.push_base_image();
    let server = Server::start(std::path::Path::new(BIN), 1);
    for p in ["team", "ops"] {
        assert!(server.cli(&["project", "create", p]).status.success());
    }
    // The one slot is taken by ops' build: team's stays Pending.
    let build_in = |ns: &str, run: &str, phase: &'static str| {
        let repo = GitRepo::new(&[(
            "Dockerfile",
            &format!("FROM {base}\nLABEL name={ns}/app version=1 component=app\nRUN {run}\n"),
        )]);
        let id = server.queue(&repo, &format!("{}/{ns}/app:1", server.host()), &[]);
        server.wait_build(id, phase, |p| p == phase);
        id
    };
    let ops = build_in("ops", "sleep 3600", "Running");
    let team = build_in("team", "true", "Pending");
    let out = server.cli(&[
        "token",
        "create",
        "--name",
        "team-viewer",
        "--project",
        "team",
        "--role",
        "viewer",
        "-q",
    ]);
    assert!(out.status.success());
    let viewer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let cookie = session_cookie(&server, &viewer);
    let session = cookie.strip_prefix("slipway_session=").unwrap().to_string();
    let get = |path: &str| http_raw(server.port, "GET", path, &[("Cookie", &cookie)], b"");

    let list = get("/builds");
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains(&format!("href=\"/builds/{team}\"")),
        "{}",
        list.body
    );
    assert!(
        !list.body.contains(&format!("href=\"/builds/{ops}\"")),
        "{}",
        list.body
    );
    // Another project's build: refused as the API refuses it.
    let api = http_raw(
        server.port,
        "GET",
        &format!("/api/v1/builds/{ops}"),
        &[("Authorization", &format!("Bearer {viewer}"))],
        b"",
    );
    assert_eq!(api.status, 403, "{}", api.body);
    assert_eq!(get(&format!("/builds/{ops}")).status, 403);
    assert_eq!(get(&format!("/api/v1/builds/{ops}/log")).status, 403);
    let page = get(&format!("/builds/{team}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("phase-Pending"), "{}", page.body);
    assert!(
        !page.body.contains("id=\"cancel\""),
        "a viewer gets no cancel button"
    );
    let r = form(
        &server,
        &format!("/builds/{team}/cancel"),
        "csrf=x",
        Some(&session),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.headers.contains("text/html"), "a page: {}", r.headers);
    assert_eq!(server.build_json(team)["phase"], "Pending");

    // Clusters: shown, without switches; a switch posted anyway is refused.
    let clusters = get("/clusters");
    assert_eq!(clusters.status, 200);
    assert!(
        !clusters.body.contains("/clusters/local/disable"),
        "{}",
        clusters.body
    );
    let r = form(&server, "/clusters/local/disable", "csrf=x", Some(&session));
    assert_eq!(r.status, 403, "{}", r.body);
    let status = server.cli_json(&["clusters", "-o", "json"]);
    assert_eq!(status[0]["enabled"], true, "{status}");

    // The admin's page of the same build has the button.
    let admin = session_cookie(&server, &server.token());
    let page = http_raw(
        server.port,
        "GET",
        &format!("/builds/{team}"),
        &[("Cookie", &admin)],
        b"",
    );
    assert!(page.body.contains("id=\"cancel\""), "{}", page.body);

    // Revoking the token ends the session.
    let list = server.cli_json(&["token", "list", "-o", "json"]);
    let id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "team-viewer")
        .unwrap()["id"]
        .to_string();
    let out = server.cli(&["token", "revoke", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get("/builds").status, 303, "back to the sign-in page");
    for id in [ops, team] {
        server.api("POST", &format!("/api/v1/builds/{id}/cancel"), Some("{}"));
    }
}
