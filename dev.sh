#!/usr/bin/env bash
# osteo-desktop developer entry point: every command first makes sure the environment is set up.
#   ./dev.sh demo     set up, then open the viewer on the bundled demo film and bundled weights
#   ./dev.sh test     set up, then the static checks (ruff, mypy) and the whole test suite (what CI runs)
#   ./dev.sh lint     set up, then run the static checks only
#   ./dev.sh setup    set up only
#   ./dev.sh screen … run osteo-screen with the given arguments
#   ./dev.sh train …  run osteo-train with the given arguments
#   ./dev.sh bench    run the benchmarks
#   ./dev.sh run CMD… run any command inside the environment
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=${OSTEO_VENV:-$ROOT/.venv}

find_python() {
  for p in python3.13 python3.12 python3.11 python3 python; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  echo "dev.sh: Python 3.11 or newer is required (none found on PATH)." >&2
  return 1
}

stamp() {  # changes whenever the dependencies or the package metadata change
  if command -v sha256sum >/dev/null 2>&1; then cat pyproject.toml requirements/*.txt | sha256sum | cut -c1-16
  else cat pyproject.toml requirements/*.txt | shasum -a 256 | cut -c1-16; fi  # macOS
}

install_system_libs() {
  # Qt 6's xcb platform needs these system libraries (installer/linux/qt-libs.sh lists every one and
  # why); install the missing ones where we can (root + apt), else say which and how.
  [ "$(uname -s)" = Linux ] || return 0
  # shellcheck source=installer/linux/qt-libs.sh
  . installer/linux/qt-libs.sh
  local need
  need=$(qt_missing_libs | tr '\n' ' ')
  [ -n "${need// /}" ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "dev.sh: installing system libraries Qt needs ($need)" >&2
    # shellcheck disable=SC2046  # one word per package
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(qt_debian_packages $need) >/dev/null) \
      || echo "dev.sh: could not install them; the viewer may only run with QT_QPA_PLATFORM=offscreen" >&2
  else
    qt_check_libs "dev.sh: " || echo "dev.sh: (until then the viewer runs only with QT_QPA_PLATFORM=offscreen)" >&2
  fi
}

install_test_tools() {
  # The PACS tests run against a real PACS, Orthanc (Debian package `orthanc`); without it they skip.
  command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ] && return 0
  [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null 2>&1 || {
    echo "dev.sh: Orthanc not found; the PACS tests will be skipped (install Orthanc: https://www.orthanc-server.com)" >&2; return 0; }
  # as root in a container (no systemd: installing does not start a system-wide Orthanc service)
  if [ "$(id -u)" = 0 ] && [ ! -d /run/systemd/system ]; then
    echo "dev.sh: installing Orthanc (Debian package orthanc) for the PACS tests" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends orthanc >/dev/null) \
      || echo "dev.sh: could not install the package orthanc; the PACS tests will be skipped" >&2
  else
    echo "dev.sh: the PACS tests need Orthanc: sudo apt-get install orthanc (they are skipped without it)" >&2
  fi
}

setup() {
  local want; want=$(stamp)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.osteo-stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  local py; py=$(find_python)
  echo "dev.sh: setting up $VENV (first run takes a few minutes)" >&2
  "$py" -m venv "$VENV"
  local pip=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
  "${pip[@]}" install -c requirements/constraints.txt -r requirements/dev.txt 2> >(grep -v "^WARNING: Location" >&2)
  # grad-cam's own requirements pull opencv-python (GUI build); ours is opencv-python-headless.
  "${pip[@]}" install --no-deps -c requirements/constraints.txt grad-cam 2> >(grep -v "^WARNING: Location" >&2)
  "${pip[@]}" install --no-deps --no-build-isolation -e . 2> >(grep -v "^WARNING: Location" >&2)
  echo "$want" > "$VENV/.osteo-stamp"
}

lint() {  # static checks CI enforces before the tests (config in pyproject.toml)
  "$VENV/bin/python" -m ruff check --quiet .
  "$VENV/bin/python" -m mypy  # files and settings: [tool.mypy] in pyproject.toml
}

cmd=${1:-help}; shift || true
case "$cmd" in
  setup) setup; install_system_libs ;;
  demo)
    setup; install_system_libs
    if [ "$(uname -s)" = Linux ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
      mkdir -p out
      echo "dev.sh: no display found; screening the demo film off-screen and saving out/demo_screenshot.png" >&2
      QT_QPA_PLATFORM=offscreen exec "$VENV/bin/osteo-desktop" --demo --screenshot out/demo_screenshot.png --exit-after-result "$@"
    fi
    exec "$VENV/bin/osteo-desktop" --demo "$@" ;;
  lint) setup; lint ;;
  test)
    setup
    lint
    install_test_tools
    export QT_QPA_PLATFORM=${QT_QPA_PLATFORM:-offscreen}
    exec "$VENV/bin/python" -m pytest "$@" ;;
  screen) setup; exec "$VENV/bin/osteo-screen" "$@" ;;
  train) setup; exec "$VENV/bin/osteo-train" "$@" ;;
  bench) setup; exec "$VENV/bin/python" bench/run_all.py "$@" ;;
  run) setup; PATH="$VENV/bin:$PATH" exec "$@" ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac
