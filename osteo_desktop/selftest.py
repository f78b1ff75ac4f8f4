"""`osteo-desktop --self-test`: check an installation end to end, without a window.

    osteo-desktop --self-test [--bundle DIR] [--device auto|cpu|cuda] [--film FILE] [--json]
                              [--report-dir DIR] [--output FILE] [-v]

It loads the bundled model (or --bundle DIR / $OSTEO_BUNDLE; sha256 verified), screens the demo
film on the available device, writes a PDF screening report to a temporary folder and checks it,
then prints a short summary: versions, device, frozen or not, model name/version/sha256 prefix,
the result and the timings. It never imports Qt, so it works on a machine without a display (and
in the frozen app it checks that the bundled torch, timm, pydicom decoders and reportlab work).

Exit status: 0 passed; 1 a step failed; 2 bad usage; 3 no usable model bundle. Each failure is
reported as one line `osteo-desktop self-test: FAILED: <step>: <reason>`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import logging
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import __version__

log = logging.getLogger("osteo_desktop.selftest")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUNDLE = 0, 1, 2, 3
PROG = "osteo-desktop --self-test"

#: (label, distribution names to ask importlib.metadata, importable module with __version__)
_COMPONENTS = (
    ("torch", ("torch",), "torch"),
    ("torchvision", ("torchvision",), "torchvision"),
    ("timm", ("timm",), "timm"),
    ("pydicom", ("pydicom",), "pydicom"),
    ("PySide6", ("PySide6-Essentials", "PySide6"), None),  # never imported here: no Qt in a self-test
    ("numpy", ("numpy",), "numpy"),
    ("opencv", ("opencv-python-headless", "opencv-python"), "cv2"),
    ("reportlab", ("reportlab",), "reportlab"),
)
_DECODERS = (("pylibjpeg", "pylibjpeg"), ("libjpeg", "pylibjpeg-libjpeg"), ("openjpeg", "pylibjpeg-openjpeg"),
             ("jpeg_ls", "pyjpegls"))


class StepFailed(Exception):
    def __init__(self, step: str, reason: str, exit_code: int = EXIT_FAILED):
        super().__init__(f"{step}: {reason}")
        self.step, self.reason, self.exit_code = step, reason, exit_code


@dataclass
class SelfTestResult:
    ok: bool = False
    exit_code: int = EXIT_FAILED
    failed_step: str = ""
    reason: str = ""
    app_version: str = __version__
    python: str = platform.python_version()
    platform: str = f"{platform.system()} {platform.machine()}"
    frozen: bool = False
    bundle_dir: str = ""  # sys._MEIPASS in a frozen app
    versions: dict[str, str] = field(default_factory=dict)
    decoders: dict[str, str] = field(default_factory=dict)
    decoder_checks: dict[str, str] = field(default_factory=dict)
    device: str = ""
    device_name: str = ""
    cuda_available: bool | None = None
    model: dict[str, str] = field(default_factory=dict)
    film: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    qt_loaded: bool = False
    steps_passed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["timings_ms"] = {k: round(v, 1) for k, v in self.timings_ms.items()}
        return d


def _one_line(text: object) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= 400 else s[:397] + "..."


def _dist_version(names: tuple[str, ...]) -> str | None:
    for n in names:
        try:
            return importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _pyside_version_without_import() -> str | None:
    """PySide6's version from its _config.py source, without importing PySide6 (no Qt libraries)."""
    import importlib.util
    import re

    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    for loc in spec.submodule_search_locations or ():
        cfg = Path(loc) / "_config.py"
        try:
            m = re.search(r'^version\s*=\s*"([^"]+)"', cfg.read_text(encoding="utf-8"), re.M)
        except OSError:
            continue
        if m:
            return m.group(1)
    return "present (version unknown)"


def component_versions() -> tuple[dict[str, str], dict[str, str]]:
    """Versions of the main components and of pydicom's optional pixel decoders ("missing" if absent)."""
    versions: dict[str, str] = {}
    for label, dists, module in _COMPONENTS:
        v = None
        if module is not None and module in sys.modules:  # torch's own says which build (+cu130, +cpu)
            v = str(getattr(sys.modules[module], "__version__", "") or "") or None
        v = v or _dist_version(dists)
        if v is None and label == "PySide6":
            v = _pyside_version_without_import()
        versions[label] = v or "missing"
    decoders: dict[str, str] = {}
    import importlib.util

    for module, dist in _DECODERS:
        try:
            present = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            present = False
        decoders[module] = (_dist_version((dist,)) or "present") if present else "missing"
    return versions, decoders


def _timed(result: SelfTestResult, key: str, t0: float) -> None:
    result.timings_ms[key] = (time.perf_counter() - t0) * 1000


