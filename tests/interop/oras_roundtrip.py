"""Push and pull an OCI artifact with oras-py (PyPI `oras`), as a referrer of
an image, and list the image's referrers: Slipway's registry against a
client that shares no code with it.

usage: oras_roundtrip.py HOST:PORT TOKEN IMAGE_REPO IMAGE_DIGEST IMAGE_MANIFEST_SIZE
Prints "oras: N passed, 0 failed" on success, raises on failure.
"""
import json
import os
import sys
import tempfile

import oras.client
import oras.oci

host, token, image_repo, image_digest, image_size = sys.argv[1:6]
client = oras.client.OrasClient(hostname=host, insecure=True)
# Credentials go to a file of this run's own, never ~/.docker/config.json,
# where skopeo would find them for another test's server on this port.
client.login(
    username="ci",
    password=token,
    hostname=host,
    tls_verify=False,
    config_path=os.path.join(tempfile.mkdtemp(), "config.json"),
)
checks = 0

work = tempfile.mkdtemp()
os.chdir(work)
with open("sbom.spdx.json", "w") as f:
    json.dump({"spdxVersion": "SPDX-2.3", "name": "example"}, f)

# Push: an artifact whose subject is the image.
subject = oras.oci.Subject(
    mediaType="application/vnd.oci.image.manifest.v1+json",
    digest=image_digest,
    size=int(image_size),
)
target = f"{host}/{image_repo}:sbom"
resp = client.push(
    target=target,
    files=["sbom.spdx.json:application/spdx+json"],
    subject=subject,
    manifest_annotations={"org.example.kind": "sbom"},
)
assert resp.status_code == 201, (resp.status_code, resp.text)
checks += 1

# Pull it back into another directory, byte for byte.
out = tempfile.mkdtemp()
files = client.pull(target=target, outdir=out)
pulled = [p for p in files if p.endswith("sbom.spdx.json")]
assert pulled, files
with open(pulled[0]) as a, open(os.path.join(work, "sbom.spdx.json")) as b:
    assert a.read() == b.read()
checks += 1

# Discover: the referrers API, through oras-py's authenticated requests.
container = client.get_container(f"{host}/{image_repo}")
url = f"http://{host}/v2/{image_repo}/referrers/{image_digest}"
r = client.do_request(url, "GET", headers={"Accept": "application/vnd.oci.image.index.v1+json"})
assert r.status_code == 200, (r.status_code, r.text)
index = r.json()
kinds = [m.get("annotations", {}).get("org.example.kind") for m in index["manifests"]]
assert "sbom" in kinds, index
checks += 1

print(f"oras: {checks} passed, 0 failed")
