#!/usr/bin/env python3
"""Rule coverage of the hadolint parity corpus.

Usage: python3 coverage.py HADOLINT_BINARY [CORPUS_DIR]

Runs `HADOLINT --no-color -f json FILE` on every `*.Dockerfile` in the corpus
(default: ./corpus next to this script) with the default configuration: no
config file (it runs in an empty temporary directory with HOME and
XDG_CONFIG_HOME pointing there) and no HADOLINT_* environment variables.
It then prints, as Markdown:

* totals (files, findings, rules covered, ShellCheck codes seen);
* a table of code -> number of files where hadolint reports it, and the
  number of findings (DL and SC codes);
* the rules that hadolint 2.15.1 runs by default and that no file triggers.

Exit status: 1 if some file gave no JSON on stdout (a crash), or if some
default-on rule has no coverage; 0 otherwise. Standard library only.
"""

import collections
import json
import os
import subprocess
import sys
import tempfile

# Rules that hadolint 2.15.1 runs with the default configuration, apart from
# DL1000 (parse error). Not listed: DL1001 and DL3057 (severity `ignore` by
# default), DL3026 (needs trusted registries), DL3049-DL3056 and DL3058
# (need a label schema). DL3005, DL3017, DL3031, DL3039 and DL4002 do not
# exist in 2.15.1.
DEFAULT_ON = (
    ["DL3000", "DL3001", "DL3002", "DL3003", "DL3004"]
    + ["DL%d" % n for n in range(3006, 3017)]
    + ["DL%d" % n for n in range(3018, 3026)]
    + ["DL%d" % n for n in range(3027, 3031)]
    + ["DL%d" % n for n in range(3032, 3039)]
    + ["DL%d" % n for n in range(3040, 3049)]
    + ["DL%d" % n for n in range(3059, 3068)]
    + ["DL4000", "DL4001", "DL4003", "DL4004", "DL4005", "DL4006"]
)


def run(hadolint, path, workdir, env):
    proc = subprocess.run(
        [hadolint, "--no-color", "-f", "json", path],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    try:
        return json.loads(proc.stdout)
    except ValueError:
        return None


def main(argv):
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    hadolint = os.path.abspath(argv[1])
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = os.path.abspath(argv[2]) if len(argv) == 3 else os.path.join(here, "corpus")
    files = sorted(f for f in os.listdir(corpus) if f.endswith(".Dockerfile"))

    files_with = collections.defaultdict(set)
    findings_of = collections.Counter()
    levels = {}
    crashed = []
    total = 0
    with tempfile.TemporaryDirectory() as workdir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
        env.update(HOME=workdir, XDG_CONFIG_HOME=workdir, NO_COLOR="1")
        for name in files:
            result = run(hadolint, os.path.join(corpus, name), workdir, env)
            if result is None:
                crashed.append(name)
                continue
            for finding in result:
                code = finding["code"]
                total += 1
                files_with[code].add(name)
                findings_of[code] += 1
                levels.setdefault(code, set()).add(finding["level"])

    def order(code):
        return (code.startswith("SC"), code)

    dl = [c for c in files_with if c.startswith("DL")]
    sc = [c for c in files_with if c.startswith("SC")]
    missing = [c for c in DEFAULT_ON if c not in files_with]

    out = []
    out.append("| | |")
    out.append("|---|---|")
    out.append("| Files | %d |" % len(files))
    out.append("| Findings | %d |" % total)
    out.append("| DL rules reported | %d (of which default-on rules: %d of %d) |"
               % (len(dl), len([c for c in DEFAULT_ON if c in files_with]), len(DEFAULT_ON)))
    out.append("| ShellCheck codes seen | %d |" % len(sc))
    out.append("| Files without JSON output | %d |" % len(crashed))
    out.append("")
    out.append("| Code | Level | Files | Findings |")
    out.append("|---|---|---:|---:|")
    for code in sorted(files_with, key=order):
        out.append("| %s | %s | %d | %d |" % (
            code, "/".join(sorted(levels[code])), len(files_with[code]), findings_of[code]))
    out.append("")
    out.append("Default-on rules with zero coverage: %s" % (", ".join(missing) if missing else "none"))
    if crashed:
        out.append("")
        out.append("Files without JSON output: %s" % ", ".join(crashed))
    print("\n".join(out))
    return 1 if crashed or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