#: (transfer syntax keyword, encoder plugin, decoder plugins that must decode it, pip package to name)
_DECODER_ROUND_TRIPS = (
    ("JPEGLSLossless", "pyjpegls", (("pyjpegls", "pyjpegls"), ("pylibjpeg", "pylibjpeg-libjpeg"))),
    ("JPEG2000Lossless", "pylibjpeg", (("pylibjpeg", "pylibjpeg-openjpeg"),)),
    ("RLELossless", "pydicom", (("pydicom", "pydicom"),)),
)


def check_decoders() -> dict[str, str]:
    """Compress a small 12-bit image with each codec and decode it with every plugin that must handle it.

    Returns {"<syntax> via <plugin>": "ok"}; raises StepFailed naming the missing pip package.
    """
    import numpy as np
    import pydicom.uid
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.pixels import get_decoder

    expected = ((np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 7) % 4096).astype(np.uint16)
    done: dict[str, str] = {}
    for keyword, encoder, decoders in _DECODER_ROUND_TRIPS:
        uid = getattr(pydicom.uid, keyword)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        ds.Rows, ds.Columns, ds.SamplesPerPixel = 64, 64, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = expected.tobytes()
        try:
            ds.compress(uid, encoding_plugin=encoder)
        except Exception as e:
            raise StepFailed("decoders", f"cannot encode a {uid.name} test image with {encoder} ({_one_line(e)})") from e
        for plugin, package in decoders:
            try:
                arr = get_decoder(uid).as_array(ds, decoding_plugin=plugin)[0]
            except Exception as e:
                raise StepFailed(
                    "decoders", f"{uid.name} films cannot be decoded: the {plugin} plugin ({package}) is missing or broken ({_one_line(e)})"
                ) from e
            if not np.array_equal(arr, expected):
                raise StepFailed("decoders", f"{uid.name} decoded by {plugin} ({package}) gives wrong pixels")
            done[f"{uid.name} via {plugin}"] = "ok"
    return done


def _check_pdf(paths: list[Path]) -> dict[str, Any]:
    if not paths:
        raise StepFailed("report", "the report writer returned no file")
    total = 0
    for n, p in enumerate(paths, 1):  # report file names may carry a patient's name: never printed
        what = f"PDF report {n} of {len(paths)}"
        if not p.is_file():
            raise StepFailed("report", f"{what} was not written")
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(5)
        if size == 0:
            raise StepFailed("report", f"{what} is empty (0 bytes)")
        if head != b"%PDF-":
            raise StepFailed("report", f"{what} is not a PDF (starts with {head!r})")
        total += size
    return {"files": len(paths), "bytes": total}


def run_self_test(
    bundle: str | os.PathLike[str] | None = None,
    device: str = "auto",
    film_path: str | os.PathLike[str] | None = None,
    report_dir: str | os.PathLike[str] | None = None,
) -> SelfTestResult:
    """Run every step; never raises for an expected failure (the result says what failed and why)."""
    r = SelfTestResult()
    r.frozen = bool(getattr(sys, "frozen", False))
    r.bundle_dir = str(getattr(sys, "_MEIPASS", "") or "")
    t_all = time.perf_counter()
    try:
        _run_steps(r, bundle, device, film_path, report_dir)
        r.ok, r.exit_code = True, EXIT_OK
    except StepFailed as e:
        r.failed_step, r.reason, r.exit_code = e.step, _one_line(e.reason), e.exit_code
    except MemoryError:
        r.failed_step, r.reason, r.exit_code = "memory", "not enough memory to run the self-test", EXIT_FAILED
    except Exception as e:  # an unexpected failure is still one clear line, never a traceback
        log.debug("self-test crashed", exc_info=True)
        r.failed_step = "internal"
        r.reason = _one_line(f"unexpected {type(e).__name__}: {e} (run with -v for details)")
        r.exit_code = EXIT_FAILED
    finally:
        _timed(r, "total", t_all)
        try:
            r.versions, r.decoders = component_versions()
        except Exception as e:  # pragma: no cover - metadata trouble must not hide the real result
            log.debug("could not read component versions: %s", e)
        r.qt_loaded = any(m == "PySide6" or m.startswith(("PySide6.", "shiboken6")) for m in sys.modules)
    return r


