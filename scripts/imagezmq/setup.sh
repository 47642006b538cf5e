#!/usr/bin/env bash
# ImageZMQ baseline for issue #15: a Python virtualenv with pinned packages.
#
#   VENV=/tmp/imagezmq-venv PYTHON=/usr/bin/python3 scripts/imagezmq/setup.sh
#
# Idempotent: an existing venv whose packages already match the pins is left as is.
# Needs PyPI; installs Debian's python3-venv only when `python3 -m venv` does not work.
set -euo pipefail

VENV="${VENV:-/tmp/imagezmq-venv}"
PYTHON="${PYTHON:-/usr/bin/python3}"   # Debian 12's python3 (3.11), not a pyenv shim

# Pins chosen together (cp311 manylinux x86_64 wheels exist for all four).
PINS=(
  "imagezmq==1.2.0"
  "pyzmq==27.3.0"
  "numpy==2.4.6"
  "opencv-python-headless==4.14.0.94"
)

venv_works() {
  local t
  t="$(mktemp -d)"
  if "$PYTHON" -m venv "$t/v" >/dev/null 2>&1 && [ -x "$t/v/bin/pip" ]; then
    rm -rf "$t"; return 0
  fi
  rm -rf "$t"; return 1
}

if [ ! -x "$VENV/bin/python" ] && ! venv_works; then
  echo "setup: '$PYTHON -m venv' does not work; installing python3-venv" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "setup: need root for apt-get (or install python3-venv yourself)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  venv_works || { echo "setup: python3 -m venv still fails" >&2; exit 1; }
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi

# Already satisfied? (pip freeze gives name==version lines, names normalised to lower case)
have="$("$VENV/bin/python" -m pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-' || true)"
missing=0
for p in "${PINS[@]}"; do
  grep -qx "$p" <<<"$have" || missing=1
done
if [ "$missing" = 1 ]; then
  echo "setup: installing ${PINS[*]}" >&2
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${PINS[@]}"
fi

"$VENV/bin/python" - <<'PY'
import cv2, numpy, zmq, imagezmq  # noqa: F401
from importlib.metadata import version
print("setup: ok:", ", ".join(f"{p} {version(p)}" for p in
      ("imagezmq", "pyzmq", "numpy", "opencv-python-headless")),
      f"(libzmq {zmq.zmq_version()}, cv2 {cv2.__version__})")
PY
echo "setup: venv at $VENV"
