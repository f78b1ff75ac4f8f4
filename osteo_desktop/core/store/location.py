"""Where the store and the network settings live by default (per user, per operating system).

`OSTEO_STORE` (a folder) overrides the store location; `OSTEO_CONFIG_DIR` the settings folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "osteo-desktop"


def user_data_dir() -> Path:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / APP
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / APP
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / APP


def user_config_dir() -> Path:
    if os.environ.get("OSTEO_CONFIG_DIR"):
        return Path(os.environ["OSTEO_CONFIG_DIR"])
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / APP
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / APP
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / APP


def default_store_dir() -> Path:
    """`$OSTEO_STORE`, else `<user data folder>/store`."""
    env = os.environ.get("OSTEO_STORE")
    return Path(env).expanduser() if env else user_data_dir() / "store"
