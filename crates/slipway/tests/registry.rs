//! The embedded registry against real clients (skopeo, buildah, umoci) and
//! raw HTTP for every error code. None of the checks use Slipway's code.

use sha2::{Digest as _, Sha256, Sha512};
use slipway_test_support::{HttpResponse, Registry, Server, http_raw, require_tools, run_ok};
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_slipway");

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn sha512(data: &[u8]) -> String {
    format!("sha512:{}", hex::encode(Sha512::digest(data)))
}

struct Api<'a> {
    server: &'a Server,
    auth: String,
}

impl Api<'_> {
    fn new(server: &Server) -> Api<'_> {
        Api {
            auth: format!("Bearer {}", server.token()),
            server,
        }
    }
    fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
        let mut h = vec![("Authorization", self.auth.as_str())];
        h.extend_from_slice(headers);
        http_raw(self.server.port, method, path, &h, body)
    }
    /// Push a blob monolithically (POST + PUT) and return its digest.
    fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let d = sha256(data);
        let r = self.req("POST", &format!("/v2/{repo}/blobs/uploads/"), &[], b"");
        assert_eq!(r.status, 202, "{}", r.body);
        let loc = r.header("location").expect("location");
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = self.req(
            "PUT",
            &format!("{loc}{sep}digest={d}"),
            &[("Content-Type", "application/octet-stream")],
            data,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            r.header("docker-content-digest").as_deref(),
            Some(d.as_str())
        );
        d
    }
    fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &str,
    ) -> HttpResponse {
        self.req(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type)],
            body.as_bytes(),
        )
    }
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn image_manifest(config: &str, config_len: usize, layer: &str, layer_len: usize) -> String {
    serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": config_len},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_len}]
    })
    .to_string()
}