def _run_steps(r: SelfTestResult, bundle, device: str, film_path, report_dir) -> None:
    # 1. the runtime: torch & co. import (in a frozen app this is where missing libraries show)
    t = time.perf_counter()
    try:
        import torch

        importlib.import_module("timm")
    except Exception as e:
        raise StepFailed("import", f"torch/timm cannot be imported ({type(e).__name__}: {e})") from e
    _timed(r, "import", t)
    r.cuda_available = bool(torch.cuda.is_available())
    r.steps_passed.append("import")

    # 2. the model bundle (sha256 verified before a weight is read)
    from .core.bundle import default_bundle_dir, read_bundle
    from .core.errors import BundleError, BundleIntegrityError, NoBundleError, OsteoError

    source = bundle if bundle is not None else default_bundle_dir()
    if source is None:
        raise StepFailed(
            "model",
            "no bundled model: model_weights/config.json is not in this installation "
            "(pass --bundle DIR or set OSTEO_BUNDLE to a model bundle folder)",
            EXIT_BUNDLE,
        )
    t = time.perf_counter()
    try:
        b = read_bundle(source)
    except NoBundleError as e:
        raise StepFailed("model", f"no model bundle: {e}", EXIT_BUNDLE) from e
    except BundleIntegrityError as e:
        raise StepFailed("model", f"model bundle failed its integrity check: {e}", EXIT_BUNDLE) from e
    except BundleError as e:
        raise StepFailed("model", f"model bundle unusable: {e}", EXIT_BUNDLE) from e
    r.model = {"name": b.config.name, "version": b.config.version, "architecture": b.config.architecture,
               "sha256": b.config.sha256, "path": str(b.path)}

    from .core.inference import Screener

    try:
        screener = Screener(b, device=device)
    except BundleError as e:
        raise StepFailed("model", f"model bundle unusable: {e}", EXIT_BUNDLE) from e
    except OsteoError as e:
        raise StepFailed("model", str(e)) from e
    _timed(r, "load_model", t)
    r.device = screener.device
    if screener.device.startswith("cuda"):
        try:
            r.device_name = torch.cuda.get_device_name(torch.device(screener.device))
        except Exception:  # the name is for the summary only
            r.device_name = "CUDA device"
    else:
        r.device_name = platform.processor() or platform.machine()
    r.steps_passed.append("model")

    # 3. the demo film, through the same loader as the viewer (pydicom + decoder plugins)
    from .resources_path import demo_film_path

    path = Path(film_path) if film_path is not None else demo_film_path()
    if not path.is_file():
        raise StepFailed("film", f"demo film {path} is missing from this installation")
    t = time.perf_counter()
    try:
        from .core.loading import load_film

        film = load_film(path)
    except ImportError as e:
        raise StepFailed("film", f"the film loader cannot be imported ({e})") from e
    except OsteoError as e:
        raise StepFailed("film", str(e)) from e
    _timed(r, "load_film", t)
    r.film = {"file": path.name, "rows": film.shape[0], "cols": film.shape[1], "format": film.source_format,
              "transfer_syntax": film.transfer_syntax}
    r.steps_passed.append("film")

    # 3b. every compressed-DICOM decoder plugin the viewer relies on (in-memory round trips)
    t = time.perf_counter()
    r.decoder_checks = check_decoders()
    _timed(r, "decoders", t)
    r.steps_passed.append("decoders")

    # 4. screening with Grad-CAM
    t = time.perf_counter()
    try:
        pred = screener.screen(film, gradcam=True)
    except OsteoError as e:
        raise StepFailed("screen", str(e)) from e
    _timed(r, "screen", t)
    if not pred.screened:  # the demo film is a knee film: the picture check must let it through
        raise StepFailed("screen", f"the demo film was not screened: {pred.not_screened_reason}")
    probs = list((pred.probabilities or {}).values())
    if not probs or not all(math.isfinite(p) for p in probs) or abs(sum(probs) - 1.0) > 1e-3:
        raise StepFailed("screen", f"the model gave invalid probabilities {pred.probabilities}")
    if pred.cam_status not in ("ok", "empty"):
        raise StepFailed("screen", f"Grad-CAM was not computed (status {pred.cam_status!r})")
    r.device = pred.device  # a CUDA failure falls back to the CPU inside screen()
    r.result = {"decision": str(pred.decision), "decision_text": pred.decision_text,
                "low_bmd_score": round(float(pred.low_bmd_score or 0.0), 4), "threshold": pred.threshold,
                "predicted_class": pred.predicted_class, "gradcam": pred.cam_status,
                "warnings": list(pred.warnings)}
    r.steps_passed.append("screen")

    # 5. a PDF report (temporary folder unless --report-dir)
    t = time.perf_counter()
    try:
        from .core.reports import ScreenedFilm, write_patient_reports
    except ImportError as e:  # reportlab or pydicom missing from a broken installation
        raise StepFailed("report", f"the report writer cannot be imported ({e})") from e
    items = [ScreenedFilm(film, pred)]
    try:
        if report_dir is not None:
            out = Path(report_dir)
            out.mkdir(parents=True, exist_ok=True)
            written = write_patient_reports(items, out, bundle=b, anonymize=False, force=True)
            r.report = _check_pdf([Path(p) for p in written]) | {"folder": str(out)}
        else:
            with tempfile.TemporaryDirectory(prefix="osteo-selftest-") as tmp:
                written = write_patient_reports(items, tmp, bundle=b, anonymize=False, force=True)
                r.report = _check_pdf([Path(p) for p in written]) | {"folder": "(temporary, removed)"}
    except OsteoError as e:
        raise StepFailed("report", str(e)) from e
    except OSError as e:
        raise StepFailed("report", f"cannot write the report ({e.strerror or e})") from e
    _timed(r, "report", t)
    r.steps_passed.append("report")


