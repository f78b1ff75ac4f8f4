#!/usr/bin/env bash
# Build the osteo-desktop installer artifact for the platform this runs on (Linux or macOS).
#
#   installer/build.sh [--cpu] [--clean] [--venv-only]
#
#   --cpu        Linux only: CPU-only torch from PyTorch's own index (download.pytorch.org/whl/cpu),
#                a much smaller bundle without the CUDA libraries. (On macOS PyPI's torch is CPU-only.)
#   --clean      recreate the build venv and delete previous PyInstaller output
#   --venv-only  only create/refresh the build venv
#
# Steps: (1) a build venv of its own (build/installer-venv[-cpu], never the project .venv) from
# requirements/app.txt pinned by requirements/constraints.txt, plus PyInstaller
# (installer/requirements-build.txt); (2) PyInstaller with installer/osteo_desktop.spec
# (one-folder build); (3) the archive in dist/:
#   Linux: dist/osteo-desktop-<version>-linux-<arch>[-cpu].tar.gz  (app folder + install.sh + desktop entry)
#   macOS: dist/osteo-desktop-<version>-macos-<arch>.zip           (Osteo Desktop.app)
# Environment: OSTEO_BUILD_PYTHON (interpreter for the venv), OSTEO_BUILD_VENV (venv folder),
# OSTEO_REQUIRE_MODEL=1 (fail when model_weights/ holds no bundle; release builds set it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CPU=0 CLEAN=0 VENV_ONLY=0
for a in "$@"; do
  case "$a" in
    --cpu) CPU=1 ;;
    --clean) CLEAN=1 ;;
    --venv-only) VENV_ONLY=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $a (see --help)" >&2; exit 2 ;;
  esac
done

OS=$(uname -s)
ARCH=$(uname -m)
case "$OS" in
  Linux) PLAT=linux ;;
  Darwin) PLAT=macos; [ "$CPU" = 1 ] && echo "build.sh: --cpu is the default on macOS (PyPI's torch has no CUDA there)" >&2; CPU=0 ;;
  *) echo "build.sh: unsupported OS $OS (use installer/build.ps1 on Windows)" >&2; exit 2 ;;
esac
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' osteo_desktop/__init__.py)
VARIANT=""
[ "$CPU" = 1 ] && VARIANT="-cpu"
BUILD=$ROOT/build/installer$VARIANT
VENV=${OSTEO_BUILD_VENV:-$ROOT/build/installer-venv$VARIANT}
NAME=osteo-desktop-$VERSION-$PLAT-$ARCH$VARIANT

log() { echo "build.sh: $*" >&2; }
# pip, without the noise of find-links/index locations that do not exist on this machine
pip_quiet() { "$@" 2> >(grep -v "^WARNING: Location" >&2); }

find_python() {
  if [ -n "${OSTEO_BUILD_PYTHON:-}" ]; then echo "$OSTEO_BUILD_PYTHON"; return 0; fi
  for p in python3.11 python3.12 python3.13 python3 python; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  log "Python 3.11 or newer is required (none found on PATH)"; return 1
}

sha256() { if command -v sha256sum >/dev/null 2>&1; then sha256sum; else shasum -a 256; fi; }  # macOS has shasum
stamp() { cat requirements/app.txt requirements/constraints.txt installer/requirements-build.txt | sha256 | cut -c1-16; echo "cpu=$CPU"; }