fn blob_files(server: &Server) -> usize {
    fn count(p: &Path) -> usize {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            count(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    count(&server.data_dir().join("registry/blobs"))
}

/// `skopeo login` into a private auth file; returns its dir (keep it alive).
fn login(server: &Server) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args([
            "login",
            "--tls-verify=false",
            "-u",
            "ci",
            "--password-stdin",
            &server.host(),
        ])
        .env("REGISTRY_AUTH_FILE", dir.path().join("auth.json"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(server.token().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo login failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn skopeo(auth: &Path, args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .env("REGISTRY_AUTH_FILE", auth.join("auth.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn digest_of(auth: &Path, image: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&skopeo(auth, &["inspect", "--tls-verify=false", image])).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

#[test]
fn skopeo_copies_in_and_out_with_docker_and_oci_layouts() {
    require_tools();
    let peer = Registry::start();
    let base = peer.push_base_image();
    let server = Server::start(Path::new(BIN), 1);
    let auth = login(&server);
    let a = auth.path();
    let ours = format!("docker://{}/lib/busybox:1", server.host());
    skopeo(
        a,
        &[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &format!("docker://{base}"),
            &ours,
        ],
    );
    assert_eq!(
        digest_of(a, &ours),
        digest_of(a, &format!("docker://{base}")),
        "the manifest changed in transit"
    );

    // Out to an OCI layout, checked with umoci.
    let layout = tempfile::tempdir().unwrap();
    let oci = format!("oci:{}:img", layout.path().display());
    skopeo(
        a,
        &["copy", "--quiet", "--src-tls-verify=false", &ours, &oci],
    );
    let bundle = layout.path().join("bundle");
    run_ok(
        "umoci",
        &[
            "unpack",
            "--image",
            &format!("{}:img", layout.path().display()),
            &bundle.display().to_string(),
        ],
    );
    assert!(bundle.join("rootfs/bin/busybox").is_file());

    // Back in from the OCI layout under another name: no blob is stored twice.
    let before = blob_files(&server);
    let copy = format!("docker://{}/other/copy:2", server.host());
    skopeo(
        a,
        &["copy", "--quiet", "--dest-tls-verify=false", &oci, &copy],
    );
    assert_eq!(
        blob_files(&server),
        before,
        "a blob pushed to two repositories was stored twice"
    );
    assert_eq!(digest_of(a, &copy), digest_of(a, &ours));

    // And out again to the peer registry.
    let back = format!("docker://{}/back/busybox:3", peer.host());
    skopeo(
        a,
        &[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            &copy,
            &back,
        ],
    );
    assert_eq!(digest_of(a, &back), digest_of(a, &ours));

    let tags = skopeo(
        a,
        &[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}/lib/busybox", server.host()),
        ],
    );
    assert!(tags.contains("\"1\""), "{tags}");
}

#[test]
fn buildah_pushes_and_pulls() {
    require_tools();
    let peer = Registry::start();
    let base = peer.push_base_image();
    let server = Server::start(Path::new(BIN), 1);
    let storage = tempfile::tempdir().unwrap();
    let b = |args: &[&str]| {
        let mut full = vec![
            "--root".to_string(),
            storage.path().join("root").display().to_string(),
            "--runroot".into(),
            storage.path().join("run").display().to_string(),
            "--storage-driver".into(),
            "vfs".into(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        run_ok("buildah", &refs)
    };
    let creds = format!("ci:{}", server.token());
    b(&["pull", "--quiet", "--tls-verify=false", &base]);
    let ours = format!("{}/apps/buildah:1", server.host());
    b(&[
        "push",
        "--quiet",
        "--tls-verify=false",
        "--creds",
        &creds,
        &base,
        &format!("docker://{ours}"),
    ]);
    b(&["rmi", "--all", "--force"]);
    b(&[
        "pull",
        "--quiet",
        "--tls-verify=false",
        "--creds",
        &creds,
        &ours,
    ]);
    let images = b(&["images", "--format", "{{.Name}}:{{.Tag}}"]);
    assert!(images.contains(&ours), "{images}");
    // Without credentials the pull is refused.
    let out = Command::new("buildah")
        .args([
            "--root",
            &storage.path().join("r2").display().to_string(),
            "--runroot",
        ])
        .arg(storage.path().join("run2"))
        .args([
            "--storage-driver",
            "vfs",
            "pull",
            "--tls-verify=false",
            &ours,
        ])
        .env("REGISTRY_AUTH_FILE", storage.path().join("none.json"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "anonymous pull must be refused by default"
    );
}

#[test]
fn push_pull_protocol_and_every_error_code() {
    let server = Server::start(Path::new(BIN), 1);
    let api = Api::new(&server);
    let port = server.port;

    // Auth: 401 with a Bearer challenge; the token endpoint trades an API token.
    let r = http_raw(port, "GET", "/v2/", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(r.oci_code(), "UNAUTHORIZED");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with(&format!(
            "Bearer realm=\"http://127.0.0.1:{port}/auth/token\""
        )),
        "{challenge}"
    );
    let basic = format!(
        "Basic {}",
        base64_encode(&format!("anyone:{}", server.token()))
    );
    let t = http_raw(
        port,
        "GET",
        "/auth/token?service=slipway&scope=repository:a:pull,push",
        &[("Authorization", &basic)],
        b"",
    );
    assert_eq!(t.status, 200, "{}", t.body);
    let token = t.json()["token"].as_str().unwrap().to_string();
    let r = http_raw(
        port,
        "GET",
        "/v2/",
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_eq!(r.status, 200);
    let bad = format!("Basic {}", base64_encode("anyone:slw_wrong"));
    assert_eq!(
        http_raw(port, "GET", "/auth/token", &[("Authorization", &bad)], b"").status,
        401
    );
    assert_eq!(
        http_raw(
            port,
            "GET",
            "/v2/",
            &[("Authorization", "Bearer slr_1_rw_00")],
            b""
        )
        .status,
        401
    );

    // Chunked upload: in order, out of order (416), status, finish.
    let r = api.req("POST", "/v2/lib/app/blobs/uploads/", &[], b"");
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap();
    let r = api.req(
        "PATCH",
        &loc,
        &[
            ("Content-Range", "0-4"),
            ("Content-Type", "application/octet-stream"),
        ],
        b"hello",
    );
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.header("range").as_deref(), Some("0-4"));
    let r = api.req("PATCH", &loc, &[("Content-Range", "9-13")], b"xxxxx");
    assert_eq!(r.status, 416, "{}", r.body);
    assert_eq!(r.oci_code(), "BLOB_UPLOAD_INVALID");
    let r = api.req("PATCH", &loc, &[("Content-Range", "5-10")], b" world");
    assert_eq!(r.status, 202);
    let r = api.req("GET", &loc, &[], b"");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("range").as_deref(), Some("0-10"));
    let layer = sha256(b"hello world");
    let r = api.req("PUT", &format!("{loc}?digest={layer}"), &[], b"");
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.header("location"),
        Some(format!("/v2/lib/app/blobs/{layer}"))
    );

    // Blob reads: HEAD, GET, Range.
    let r = api.req("HEAD", &format!("/v2/lib/app/blobs/{layer}"), &[], b"");
    assert_eq!(
        (r.status, r.header("content-length").as_deref()),
        (200, Some("11"))
    );
    assert_eq!(r.header("docker-content-digest"), Some(layer.clone()));
    let r = api.req(
        "GET",
        &format!("/v2/lib/app/blobs/{layer}"),
        &[("Range", "bytes=6-10")],
        b"",
    );
    assert_eq!((r.status, r.body.as_str()), (206, "world"));
    assert_eq!(r.header("content-range").as_deref(), Some("bytes 6-10/11"));
    let r = api.req(
        "GET",
        &format!("/v2/lib/app/blobs/{layer}"),
        &[("Range", "bytes=50-")],
        b"",
    );
    assert_eq!(r.status, 416);

    // Digest mismatch: rejected, nothing stored.
    let r = api.req("POST", "/v2/lib/app/blobs/uploads/", &[], b"");
    let loc2 = r.header("location").unwrap();
    let claimed = sha256(b"something else");
    let r = api.req(
        "PUT",
        &format!("{loc2}?digest={claimed}"),
        &[],
        b"actual bytes",
    );
    assert_eq!((r.status, r.oci_code().as_str()), (400, "DIGEST_INVALID"));
    for d in [&claimed, &sha256(b"actual bytes")] {
        assert_eq!(
            api.req("HEAD", &format!("/v2/lib/app/blobs/{d}"), &[], b"")
                .status,
            404
        );
    }
    assert_eq!(
        api.req("GET", &loc2, &[], b"").oci_code(),
        "BLOB_UPLOAD_UNKNOWN",
        "the failed upload lives on"
    );

    // Monolithic single POST, with sha512.
    let big = sha512(b"sha512 content");
    let r = api.req(
        "POST",
        &format!("/v2/lib/app/blobs/uploads/?digest={big}"),
        &[],
        b"sha512 content",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        api.req("GET", &format!("/v2/lib/app/blobs/{big}"), &[], b"")
            .body,
        "sha512 content"
    );

    // Manifests: missing blob, malformed, oversized, then a good one by tag.
    let config = api.push_blob("lib/app", b"{}");
    let missing = sha256(b"never pushed");
    let r = api.push_manifest(
        "lib/app",
        "v1",
        OCI_MANIFEST,
        &image_manifest(&config, 2, &missing, 12),
    );
    assert_eq!(
        (r.status, r.oci_code().as_str()),
        (400, "MANIFEST_BLOB_UNKNOWN")
    );
    let r = api.push_manifest("lib/app", "v1", OCI_MANIFEST, "not json");
    assert_eq!((r.status, r.oci_code().as_str()), (400, "MANIFEST_INVALID"));
    let r = api.push_manifest(
        "lib/app",
        "v1",
        "application/vnd.unknown+json",
        &image_manifest(&config, 2, &layer, 11),
    );
    assert_eq!(r.oci_code(), "MANIFEST_INVALID");
    let huge = format!(
        "{{\"schemaVersion\":2,\"pad\":\"{}\"}}",
        "x".repeat(5 * 1024 * 1024)
    );
    let r = api.push_manifest("lib/app", "v1", OCI_MANIFEST, &huge);
    assert_eq!((r.status, r.oci_code().as_str()), (400, "SIZE_INVALID"));
    let manifest = image_manifest(&config, 2, &layer, 11);
    let mdigest = sha256(manifest.as_bytes());
    let r = api.push_manifest("lib/app", "v1", OCI_MANIFEST, &manifest);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("docker-content-digest"), Some(mdigest.clone()));
    let r = api.push_manifest("lib/app", &sha256(b"other"), OCI_MANIFEST, &manifest);
    assert_eq!(
        r.oci_code(),
        "DIGEST_INVALID",
        "manifest PUT by a digest that is not its own"
    );
    for reference in ["v1", mdigest.as_str()] {
        let r = api.req(
            "GET",
            &format!("/v2/lib/app/manifests/{reference}"),
            &[],
            b"",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.body, manifest);
        assert_eq!(r.header("content-type").as_deref(), Some(OCI_MANIFEST));
        assert_eq!(r.header("docker-content-digest"), Some(mdigest.clone()));
    }

    // Tags paging with Link.
    for t in ["v2", "v3", "a0"] {
        assert_eq!(
            api.push_manifest("lib/app", t, OCI_MANIFEST, &manifest)
                .status,
            201
        );
    }
    let r = api.req("GET", "/v2/lib/app/tags/list?n=2", &[], b"");
    assert_eq!(r.json()["tags"], serde_json::json!(["a0", "v1"]));
    assert_eq!(
        r.header("link").as_deref(),
        Some("</v2/lib/app/tags/list?n=2&last=v1>; rel=\"next\"")
    );
    let r = api.req("GET", "/v2/lib/app/tags/list?n=2&last=v1", &[], b"");
    assert_eq!(r.json()["tags"], serde_json::json!(["v2", "v3"]));
    assert_eq!(
        api.req("GET", "/v2/_catalog", &[], b"").json()["repositories"],
        serde_json::json!(["lib/app"])
    );

    // Cross-repository mount.
    let r = api.req(
        "POST",
        &format!("/v2/lib/mounted/blobs/uploads/?mount={layer}&from=lib/app"),
        &[],
        b"",
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        api.req("GET", &format!("/v2/lib/mounted/blobs/{layer}"), &[], b"")
            .body,
        "hello world"
    );
    let r = api.req(
        "POST",
        &format!("/v2/lib/other/blobs/uploads/?mount={missing}&from=lib/app"),
        &[],
        b"",
    );
    assert_eq!(r.status, 202, "an impossible mount starts an upload");

    // Referrers: an artifact whose subject is the image.
    let sbom = api.push_blob("lib/app", b"{\"spdxVersion\":\"SPDX-2.3\"}");
    let empty = api.push_blob("lib/app", b"{}");
    let artifact = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": sbom, "size": 26}],
        "subject": {"mediaType": OCI_MANIFEST, "digest": mdigest, "size": manifest.len()},
        "annotations": {"org.example": "sbom"}
    })
    .to_string();
    let adigest = sha256(artifact.as_bytes());
    let r = api.push_manifest("lib/app", &adigest, OCI_MANIFEST, &artifact);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("oci-subject"), Some(mdigest.clone()));
    let r = api.req("GET", &format!("/v2/lib/app/referrers/{mdigest}"), &[], b"");
    let list = r.json();
    assert_eq!(list["manifests"][0]["digest"], adigest.as_str());
    assert_eq!(
        list["manifests"][0]["artifactType"],
        "application/spdx+json"
    );
    assert_eq!(list["manifests"][0]["annotations"]["org.example"], "sbom");
    let r = api.req(
        "GET",
        &format!("/v2/lib/app/referrers/{mdigest}?artifactType=application/other"),
        &[],
        b"",
    );
    assert_eq!(r.json()["manifests"], serde_json::json!([]));
    assert_eq!(
        r.header("oci-filters-applied").as_deref(),
        Some("artifactType")
    );

    // Deletes: tag, manifest by digest, blob.
    assert_eq!(
        api.req("DELETE", "/v2/lib/app/manifests/v3", &[], b"")
            .status,
        202
    );
    assert_eq!(
        api.req("GET", "/v2/lib/app/manifests/v3", &[], b"")
            .oci_code(),
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(
        api.req("GET", "/v2/lib/app/manifests/v2", &[], b"").status,
        200,
        "other tags stay"
    );
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v2/lib/app/manifests/{mdigest}"),
            &[],
            b""
        )
        .status,
        202
    );
    assert_eq!(
        api.req("GET", "/v2/lib/app/manifests/v2", &[], b"")
            .oci_code(),
        "MANIFEST_UNKNOWN"
    );
    assert_eq!(
        api.req(
            "DELETE",
            &format!("/v2/lib/mounted/blobs/{layer}"),
            &[],
            b""
        )
        .status,
        202
    );
    assert_eq!(
        api.req("GET", &format!("/v2/lib/mounted/blobs/{layer}"), &[], b"")
            .oci_code(),
        "BLOB_UNKNOWN"
    );

    // The remaining error codes.
    let zero = format!("sha256:{}", "0".repeat(64));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("GET", "/v2/Bad_Name/tags/list".into(), 400, "NAME_INVALID"),
        ("GET", "/v2/no/such/tags/list".into(), 404, "NAME_UNKNOWN"),
        (
            "GET",
            "/v2/lib/app/manifests/nope".into(),
            404,
            "MANIFEST_UNKNOWN",
        ),
        (
            "GET",
            format!("/v2/lib/app/blobs/{zero}"),
            404,
            "BLOB_UNKNOWN",
        ),
        (
            "GET",
            "/v2/lib/app/blobs/sha256:xyz".into(),
            400,
            "DIGEST_INVALID",
        ),
        (
            "PATCH",
            format!("/v2/lib/app/blobs/uploads/{}", "0".repeat(32)),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            "PATCH",
            "/v2/lib/app/blobs/uploads/../../etc".into(),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        ),
        (
            "POST",
            "/v2/lib/app/manifests/v1".into(),
            405,
            "UNSUPPORTED",
        ),
    ];
    for (method, path, status, code) in cases {
        let r = api.req(method, &path, &[], b"");
        assert_eq!(
            (r.status, r.oci_code().as_str()),
            (status, code),
            "{method} {path}: {}",
            r.body
        );
    }
    // An upload belongs to its repository.
    let r = api.req("POST", "/v2/lib/app/blobs/uploads/", &[], b"");
    let id = r.header("docker-upload-uuid").unwrap();
    assert_eq!(
        api.req(
            "GET",
            &format!("/v2/lib/elsewhere/blobs/uploads/{id}"),
            &[],
            b""
        )
        .oci_code(),
        "BLOB_UPLOAD_UNKNOWN"
    );
}

#[test]
fn uploads_survive_restart_and_interrupted_ones_stay_invisible() {
    let mut server = Server::start(Path::new(BIN), 1);
    let data = b"first half|second half";
    let loc = {
        let api = Api::new(&server);
        let r = api.req("POST", "/v2/lib/resume/blobs/uploads/", &[], b"");
        let loc = r.header("location").unwrap();
        assert_eq!(
            api.req("PATCH", &loc, &[("Content-Range", "0-10")], &data[..11])
                .status,
            202
        );
        loc
    };
    server.restart();
    let api = Api::new(&server);
    // Killed between upload and commit: nothing partial is visible.
    let d = sha256(data);
    assert_eq!(
        api.req("HEAD", &format!("/v2/lib/resume/blobs/{d}"), &[], b"")
            .status,
        404
    );
    assert_eq!(
        api.req(
            "HEAD",
            &format!("/v2/lib/resume/blobs/{}", sha256(&data[..11])),
            &[],
            b""
        )
        .status,
        404
    );
    let r = api.req("GET", &loc, &[], b"");
    assert_eq!(
        (r.status, r.header("range").as_deref()),
        (204, Some("0-10"))
    );
    assert_eq!(
        api.req("PATCH", &loc, &[("Content-Range", "11-21")], &data[11..])
            .status,
        202
    );
    assert_eq!(
        api.req("PUT", &format!("{loc}?digest={d}"), &[], b"")
            .status,
        201
    );
    assert_eq!(
        api.req("GET", &format!("/v2/lib/resume/blobs/{d}"), &[], b"")
            .body
            .as_bytes(),
        data
    );

    // A PATCH whose connection dies half-way: the data never becomes a blob.
    let r = api.req("POST", "/v2/lib/resume/blobs/uploads/", &[], b"");
    let loc = r.header("location").unwrap();
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let head = format!(
            "PATCH {loc} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 1000\r\n\r\n",
            server.token()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(b"only part of the body").unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let partial = sha256(b"only part of the body");
    assert_eq!(
        api.req("HEAD", &format!("/v2/lib/resume/blobs/{partial}"), &[], b"")
            .status,
        404
    );
    // What arrived is kept, so the client can resume where it broke off.
    let r = api.req("GET", &loc, &[], b"");
    assert_eq!(r.header("range").as_deref(), Some("0-20"));
    let full = b"only part of the body, and the rest";
    let r = api.req("PATCH", &loc, &[("Content-Range", "21-34")], &full[21..]);
    assert_eq!(r.status, 202, "{}", r.body);
    let d = sha256(full);
    assert_eq!(
        api.req("HEAD", &format!("/v2/lib/resume/blobs/{d}"), &[], b"")
            .status,
        404,
        "visible before commit"
    );
    assert_eq!(
        api.req("PUT", &format!("{loc}?digest={d}"), &[], b"")
            .status,
        201
    );
    assert_eq!(
        api.req("GET", &format!("/v2/lib/resume/blobs/{d}"), &[], b"")
            .body
            .as_bytes(),
        full
    );
}

#[test]
fn anonymous_pull_when_enabled_is_read_only() {
    let server =
        Server::start_with_config(Path::new(BIN), 1, Some("registry_anonymous_pull: true\n"));
    let port = server.port;
    // The base endpoint still challenges, so clients learn the token realm
    // (and a pushing client sends its credentials).
    let base = http_raw(port, "GET", "/v2/", &[], b"");
    assert_eq!(base.status, 401);
    assert!(
        base.header("www-authenticate")
            .is_some_and(|h| h.contains("/auth/token")),
        "{}",
        base.headers
    );
    // Reads need no credentials at all.
    let r = http_raw(port, "GET", "/v2/lib/x/tags/list", &[], b"");
    assert_eq!((r.status, r.oci_code().as_str()), (404, "NAME_UNKNOWN"));
    let t = http_raw(port, "GET", "/auth/token", &[], b"");
    assert_eq!(t.status, 200);
    let token = t.json()["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    assert_eq!(
        http_raw(port, "GET", "/v2/", &[("Authorization", &bearer)], b"").status,
        200
    );
    let r = http_raw(
        port,
        "POST",
        "/v2/lib/x/blobs/uploads/",
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_eq!((r.status, r.oci_code().as_str()), (403, "DENIED"));
    let r = http_raw(port, "POST", "/v2/lib/x/blobs/uploads/", &[], b"");
    assert_eq!(r.status, 401);
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn gc_removes_only_what_no_manifest_needs() {
    let server = Server::start(Path::new(BIN), 1);
    let api = Api::new(&server);
    let config = api.push_blob("r1", b"{}");
    let layer = api.push_blob("r1", b"shared layer");
    let orphan = api.push_blob("r1", b"nobody references me");
    let manifest = image_manifest(&config, 2, &layer, 12);
    let m = sha256(manifest.as_bytes());
    assert_eq!(
        api.push_manifest("r1", "v1", OCI_MANIFEST, &manifest)
            .status,
        201
    );
    for d in [&config, &layer] {
        assert_eq!(
            api.req(
                "POST",
                &format!("/v2/r2/blobs/uploads/?mount={d}&from=r1"),
                &[],
                b""
            )
            .status,
            201
        );
    }
    assert_eq!(
        api.push_manifest("r2", "v1", OCI_MANIFEST, &manifest)
            .status,
        201
    );
    let gc = |args: &[&str]| {
        let mut full = vec!["registry", "gc", "-o", "json"];
        full.extend_from_slice(args);
        let out = server.cli(&full);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let exists = |repo: &str, d: &str| {
        api.req("HEAD", &format!("/v2/{repo}/blobs/{d}"), &[], b"")
            .status
            == 200
    };

    // Young blobs are safe: the manifest that needs them may still be coming.
    assert_eq!(
        gc(&["--grace", "3600"])["deleted_blobs"],
        serde_json::json!([])
    );
    let dry = gc(&["--dry-run", "--grace", "0"]);
    assert_eq!(dry["deleted_blobs"], serde_json::json!([orphan]));
    assert!(exists("r1", &orphan), "a dry run deleted something");
    let text = String::from_utf8_lossy(
        &server
            .cli(&["registry", "gc", "--dry-run", "--grace", "0"])
            .stdout,
    )
    .into_owned();
    assert!(text.starts_with("would remove 1 blobs"), "{text}");

    let done = gc(&["--grace", "0"]);
    assert_eq!(done["deleted_blobs"], serde_json::json!([orphan]));
    assert_eq!(done["freed_bytes"], 20);
    assert!(!exists("r1", &orphan));
    assert!(exists("r1", &layer) && exists("r2", &layer));

    // r1 lets go of the manifest; r2 still needs the shared layer.
    assert_eq!(
        api.req("DELETE", &format!("/v2/r1/manifests/{m}"), &[], b"")
            .status,
        202
    );
    assert_eq!(
        gc(&["--grace", "0"])["deleted_blobs"],
        serde_json::json!([])
    );
    assert_eq!(
        api.req("GET", &format!("/v2/r2/blobs/{layer}"), &[], b"")
            .body,
        "shared layer"
    );
    assert_eq!(api.req("GET", "/v2/r2/manifests/v1", &[], b"").status, 200);

    // Now nobody does.
    assert_eq!(
        api.req("DELETE", &format!("/v2/r2/manifests/{m}"), &[], b"")
            .status,
        202
    );
    let mut gone: Vec<String> =
        serde_json::from_value(gc(&["--grace", "0"])["deleted_blobs"].clone()).unwrap();
    gone.sort();
    let mut want = vec![config.clone(), layer.clone(), m.clone()];
    want.sort();
    assert_eq!(gone, want);
    assert_eq!(blob_files(&server), 0);

    // Stale upload sessions go too.
    let r = api.req("POST", "/v2/r3/blobs/uploads/", &[], b"");
    let loc = r.header("location").unwrap();
    let r = api.req(
        "POST",
        "/api/v1/registry/gc",
        &[("Content-Type", "application/json")],
        br#"{"upload_max_age_seconds":0}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["stale_uploads"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.req("GET", &loc, &[], b"").oci_code(),
        "BLOB_UPLOAD_UNKNOWN"
    );
    assert_eq!(
        std::fs::read_dir(server.data_dir().join("registry/uploads"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn podman_pulls_and_oras_pushes_pulls_and_discovers_a_referrer() {
    require_tools();
    let peer = Registry::start();
    let base = peer.push_base_image();
    let server = Server::start(Path::new(BIN), 1);
    let creds = format!("ci:{}", server.token());
    let ours = format!("{}/lib/busybox:1", server.host());
    server.copy_in(&base, &ours);

    // podman pull.
    let storage = tempfile::tempdir().unwrap();
    std::fs::write(storage.path().join("auth.json"), "{}").unwrap();
    let podman = |args: &[&str]| {
        Command::new("podman")
            .arg("--root")
            .arg(storage.path().join("root"))
            .arg("--runroot")
            .arg(storage.path().join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("REGISTRY_AUTH_FILE", storage.path().join("auth.json"))
            .output()
            .expect("podman is installed by scripts/setup-debian.sh")
    };
    let out = podman(&[
        "pull",
        "--quiet",
        "--tls-verify=false",
        "--creds",
        &creds,
        &ours,
    ]);
    assert!(
        out.status.success(),
        "podman pull: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let images = podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(String::from_utf8_lossy(&images.stdout).contains(&ours));

    // oras-py: push an artifact as a referrer of the image, pull it, discover it.
    let head = Api::new(&server).req("HEAD", "/v2/lib/busybox/manifests/1", &[], b"");
    let digest = head.header("docker-content-digest").unwrap();
    let size = head.header("content-length").unwrap();
    let script = slipway_test_support::workspace_root().join("tests/interop/oras_roundtrip.py");
    let out = Command::new(slipway_test_support::interop_python())
        .arg(script)
        .args([
            server.host().as_str(),
            server.token().as_str(),
            "lib/busybox",
            &digest,
            &size,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "oras: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("oras: 3 passed, 0 failed"), "{stdout}");
}

#[test]
fn concurrent_pushes_of_the_same_blob_and_tag_are_safe() {
    let server = Server::start(Path::new(BIN), 1);
    let layer = b"the same layer from eight clients".to_vec();
    let config = b"{}".to_vec();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let api = Api::new(&server);
                api.push_blob("race/app", &layer);
                api.push_blob("race/app", &config);
                let m =
                    image_manifest(&sha256(&config), config.len(), &sha256(&layer), layer.len());
                let r = api.push_manifest("race/app", "latest", OCI_MANIFEST, &m);
                assert_eq!(r.status, 201, "{}", r.body);
            });
        }
    });
    let api = Api::new(&server);
    assert_eq!(
        api.req(
            "GET",
            &format!("/v2/race/app/blobs/{}", sha256(&layer)),
            &[],
            b""
        )
        .body
        .as_bytes(),
        &layer[..]
    );
    let m = image_manifest(&sha256(&config), config.len(), &sha256(&layer), layer.len());
    assert_eq!(
        api.req("GET", "/v2/race/app/manifests/latest", &[], b"")
            .body,
        m
    );
    assert_eq!(
        blob_files(&server),
        3,
        "layer, config and manifest, each once"
    );
    assert_eq!(
        std::fs::read_dir(server.data_dir().join("registry/uploads"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn too_many_concurrent_writes_get_429_and_the_registry_can_have_its_own_port() {
    let reg_port = slipway_test_support::free_port();
    let server = Server::start_with_config(
        Path::new(BIN),
        1,
        Some(&format!(
            "registry_max_concurrent_writes: 1\nregistry_listen: 127.0.0.1:{reg_port}\n"
        )),
    );
    let api = Api::new(&server);
    let loc = api
        .req("POST", "/v2/busy/blobs/uploads/", &[], b"")
        .header("location")
        .unwrap();
    // One write in flight: a PATCH whose body is still coming.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    {
        use std::io::Write;
        let head = format!(
            "PATCH {loc} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100\r\n\r\nstart",
            server.token()
        );
        slow.write_all(head.as_bytes()).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let r = api.req("POST", "/v2/busy/blobs/uploads/", &[], b"");
    assert_eq!(
        (r.status, r.oci_code().as_str()),
        (429, "TOO_MANY_REQUESTS"),
        "{}",
        r.body
    );
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    // Reads are never refused for it.
    assert_eq!(api.req("GET", "/v2/", &[], b"").status, 200);
    drop(slow);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = api.req("POST", "/v2/busy/blobs/uploads/", &[], b"");
        if r.status == 202 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never released: {}",
            r.body
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // The registry's own port serves /v2/ and nothing of the API.
    let auth = format!("Bearer {}", server.token());
    assert_eq!(
        http_raw(reg_port, "GET", "/v2/", &[("Authorization", &auth)], b"").status,
        200
    );
    assert_eq!(http_raw(reg_port, "GET", "/v2/", &[], b"").status, 401);
    assert_eq!(
        http_raw(
            reg_port,
            "GET",
            "/api/v1/builds",
            &[("Authorization", &auth)],
            b""
        )
        .status,
        404
    );
}

/// `buildah login` and `podman login` through the token flow, then a pull
/// that relies only on the stored login.
#[test]
fn buildah_and_podman_login_work() {
    require_tools();
    let peer = Registry::start();
    let base = peer.push_base_image();
    let server = Server::start(Path::new(BIN), 1);
    let ours = format!("{}/lib/login:1", server.host());
    server.copy_in(&base, &ours);
    for tool in ["buildah", "podman"] {
        let dir = tempfile::tempdir().unwrap();
        let auth = dir.path().join("auth.json");
        let run = |args: &[&str], stdin: Option<&str>| {
            let mut c = Command::new(tool);
            c.arg("--root")
                .arg(dir.path().join("root"))
                .arg("--runroot")
                .arg(dir.path().join("run"))
                .args(["--storage-driver", "vfs"])
                .args(args)
                .env("REGISTRY_AUTH_FILE", &auth)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            if let Some(s) = stdin {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
            }
            drop(child.stdin.take());
            child.wait_with_output().unwrap()
        };
        let out = run(
            &[
                "login",
                "--tls-verify=false",
                "-u",
                "ci",
                "--password-stdin",
                &server.host(),
            ],
            Some(&server.token()),
        );
        assert!(
            out.status.success(),
            "{tool} login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(&["pull", "--quiet", "--tls-verify=false", &ours], None);
        assert!(
            out.status.success(),
            "{tool} pull after login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(
            &[
                "login",
                "--tls-verify=false",
                "-u",
                "ci",
                "--password-stdin",
                &server.host(),
            ],
            Some("slw_wrong"),
        );
        assert!(
            !out.status.success(),
            "{tool} login with a wrong token must fail"
        );
    }
}
