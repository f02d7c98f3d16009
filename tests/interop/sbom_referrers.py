"""Discover an image's SBOM referrers with oras-py (PyPI `oras`), pull each
one, and validate it against the SPDX 2.3 or CycloneDX 1.5 JSON schema kept
in docs/schemas/sbom: what a user of any OCI client would see, with code that
shares nothing with Slipway.

PyPI's oras is a library without the Go CLI's `discover` command; this does
what `oras discover` does: the referrers API
(GET /v2/<name>/referrers/<digest>), or, on registries without it, the
spec's fallback tag `sha256-<hex>`, through oras-py's authenticated
requests.

usage: sbom_referrers.py HOST REPO DIGEST SCHEMA_DIR [USER TOKEN]
Prints one JSON object: {"api": "referrers"|"tag", "referrers": [...]}
where each referrer has artifactType, digest, valid (true) and packages.
Exits non-zero, naming the schema errors, when a document is invalid.
"""
import json
import os
import sys
import tempfile

import jsonschema
import oras.client
from referencing import Registry, Resource

host, repo, digest, schema_dir = sys.argv[1:5]
user, token = (sys.argv[5:7] + [None, None])[:2]

client = oras.client.OrasClient(hostname=host, insecure=True)
if user:
    # Credentials go to a file of this run's own, never ~/.docker/config.json,
    # where skopeo would find them for another test's server on this port.
    client.login(
        username=user,
        password=token,
        hostname=host,
        tls_verify=False,
        config_path=os.path.join(tempfile.mkdtemp(), "config.json"),
    )

schemas = {}
for name in os.listdir(schema_dir):
    if name.endswith(".json"):
        with open(os.path.join(schema_dir, name)) as f:
            schemas[name] = json.load(f)
registry = Registry().with_resources(
    (s["$id"], Resource.from_contents(s)) for s in schemas.values()
)
by_type = {
    "application/spdx+json": schemas["spdx-2.3.schema.json"],
    "application/vnd.cyclonedx+json": schemas["bom-1.5.schema.json"],
}

index_type = "application/vnd.oci.image.index.v1+json"
r = client.do_request(
    f"http://{host}/v2/{repo}/referrers/{digest}", "GET", headers={"Accept": index_type}
)
api = "referrers"
if r.status_code == 404:
    api = "tag"
    tag = digest.replace(":", "-", 1)
    r = client.do_request(
        f"http://{host}/v2/{repo}/manifests/{tag}", "GET", headers={"Accept": index_type}
    )
assert r.status_code == 200, (api, r.status_code, r.text)

out = []
for m in r.json().get("manifests", []):
    kind = m.get("artifactType")
    if kind not in by_type:
        continue
    pulled = tempfile.mkdtemp()
    files = client.pull(target=f"{host}/{repo}@{m['digest']}", outdir=pulled)
    assert len(files) == 1, files
    with open(files[0]) as f:
        doc = json.load(f)
    schema = by_type[kind]
    validator = jsonschema.Draft7Validator(
        schema, registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        for e in errors[:20]:
            print(f"{kind}: {'/'.join(map(str, e.path))}: {e.message}", file=sys.stderr)
        sys.exit(1)
    packages = len(doc["packages"]) if "packages" in doc else len(doc["components"])
    out.append(
        {"artifactType": kind, "digest": m["digest"], "valid": True, "packages": packages}
    )

print(json.dumps({"api": api, "referrers": out}))
