"""Checks on a model bundle's config.json, so that a tampered or broken config is refused on load.

Without them a config could run with exit 0 and wrong results: a NaN or infinite temperature or a
zero std gives NaN scores ("not suspected"); `low_bmd_classes: []` makes every score 0 (and the
self-test still passed); duplicate class names flip the decision; an input size of 20000 x 20000
needs tens of gigabytes; unknown `model_kwargs` crash the model builder with an IndexError.

`validate_config(cfg, source)` raises `BundleError` ("... bundle invalid: ...", exit status 3 in
the CLI and the self-test) on the first problem; `BundleConfig.from_dict`, `read_bundle` and
`write_bundle` call it, so the viewer, `osteo-screen`, `--self-test` and training share the rules.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import BundleError

if TYPE_CHECKING:
    from .bundle import BundleConfig

MIN_INPUT_SIDE, MAX_INPUT_SIDE = 32, 2048
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e3
RESIZE_MODES = ("letterbox", "stretch")
GLOBAL_POOLS = ("", "avg", "max", "avgmax", "catavgmax", "fast", "token")


def _rate(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0.0 <= v < 1.0


def _widths(v: Any) -> bool:
    return (isinstance(v, (list, tuple)) and 1 <= len(v) <= 8
            and all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 1024 for w in v))


def _dense(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096


def _names(lo: int, hi: int, allowed: tuple[str, ...] | None = None) -> Callable[[Any], bool]:
    """A list of lo..hi distinct short names (from `allowed` when given)."""
    def ok(v: Any) -> bool:
        return (isinstance(v, (list, tuple)) and lo <= len(v) <= hi and len(set(v)) == len(v)
                and all(isinstance(x, str) and _NAME.fullmatch(x) for x in v)
                and (allowed is None or all(x in allowed for x in v)))
    return ok


_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# osteo_pooled_linear (core/probe.py) options; the class checks views/pooling values again itself
_VIEWS = ("whole", "half", "centre", "band")
_POOLINGS = ("avg", "max")

#: model_kwargs a bundle may pass to the model builder, and what each may hold. Add new ones here.
MODEL_KWARGS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "drop_rate": (_rate, "a number in [0, 1)"),
    "drop_path_rate": (_rate, "a number in [0, 1)"),
    "drop_block_rate": (_rate, "a number in [0, 1)"),
    "global_pool": (lambda v: v in GLOBAL_POOLS, f"one of {list(GLOBAL_POOLS)}"),
    "widths": (_widths, "1 to 8 whole numbers in [1, 1024] (osteo_cnn)"),
    "dense": (_dense, "a whole number in [1, 4096] (osteo_cnn)"),
    "backbone": (lambda v: isinstance(v, str) and bool(_NAME.fullmatch(v)), "a timm model name (osteo_pooled_linear)"),
    "anatomies": (_names(1, 8), "1 to 8 distinct names (osteo_pooled_linear)"),
    "guard_classes": (_names(2, 32), "2 to 32 distinct class names (osteo_pooled_linear)"),
    "ood_dims": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 4096,
                 "a whole number in [1, 4096] (osteo_pooled_linear)"),
    "views": (_names(1, 4, _VIEWS), f"1 to 4 of {list(_VIEWS)} (osteo_pooled_linear)"),
    "hflip_tta": (lambda v: isinstance(v, bool), "true or false (osteo_pooled_linear)"),
    "pooling": (_names(1, 2, _POOLINGS), f"1 or 2 of {list(_POOLINGS)} (osteo_pooled_linear)"),
}


def _invalid(source: str, what: str) -> BundleError:
    return BundleError(f"{source}: bundle invalid: {what}. Re-export the bundle with osteo-train or reinstall it.")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_raw(d: Any, source: str) -> None:
    """Shape checks on the raw JSON before it is converted (a string is not a list of names)."""
    if not isinstance(d, Mapping):
        raise _invalid(source, f"the config is a JSON {type(d).__name__}, not an object")
    for key in ("class_names", "low_bmd_classes", "anatomies"):
        if key in d and not (isinstance(d[key], list) and all(isinstance(x, str) for x in d[key])):
            raise _invalid(source, f"{key} must be a list of names, got {str(d[key])[:80]!r}")
    for key in ("model_kwargs", "preprocessing", "training_data", "metrics"):
        if key in d and not isinstance(d[key], Mapping):
            raise _invalid(source, f"{key} must be an object, got {type(d[key]).__name__}")
    for key in ("name", "version", "architecture"):
        if key in d and not (isinstance(d[key], str) and d[key].strip()):
            raise _invalid(source, f"{key} must be a non-empty string, got {str(d[key])[:80]!r}")
    pre = d.get("preprocessing") or {}
    for key in ("input_size", "mean", "std"):
        if key in pre and not (isinstance(pre[key], list) and all(_finite(x) for x in pre[key])):
            raise _invalid(source, f"preprocessing.{key} must be a list of finite numbers, got {str(pre[key])[:80]!r}")
    thr = d.get("threshold")
    value = thr.get("value") if isinstance(thr, Mapping) else thr
    if value is not None and not _finite(value):
        raise _invalid(source, f"threshold {value!r} is not a finite number")
    if "temperature" in d and not _finite(d["temperature"]):
        raise _invalid(source, f"temperature {d['temperature']!r} is not a finite number")


def validate_config(cfg: BundleConfig, source: str = "config.json") -> None:
    """Raise BundleError ("bundle invalid") unless `cfg` can give correct results."""
    names = list(cfg.class_names)
    if len(names) < 2 or not all(isinstance(n, str) and n.strip() for n in names):
        raise _invalid(source, f"class_names must hold at least two non-empty names, got {names}")
    folded = [n.strip().casefold() for n in names]
    if len(set(folded)) != len(folded):
        dupes = sorted({n for n in names if folded.count(n.strip().casefold()) > 1})
        raise _invalid(source, f"class_names {names} name {dupes} more than once")
    low = list(cfg.low_bmd_classes)
    if not low:
        raise _invalid(source, "low_bmd_classes is empty: every low-bone-density score would be 0")
    missing = [c for c in low if c not in names]
    if missing:
        raise _invalid(source, f"low_bmd_classes {missing} are not among class_names {names}")
    if len(set(low)) != len(low):
        raise _invalid(source, f"low_bmd_classes {low} name a class more than once")
    if set(low) == set(names):
        raise _invalid(source, f"low_bmd_classes {low} are all the classes: every score would be 1")
    if not (_finite(cfg.threshold) and 0.0 <= cfg.threshold <= 1.0):
        raise _invalid(source, f"threshold {cfg.threshold} is not a number in [0, 1]")
    t = cfg.temperature
    if not (_finite(t) and MIN_TEMPERATURE <= t <= MAX_TEMPERATURE):
        raise _invalid(source, f"temperature {t} is not a finite number in [{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}]")
    _validate_preprocessing(cfg, source)
    for key, value in cfg.model_kwargs.items():
        rule = MODEL_KWARGS.get(key)
        if rule is None:
            raise _invalid(source, f"model_kwargs {key!r} is not a known option (known: {sorted(MODEL_KWARGS)})")
        ok, expected = rule
        if not ok(value):
            raise _invalid(source, f"model_kwargs {key} = {str(value)[:80]!r} is not {expected}")


def _validate_preprocessing(cfg: BundleConfig, source: str) -> None:
    p = cfg.preprocessing
    size = tuple(p.input_size)
    if len(size) != 2 or not all(MIN_INPUT_SIDE <= s <= MAX_INPUT_SIDE for s in size):
        raise _invalid(source, f"preprocessing.input_size {list(size)} must be two sides in [{MIN_INPUT_SIDE}, "
                               f"{MAX_INPUT_SIDE}] pixels")
    if not 1 <= p.in_chans <= 4:
        raise _invalid(source, f"preprocessing.in_chans {p.in_chans} must be 1 to 4")
    for key, values in (("mean", p.mean), ("std", p.std)):
        if len(values) < p.in_chans or not all(_finite(v) for v in values):
            raise _invalid(source, f"preprocessing.{key} {list(values)} must give a finite number per input channel")
    if not all(v > 0 for v in p.std[: p.in_chans]):
        raise _invalid(source, f"preprocessing.std {list(p.std)} must be positive (a zero std divides by zero)")
    if p.resize not in RESIZE_MODES:
        raise _invalid(source, f"preprocessing.resize {p.resize!r} must be one of {list(RESIZE_MODES)}")
    if not (_finite(p.pad_value) and 0.0 <= p.pad_value <= 1.0):
        raise _invalid(source, f"preprocessing.pad_value {p.pad_value} must be a number in [0, 1]")
