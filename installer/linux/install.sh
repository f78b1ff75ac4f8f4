#!/usr/bin/env bash
# Install Osteo Desktop for the current user (no root needed):
#   ~/.local/share/osteo-desktop/   the application folder
#   ~/.local/bin/osteo-desktop      launcher (checks Qt's system libraries, then starts the app)
#   ~/.local/share/applications/osteo-desktop.desktop, icons, and the DICOM file association
# Options: --prefix DIR (default ~/.local), --no-menu (no desktop entry), --no-self-test
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX="$HOME/.local"
MENU=1 SELFTEST=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=$2; shift ;;
    --no-menu) MENU=0 ;;
    --no-self-test) SELFTEST=0 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
APPDIR="$PREFIX/share/osteo-desktop"
BINDIR="$PREFIX/bin"
[ -x "$HERE/osteo-desktop/osteo-desktop" ] || { echo "install.sh: run me from the unpacked archive (osteo-desktop/ not found beside me)" >&2; exit 1; }
[ -f "$HERE/qt-libs.sh" ] || { echo "install.sh: qt-libs.sh is missing beside me: unpack the whole archive again" >&2; exit 1; }
# shellcheck source=qt-libs.sh
. "$HERE/qt-libs.sh"
[ "$(uname -m)" = x86_64 ] || echo "install.sh: WARNING: this build is for x86_64, this machine is $(uname -m)" >&2

echo "Installing Osteo Desktop into $APPDIR"
mkdir -p "$APPDIR" "$BINDIR"
rm -rf "$APPDIR/app.new"
cp -a "$HERE/osteo-desktop" "$APPDIR/app.new"
rm -rf "$APPDIR/app"
mv "$APPDIR/app.new" "$APPDIR/app"
cp "$HERE/uninstall.sh" "$APPDIR/uninstall.sh"; chmod +x "$APPDIR/uninstall.sh"
cp "$HERE/INSTALL.txt" "$APPDIR/INSTALL.txt" 2>/dev/null || true
cp "$HERE/qt-libs.sh" "$APPDIR/qt-libs.sh"  # the launcher's check of Qt's system libraries

# The launcher: warns about missing Qt libraries (the window would not open) before starting the app.
cat > "$BINDIR/osteo-desktop" <<LAUNCHER
#!/usr/bin/env bash
# Osteo Desktop launcher (written by install.sh)
APP="$APPDIR/app/osteo-desktop"
if [ "\${QT_QPA_PLATFORM:-}" != offscreen ] && [[ " \$* " != *" --self-test "* ]] && [ -f "$APPDIR/qt-libs.sh" ]; then
  . "$APPDIR/qt-libs.sh"
  qt_check_libs "osteo-desktop: " || true
fi
exec "\$APP" "\$@"
LAUNCHER
chmod +x "$BINDIR/osteo-desktop"

if [ "$MENU" = 1 ]; then
  APPS="$PREFIX/share/applications"
  ICONS="$PREFIX/share/icons/hicolor"
  mkdir -p "$APPS" "$ICONS/256x256/apps" "$ICONS/scalable/apps"
  cp "$HERE/osteo-desktop.png" "$ICONS/256x256/apps/osteo-desktop.png"
  cp "$HERE/osteo-desktop.svg" "$ICONS/scalable/apps/osteo-desktop.svg"
  # Exec with the absolute launcher path: ~/.local/bin is not on every desktop session's PATH.
  sed -e "s|^Exec=.*|Exec=$BINDIR/osteo-desktop %F|" -e "s|^TryExec=.*|TryExec=$BINDIR/osteo-desktop|" \
    "$HERE/osteo-desktop.desktop" > "$APPS/osteo-desktop.desktop"
  # application/dicom for *.dcm if the system's MIME database lacks it (it is in shared-mime-info >= 1.x)
  MIME="$PREFIX/share/mime"
  mkdir -p "$MIME/packages"
  cat > "$MIME/packages/osteo-desktop-dicom.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<mime-info xmlns="http://www.freedesktop.org/standards/shared-mime-info">
  <mime-type type="application/dicom">
    <comment>DICOM image</comment>
    <glob pattern="*.dcm"/>
    <glob pattern="*.dicom"/>
    <magic priority="50"><match type="string" value="DICM" offset="128"/></magic>
  </mime-type>
</mime-info>
XML
  command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$MIME" >/dev/null 2>&1 || true
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$APPS" >/dev/null 2>&1 || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$ICONS" >/dev/null 2>&1 || true
  echo "Added 'Osteo Desktop' to the applications menu"
fi

# Qt 6 (xcb) needs these (qt-libs.sh lists every one); say so now rather than when the window fails to open.
if ! qt_check_libs "NOTE: "; then
  echo "NOTE: the self-test below runs without them" >&2
fi
case ":$PATH:" in *":$BINDIR:"*) ;; *) echo "NOTE: $BINDIR is not on your PATH; start the app from the menu or as $BINDIR/osteo-desktop" ;; esac

if [ "$SELFTEST" = 1 ]; then
  echo
  echo "Checking the installation (osteo-desktop --self-test):"
  if QT_QPA_PLATFORM=offscreen "$BINDIR/osteo-desktop" --self-test; then
    echo "Installed. Start 'Osteo Desktop' from the applications menu or run: osteo-desktop"
  else
    rc=$?
    echo "The application was installed, but its self-test failed (exit $rc, reason above)." >&2
    exit "$rc"
  fi
fi
