"""The model's validation metrics as the report shows them: compact tables and rows (no reportlab).

* format-1 bundles (the training package's per-group metrics): `group_metric_table`;
* format-2 bundles (per anatomy, the clinical-only, image-only and combined scores): `score_table`,
  and `guard_text` for the picture check's validation;
* any other layout: `metric_rows`, flattened with confidence intervals where given.
"""

from __future__ import annotations

import re
from typing import Any

from ..bundle import BundleConfig
from ..score_bases import CLINICAL, COMBINED, IMAGE, ScoreBook


def _num(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


_TOKENS = {"auc": "AUC", "bmd": "BMD", "ci": "CI", "ci95": "95% CI", "ppv": "PPV", "npv": "NPV", "roc": "ROC",
           "f1": "F1", "n": "n", "dxa": "DXA", "cv": "CV", "ece": "ECE", "tpr": "TPR", "fpr": "FPR"}
_VALUE_KEYS = ("value", "estimate", "point", "mean", "auc")
_CI_KEYS = ("ci95", "ci_95", "ci", "95ci", "confidence_interval")


def _pretty_key(key: str) -> str:
    words = re.split(r"[_\s]+", str(key).strip())
    words = [w for w in words if w]
    if not words:
        return str(key)
    out = [_TOKENS.get(w.lower(), w) for w in words]
    if words[0].lower() not in _TOKENS:  # "n", "AUC"... keep their own case
        out[0] = out[0][:1].upper() + out[0][1:]
    return " ".join(out)


def _ci_of(d: dict[str, Any]) -> tuple[Any, Any] | None:
    for k in _CI_KEYS:
        v = d.get(k)
        if isinstance(v, (list, tuple)) and len(v) == 2:
            return v[0], v[1]
        if isinstance(v, dict):
            lo, hi = v.get("low", v.get("lower")), v.get("high", v.get("upper"))
            if lo is not None and hi is not None:
                return lo, hi
    lo = d.get("ci_low", d.get("ci_lower", d.get("lower")))
    hi = d.get("ci_high", d.get("ci_upper", d.get("upper")))
    if lo is not None and hi is not None:
        return lo, hi
    return None


def metric_rows(metrics: dict[str, Any], limit: int = 18) -> list[tuple[str, str]]:
    """Validation metrics as (label, text) rows, whatever their nesting.

    A dict with a value and a confidence interval (`{"value": .81, "ci95": [.76, .86]}`, or
    `ci_low`/`ci_high`) becomes one row "0.810 (95% CI 0.760–0.860)"; other dicts are flattened with
    "label / sub-label"; lists of numbers are joined.
    """
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any, depth: int) -> None:
        if isinstance(value, dict):
            main = next((value[k] for k in _VALUE_KEYS if k in value and not isinstance(value[k], (dict, list))), None)
            ci = _ci_of(value)
            if main is not None:
                text = _num(main) + (f" (95% CI {_num(ci[0])}–{_num(ci[1])})" if ci else "")
                extras = [f"{_pretty_key(k)} {_num(v)}" for k, v in value.items()
                          if k in ("n", "n_patients", "n_films", "n_images", "prevalence") and not isinstance(v, (dict, list))]
                rows.append((prefix, text + (f"; {', '.join(extras)}" if extras else "")))
                return
            if depth >= 3:
                rows.append((prefix, ", ".join(f"{_pretty_key(k)} {_num(v)}" for k, v in value.items())[:200]))
                return
            for k, v in value.items():
                walk(f"{prefix} / {_pretty_key(k)}" if prefix else _pretty_key(k), v, depth + 1)
        elif isinstance(value, (list, tuple)):
            rows.append((prefix, ", ".join(_num(v) for v in value)[:200]))
        else:
            rows.append((prefix, _num(value)[:200]))

    walk("", metrics, 0)
    if len(rows) > limit:
        more = len(rows) - (limit - 1)
        rows = rows[: limit - 1] + [("…", f"{more} more in the model card (MODEL_CARD.md)")]
    return rows


