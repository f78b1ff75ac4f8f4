#!/usr/bin/env bash
# Smoke test of the Linux artifact (not part of the pytest suite; takes a while):
#   installer/smoke_test.sh [--no-build] [--cpu] [build.sh options...]
#
# 1. builds it with installer/build.sh (unless --no-build: the newest matching archive in dist/);
# 2. unpacks the .tar.gz into a fresh folder under /tmp and installs it with install.sh into a
#    throw-away prefix, in a clean environment: `env -i` with only HOME, PATH=/usr/bin:/bin and
#    QT_QPA_PLATFORM=offscreen (no project venv, no PYTHONPATH);
# 3. runs `osteo-desktop --self-test` from the unpacked folder (twice: cold-ish and warm) and from the
#    installed launcher. Without a bundled model (model_weights/ empty) it checks that the app says
#    "no bundled model" and exits 3, then self-tests with a small random-weight test bundle (--bundle);
#    Then starts the viewer off-screen on the demo film (--demo --screenshot --exit-after-result);
# 4. prints the artifact size (du -sh of the app folder and of the archive) and the self-test wall times.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=1 VARIANT="" PASS=()
for a in "$@"; do
  case "$a" in
    --no-build) BUILD=0 ;;
    --cpu) VARIANT="-cpu"; PASS+=("$a") ;;
    *) PASS+=("$a") ;;
  esac
done
say() { echo "smoke_test: $*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$BUILD" = 1 ]; then
  t0=$(now)
  installer/build.sh ${PASS[@]+"${PASS[@]}"}
  say "build took $(secs "$t0" "$(now)") s"
fi
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' osteo_desktop/__init__.py)
ARCHIVE=$ROOT/dist/osteo-desktop-$VERSION-linux-$(uname -m)$VARIANT.tar.gz
[ -f "$ARCHIVE" ] || { say "no archive $ARCHIVE (run without --no-build)"; exit 1; }
VENV=${OSTEO_BUILD_VENV:-$ROOT/build/installer-venv$VARIANT}

WORK=$(mktemp -d /tmp/osteo-smoke.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/home"
t0=$(now)
tar -xzf "$ARCHIVE" -C "$WORK"
say "unpacked in $(secs "$t0" "$(now)") s"
PKG=$(find "$WORK" -mindepth 1 -maxdepth 1 -type d -name 'osteo-desktop-*')
APP=$PKG/osteo-desktop/osteo-desktop
clean_env=(env -i HOME="$WORK/home" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen)

# install.sh into a throw-away prefix, in the clean environment
"${clean_env[@]}" bash "$PKG/install.sh" --prefix "$WORK/home/.local" --no-self-test >"$WORK/install.log" 2>&1 \
  || { cat "$WORK/install.log" >&2; say "install.sh FAILED"; exit 1; }
LAUNCHER=$WORK/home/.local/bin/osteo-desktop
[ -x "$LAUNCHER" ] || { say "install.sh did not create $LAUNCHER"; exit 1; }

EXTRA=()
if ! find "$PKG/osteo-desktop" -path '*/model_weights/config.json' | grep -q .; then
  say "the artifact has no bundled model: checking that the self-test says so"
  set +e
  out=$("${clean_env[@]}" "$LAUNCHER" --self-test 2>&1)
  rc=$?
  set -e
  echo "$out" | head -1
  if [ "$rc" != 3 ] || ! echo "$out" | head -1 | grep -q "no bundled model"; then
    say "expected exit 3 and 'no bundled model', got exit $rc"; exit 1
  fi
  say "ok (exit 3). Making a small test bundle (random weights) for the remaining runs"
  PYTHONPATH=$ROOT "$VENV/bin/python" - "$WORK/test-bundle" <<'PY'
import sys
import torch
from osteo_desktop.core.bundle import BundleConfig, write_bundle
from osteo_desktop.core.model import create_model
from osteo_desktop.core.preprocessing import PreprocessConfig

torch.manual_seed(0)
model = create_model("efficientnet_b0", 3)
cfg = BundleConfig(name="smoke-test-bundle", version="0.0.1-smoke", architecture="efficientnet_b0",
                   preprocessing=PreprocessConfig(input_size=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)))
write_bundle(sys.argv[1], model.state_dict(), cfg, "# Smoke-test bundle\nRandom weights.\n")
PY
  EXTRA=(--bundle "$WORK/test-bundle")
fi

run_selftest() {  # $1: label, rest: command
  local label=$1; shift
  local t0 t1 rc
  t0=$(now)
  set +e
  "${clean_env[@]}" "$@" --self-test ${EXTRA[@]+"${EXTRA[@]}"} >"$WORK/selftest.out" 2>"$WORK/selftest.err"
  rc=$?
  set -e
  t1=$(now)
  cat "$WORK/selftest.out"
  if [ "$rc" != 0 ]; then
    cat "$WORK/selftest.err" >&2
    say "$label: self-test FAILED (exit $rc)"; exit 1
  fi
  WALL[$label]=$(secs "$t0" "$t1")
}
declare -A WALL
run_selftest first "$APP"
run_selftest second "$APP"
run_selftest launcher "$LAUNCHER"

# The viewer itself, off-screen (the offscreen Qt platform plugin must be in the bundle): open the demo
# film, screen it, save a screenshot, exit with the result.
GUI_ENV=("${clean_env[@]}")
[ ${#EXTRA[@]} -gt 0 ] && GUI_ENV+=(OSTEO_BUNDLE="$WORK/test-bundle")
SHOT=$ROOT/build/smoke-test-screenshot.png
rm -f "$SHOT"
t0=$(now)
set +e
"${GUI_ENV[@]}" "$APP" --demo --screenshot "$SHOT" --exit-after-result >"$WORK/gui.log" 2>&1
rc=$?
set -e
GUI_WALL=$(secs "$t0" "$(now)")
if [ ! -s "$SHOT" ]; then
  tail -20 "$WORK/gui.log" >&2
  say "the viewer did not save a screenshot off-screen (exit $rc)"; exit 1
fi

APP_SIZE=$(du -sh "$PKG/osteo-desktop" | cut -f1)
ARCHIVE_SIZE=$(du -sh "$ARCHIVE" | cut -f1)
echo
echo "== smoke test passed: $(basename "$ARCHIVE")"
echo "   app folder (du -sh):    $APP_SIZE"
echo "   archive (du -sh):       $ARCHIVE_SIZE"
echo "   self-test wall time:    first run ${WALL[first]} s, second run ${WALL[second]} s, via installed launcher ${WALL[launcher]} s"
echo "   viewer off-screen:      demo screened, screenshot $SHOT in ${GUI_WALL} s (exit $rc)"
echo "   clean environment:      env -i HOME PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen"
[ ${#EXTRA[@]} -gt 0 ] && echo "   model:                  test bundle via --bundle (no bundled model in model_weights/)"
exit 0