def format_summary(r: SelfTestResult) -> str:
    v = r.versions
    head = "PASSED" if r.ok else f"FAILED: {r.failed_step}: {r.reason}"
    lines = [f"osteo-desktop self-test: {head}"]
    frozen = f"frozen build ({r.bundle_dir})" if r.frozen else "from source"
    lines.append(f"  app       osteo-desktop {r.app_version}, {frozen}")
    lines.append(f"  python    {r.python} on {r.platform}")
    lines.append("  versions  " + ", ".join(f"{k} {v.get(k, '?')}" for k in ("torch", "timm", "pydicom", "PySide6")))
    if r.decoders:
        lines.append("  decoders  " + ", ".join(f"{k} {d}" for k, d in r.decoders.items()))
    if r.cuda_available is not None:
        dev = r.device or "(not reached)"
        if r.device_name:
            dev += f" ({r.device_name})"
        lines.append(f"  device    {dev}; CUDA {'available' if r.cuda_available else 'not available'}")
    if r.model:
        m = r.model
        lines.append(f"  model     {m['name']} {m['version']} ({m['architecture']}), sha256 {m['sha256'][:12]}")
    if r.decoder_checks:
        lines.append(f"  codecs    {len(r.decoder_checks)} DICOM codec round trips ok (JPEG-LS, JPEG 2000, RLE)")
    if r.film:
        f = r.film
        lines.append(f"  film      {f['file']} {f['rows']}x{f['cols']} {f['format']}")
    if r.result:
        res = r.result
        lines.append(f"  result    {res['decision_text']} (low-BMD score {res['low_bmd_score']:.2f} vs "
                     f"threshold {res['threshold']:.2f}); Grad-CAM {res['gradcam']}")
    if r.report:
        lines.append(f"  report    {r.report['files']} PDF, {r.report['bytes'] / 1024:.0f} kB, checked")
    names = (("import", "import"), ("load_model", "load model"), ("load_film", "load film"), ("decoders", "codecs"),
             ("screen", "screen"),
             ("report", "report"), ("total", "total"))
    lines.append("  timings   " + ", ".join(f"{label} {r.timings_ms[k]:.0f} ms" for k, label in names if k in r.timings_ms))
    if r.exit_code == EXIT_BUNDLE:
        lines.append("  hint      reinstall the application, or pass --bundle DIR with a bundle made by osteo-train")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Check this installation: load the model, screen the demo film, write a PDF report.",
        epilog="Exit status: 0 passed; 1 a step failed; 2 usage error; 3 no usable model bundle.",
    )
    ap.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)  # when called with the app's argv
    ap.add_argument("--bundle", type=Path, metavar="DIR", help="model bundle folder (default: $OSTEO_BUNDLE, else the bundled model)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where the model runs (default: auto)")
    ap.add_argument("--film", type=Path, metavar="FILE", help="screen this film instead of the bundled demo film")
    ap.add_argument("--report-dir", type=Path, metavar="DIR", help="keep the PDF report in DIR (default: a temporary folder)")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object instead of the summary")
    ap.add_argument("--output", type=Path, metavar="FILE", help="also write the summary (or JSON) to FILE")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    ap.add_argument("--version", action="version", version=f"osteo-desktop {__version__}")
    return ap


def _emit(text: str, stream: TextIO | None) -> None:
    if stream is None:  # a windowed Windows build has no stdout; --output still works
        return
    stream.write(text + "\n")
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help/--version exit 0, bad usage exits 2
        return int(e.code or 0) if isinstance(e.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s: %(message)s", stream=sys.stderr)
    if not args.verbose:
        try:  # pydicom resets its logger's level when first imported: import it before quietening it
            importlib.import_module("pydicom")
        except ImportError:
            pass  # reported by the film step
        for noisy in ("pydicom", "timm", "osteo_desktop"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    os.environ.setdefault("MPLBACKEND", "Agg")  # grad-cam imports pyplot; never a GUI backend here
    if not args.verbose:
        import warnings

        warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
    try:
        result = run_self_test(args.bundle, args.device, args.film, args.report_dir)
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    text = json.dumps(result.to_dict(), indent=None if args.json else 2) if args.json else format_summary(result)
    _emit(text, sys.stdout)
    if args.output is not None:
        try:
            args.output.write_text(text + "\n", encoding="utf-8")
        except OSError as e:
            log.error("cannot write %s: %s", args.output, e.strerror or e)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
