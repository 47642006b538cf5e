#!/usr/bin/env bash
# Checks that the rust-version in Cargo.toml is honest about the locked dependencies: fails,
# naming them, if any package in Cargo.lock (every feature, every target, dev-dependencies
# included) declares a newer rust-version than ours. Reads `cargo metadata --locked`, so it
# changes nothing and needs no network once the crates are downloaded.
#
#   scripts/check-msrv.sh
#
# `resolver = "3"` in Cargo.toml makes `cargo update` choose versions that pass this check.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo metadata --format-version 1 --locked --all-features | python3 -c '
import json, sys

meta = json.load(sys.stdin)
members = set(meta["workspace_members"])

def version(v):  # "1.88" and "1.88.0" are the same version
    parts = [int(x) for x in v.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

def show(v):
    return ".".join(str(x) for x in (v[:2] if v[2] == 0 else v))

ours = None
for p in meta["packages"]:
    if p["id"] in members:
        if not p.get("rust_version"):
            sys.exit("check-msrv: %s declares no rust-version in Cargo.toml" % p["name"])
        ours = max(ours or (0,), version(p["rust_version"]))
newer = sorted(
    (version(p["rust_version"]), p["name"], p["version"])
    for p in meta["packages"]
    if p["id"] not in members and p.get("rust_version") and version(p["rust_version"]) > ours
)
if newer:
    print("check-msrv: rust-version is %s, but Cargo.lock has packages that need newer:" % show(ours))
    for v, name, ver in newer:
        print("  %s %s needs Rust %s" % (name, ver, show(v)))
    print("raise rust-version in Cargo.toml, or pin older versions (cargo update -p NAME --precise VERSION)")
    sys.exit(1)
need = [(version(p["rust_version"]), p["name"]) for p in meta["packages"]
        if p["id"] not in members and p.get("rust_version")]
top = max(v for v, _ in need)
print("check-msrv: rust-version %s covers all %d locked packages (the newest need Rust %s: %s)"
      % (show(ours), len(meta["packages"]) - len(members), show(top),
         ", ".join(sorted(n for v, n in need if v == top))))
'