GROUP_METRIC_COLUMNS = ("Group", "Images / patients", "Low-BMD AUC (95% CI)", "Sensitivity", "Specificity",
                        "Age-only AUC")


def group_metric_table(metrics: dict[str, Any]) -> list[list[str]] | None:
    """The training package's metrics (`{"overall": {...}, "knee": {...}, ...}` with `auc_low_bmd`,
    `auc_low_bmd_ci95`, `sensitivity`, ...) as one compact table; None for any other layout."""
    groups = [(k, v) for k, v in metrics.items() if isinstance(v, dict) and "auc_low_bmd" in v]
    if not groups:
        return None

    def with_ci(d: dict[str, Any], key: str) -> str:
        if d.get(key) is None:
            return "—"
        ci = d.get(f"{key}_ci95")
        return f"{d[key]:.2f}" + (f" ({ci[0]:.2f}–{ci[1]:.2f})" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "")

    rows = [list(GROUP_METRIC_COLUMNS)]
    for name, d in groups:
        n = f"{d.get('n_images', '—')} / {d.get('n_patients', '—')}"
        rows.append([name, n, with_ci(d, "auc_low_bmd"), with_ci(d, "sensitivity"), with_ci(d, "specificity"),
                     with_ci(d, "age_only_auc_low_bmd")])
    return rows


SCORE_TABLE_COLUMNS = ("Anatomy", "Score", "Low-BMD AUC (95% CI)", "Sensitivity", "Specificity", "Threshold", "Validated")


def score_table(cfg: BundleConfig) -> tuple[list[list[str]], str]:
    """Format-2 bundles: per anatomy, the clinical-only, image-only and combined scores as validated."""
    book = ScoreBook.from_config(threshold=cfg.threshold, threshold_goal=cfg.threshold_goal, temperature=cfg.temperature,
                                 metrics={}, screening=cfg.extra.get("screening"))
    rows = [list(SCORE_TABLE_COLUMNS)]
    names = {CLINICAL: "age + sex only", IMAGE: "image only", COMBINED: "image + age + sex"}
    for anatomy in sorted({a for a, _ in book.specs} - {"overall"}, key=lambda a: (a not in ("knee", "spine"), a)):
        for basis in (CLINICAL, IMAGE, COMBINED):
            spec = book.get(anatomy, basis)
            if spec is None:
                continue
            m = spec.metrics

            def num(key: str, m: Any = m) -> str:
                v = m.get(key)
                return f"{v:.2f}" if isinstance(v, (int, float)) else "—"

            auc = spec.describe_validation().replace("ROC-AUC ", "").replace("95% CI ", "")
            rows.append([anatomy, names[basis], auc if spec.auc is not None else "—", num("sensitivity"),
                         num("specificity"), f"{spec.threshold:.3f}", "yes" if spec.validated else "no: information only"])
    note = ("Patient-level cross-validation, out-of-fold predictions, 95% CIs by patient bootstrap. A score is validated "
            "when its AUC interval lies above 0.5 (chance); only validated scores may recommend a referral. "
            "Sensitivity and specificity at each score's own threshold.")
    return rows, note


def guard_text(guard: Any) -> str:
    """One sentence on the picture check's validation (per-class recall), when the bundle records it."""
    if not isinstance(guard, dict):
        return ""
    recall = (guard.get("metrics") or {}).get("per_class_recall") or {}
    parts = []
    for cls, v in recall.items():
        value = v.get("value") if isinstance(v, dict) else v
        if isinstance(value, (int, float)):
            parts.append(f"{str(cls).replace('_', ' ')} {value:.0%}")
    if not parts:
        return "Before any score, a picture check decides whether a film is a knee or spine film like those validated."
    return ("Before any score, a picture check decides whether a film is a knee or spine film like those validated; "
            "its recall per class in cross-validation: " + ", ".join(parts) + ".")
