# Shared libraries that Qt 6's xcb platform (the window on X11 and XWayland) needs from the system.
# Sourced by dev.sh, installer/linux/install.sh and the launcher install.sh writes; not run itself.
#
# The list is what `readelf -d` calls NEEDED in PySide6's Qt/plugins/platforms/libqxcb.so and the Qt
# libraries it loads (libQt6XcbQpa, libQt6Gui, libQt6DBus, libQt6Core), less what PySide6 bundles
# (libQt6*, ICU) and the C/C++ runtime. tests/installer/test_qt_libs.py derives it again from the
# installed PySide6 and fails when a new PySide6 needs a library that is not listed here.
# Without any one of them the window does not open; Qt's error then names libxcb-cursor0 whatever
# is missing, hence this check.
#
# One line per library: soname, then the Debian/Ubuntu package that ships it.
QT_XCB_LIBS="
libxcb.so.1 libxcb1
libxcb-cursor.so.0 libxcb-cursor0
libxcb-icccm.so.4 libxcb-icccm4
libxcb-image.so.0 libxcb-image0
libxcb-keysyms.so.1 libxcb-keysyms1
libxcb-randr.so.0 libxcb-randr0
libxcb-render.so.0 libxcb-render0
libxcb-render-util.so.0 libxcb-render-util0
libxcb-shape.so.0 libxcb-shape0
libxcb-shm.so.0 libxcb-shm0
libxcb-sync.so.1 libxcb-sync1
libxcb-util.so.1 libxcb-util1
libxcb-xfixes.so.0 libxcb-xfixes0
libxcb-xkb.so.1 libxcb-xkb1
libxkbcommon.so.0 libxkbcommon0
libxkbcommon-x11.so.0 libxkbcommon-x11-0
libX11.so.6 libx11-6
libX11-xcb.so.1 libx11-xcb1
libGL.so.1 libgl1
libEGL.so.1 libegl1
libfontconfig.so.1 libfontconfig1
libfreetype.so.6 libfreetype6
libglib-2.0.so.0 libglib2.0-0
libgthread-2.0.so.0 libglib2.0-0
libdbus-1.so.3 libdbus-1-3
libz.so.1 zlib1g
libzstd.so.1 libzstd1
"

# The sonames of QT_XCB_LIBS that the dynamic linker cannot find (one per line; none: no output).
# `ldconfig -p` lists what the linker finds; without a usable ldconfig nothing can be said: no output.
qt_missing_libs() {
  local ldc names soname _pkg
  ldc=$(command -v ldconfig 2>/dev/null || true)
  if [ -z "$ldc" ] && [ -x /sbin/ldconfig ]; then ldc=/sbin/ldconfig; fi
  [ -n "$ldc" ] || return 0
  names=$("$ldc" -p 2>/dev/null | awk 'NR > 1 { print $1 }') || return 0
  [ -n "$names" ] || return 0
  while read -r soname _pkg; do
    [ -n "$soname" ] || continue
    grep -qxF -- "$soname" <<<"$names" || echo "$soname"
  done <<EOF
$QT_XCB_LIBS
EOF
  return 0
}

# The Debian/Ubuntu packages that ship the given sonames (distinct, in list order).
qt_debian_packages() {
  local want=" $* " out=""
  while read -r soname pkg; do
    [ -n "$soname" ] || continue
    case "$want" in *" $soname "*) case " $out " in *" $pkg "*) ;; *) out="$out $pkg" ;; esac ;; esac
  done <<EOF
$QT_XCB_LIBS
EOF
  echo "${out# }"
}

# Says what is missing and how to install it (to stderr); returns 1 when something is missing.
# $1: how to prefix the lines (e.g. "osteo-desktop: ").
qt_check_libs() {
  local prefix=${1:-} missing rpm="" s
  missing=$(qt_missing_libs | tr '\n' ' ')
  missing=${missing% }
  [ -n "$missing" ] || return 0
  for s in $missing; do rpm="$rpm '$s()(64bit)'"; done
  {
    echo "${prefix}system libraries Qt 6 needs to open its window are missing: $missing"
    echo "${prefix}Debian/Ubuntu: sudo apt-get install $(qt_debian_packages $missing)"
    echo "${prefix}Fedora/RHEL:   sudo dnf install$rpm"
  } >&2
  return 1
}
