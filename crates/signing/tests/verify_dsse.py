"""Verify a DSSE envelope with securesystemslib (an implementation that is
not Slipway's) and validate its in-toto statement and SLSA predicate
against the JSON schemas kept in the repository.

usage: verify_dsse.py ENVELOPE PUBLIC_KEY_PEM KEYID SCHEMA_DIR
Exit 0 and print the statement's subjects when everything holds; exit 1
saying what failed otherwise.
"""

import base64
import json
import sys

import jsonschema
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey


def main(envelope_path, key_path, keyid, schema_dir):
    with open(key_path, "rb") as f:
        public = load_pem_public_key(f.read())
    key = SSlibKey.from_crypto(public, keyid=keyid, scheme="ecdsa-sha2-nistp256")
    with open(envelope_path, "rb") as f:
        envelope = Envelope.from_dict(json.load(f))
    if envelope.payload_type != "application/vnd.in-toto+json":
        return f"payload type {envelope.payload_type!r}"
    try:
        envelope.verify([key], 1)
    except Exception as e:  # VerificationError and friends
        return f"signature: {e}"
    statement = json.loads(envelope.payload)
    for name, document in [
        ("in-toto-statement-v1", statement),
        ("slsa-provenance-v1", statement.get("predicate")),
    ]:
        with open(f"{schema_dir}/{name}.schema.json") as f:
            schema = json.load(f)
        try:
            jsonschema.validate(
                document, schema, format_checker=jsonschema.FormatChecker()
            )
        except jsonschema.ValidationError as e:
            return f"{name}: {e.message} at {list(e.absolute_path)}"
    if statement.get("predicateType") != "https://slsa.dev/provenance/v1":
        return f"predicate type {statement.get('predicateType')!r}"
    for s in statement["subject"]:
        print(s["name"], json.dumps(s["digest"], sort_keys=True))
    return None


if __name__ == "__main__":
    failure = main(*sys.argv[1:5])
    if failure:
        print(failure, file=sys.stderr)
        sys.exit(1)
