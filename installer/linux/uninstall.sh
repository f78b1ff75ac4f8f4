#!/usr/bin/env bash
# Remove Osteo Desktop installed by install.sh (same --prefix, default ~/.local). Reports and
# settings you saved elsewhere are kept; so is the pseudonym salt in ~/.config/osteo-desktop.
set -euo pipefail
PREFIX="$HOME/.local"
[ "${1:-}" = --prefix ] && PREFIX=$2
rm -rf "$PREFIX/share/osteo-desktop"
rm -f "$PREFIX/bin/osteo-desktop" "$PREFIX/share/applications/osteo-desktop.desktop" \
  "$PREFIX/share/icons/hicolor/256x256/apps/osteo-desktop.png" "$PREFIX/share/icons/hicolor/scalable/apps/osteo-desktop.svg" \
  "$PREFIX/share/mime/packages/osteo-desktop-dicom.xml"
command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$PREFIX/share/mime" >/dev/null 2>&1 || true
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$PREFIX/share/applications" >/dev/null 2>&1 || true
echo "Osteo Desktop removed from $PREFIX"
