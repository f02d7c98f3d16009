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
    let r = form(
        &server,
        "/login",
        &format!("token={}", server.token()),
        None,
    );
    let id_cookie = header(&r, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
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
    let r = form(
        &server,
        "/login",
        &format!("token={}", server.token()),
        None,
    );
    let cookie = header(&r, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
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