make_venv() {
  local want; want=$(stamp)
  if [ "$CLEAN" = 0 ] && [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.osteo-build-stamp" 2>/dev/null)" = "$want" ]; then
    log "reusing build venv $VENV"; return 0
  fi
  local py; py=$(find_python)
  # PyInstaller needs a Python built with a shared libpython (pyenv: PYTHON_CONFIGURE_OPTS=--enable-shared).
  if [ "$OS" = Linux ] && [ "$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("Py_ENABLE_SHARED"))')" != 1 ]; then
    log "$py was built without a shared libpython; PyInstaller cannot freeze it. Use a distribution Python or pyenv with --enable-shared."
    return 1
  fi
  log "creating build venv $VENV with $($py --version) (downloads torch & co.; takes a while)"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
  local pip=(pip_quiet "$VENV/bin/python" -m pip --disable-pip-version-check -q)
  if [ "$CPU" = 1 ]; then
    local tv; tv=$(grep -E '^(torch|torchvision)==' requirements/constraints.txt | tr '\n' ' ')
    log "installing CPU-only $tv from download.pytorch.org/whl/cpu"
    # shellcheck disable=SC2086
    "${pip[@]}" install --index-url https://download.pytorch.org/whl/cpu $tv
  fi
  "${pip[@]}" install -c requirements/constraints.txt -r requirements/app.txt -r installer/requirements-build.txt
  # grad-cam asks for opencv-python (with its own Qt plugins); we ship opencv-python-headless.
  "${pip[@]}" install --no-deps -c requirements/constraints.txt grad-cam
  if "$VENV/bin/python" -m pip show opencv-python >/dev/null 2>&1; then
    log "opencv-python (the GUI build) got into the build venv; removing it (we bundle opencv-python-headless)"
    "${pip[@]}" uninstall -y opencv-python
  fi
  # The app itself is bundled from the source tree (pathex in the spec), not installed.
  stamp > "$VENV/.osteo-build-stamp"
}

make_venv
[ "$VENV_ONLY" = 1 ] && exit 0

if [ ! -f model_weights/config.json ]; then
  if [ "${OSTEO_REQUIRE_MODEL:-0}" = 1 ]; then
    log "model_weights/ holds no model bundle (config.json missing) and OSTEO_REQUIRE_MODEL=1"; exit 1
  fi
  log "WARNING: model_weights/ holds no model bundle: the build will run, but the app will say 'no bundled model'"
fi

[ "$CLEAN" = 1 ] && rm -rf "$BUILD"
mkdir -p "$BUILD" dist
log "running PyInstaller (output in $BUILD/app)"
t0=$(date +%s)
OSTEO_BUILD_VARIANT=${VARIANT#-} "$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$BUILD/app" --workpath "$BUILD/work" installer/osteo_desktop.spec
log "PyInstaller finished in $(( $(date +%s) - t0 )) s"

if [ "$PLAT" = linux ]; then
  STAGE=$BUILD/stage/$NAME
  rm -rf "$BUILD/stage"; mkdir -p "$STAGE"
  mv "$BUILD/app/osteo-desktop" "$STAGE/osteo-desktop"
  cp installer/linux/install.sh installer/linux/uninstall.sh installer/linux/qt-libs.sh installer/linux/osteo-desktop.desktop "$STAGE/"
  cp resources/icons/osteo-desktop.png resources/icons/osteo-desktop.svg "$STAGE/"
  cp installer/linux/INSTALL.txt "$STAGE/INSTALL.txt"
  chmod +x "$STAGE/install.sh" "$STAGE/uninstall.sh"
  ARCHIVE=$ROOT/dist/$NAME.tar.gz
  log "packing $ARCHIVE"
  if command -v pigz >/dev/null 2>&1; then
    tar -C "$BUILD/stage" -cf - "$NAME" | pigz -6 > "$ARCHIVE.part"
  else
    tar -C "$BUILD/stage" -czf "$ARCHIVE.part" "$NAME"
  fi
  mv "$ARCHIVE.part" "$ARCHIVE"
  log "app folder: $(du -sh "$STAGE" | cut -f1)   archive: $(du -sh "$ARCHIVE" | cut -f1)"
  echo "$ARCHIVE"
else
  APP="$BUILD/app/Osteo Desktop.app"
  ARCHIVE=$ROOT/dist/$NAME.zip
  rm -f "$ARCHIVE"
  ditto -c -k --sequesterRsrc --keepParent "$APP" "$ARCHIVE"
  log "app: $(du -sh "$APP" | cut -f1)   archive: $(du -sh "$ARCHIVE" | cut -f1)"
  echo "$ARCHIVE"
fi
