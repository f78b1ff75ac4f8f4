"""Development data: manifests / class folders -> samples; films -> displayed [0, 1] images.

Images are read with the core's `load_film` and shown through the core's display pipeline
(`render`), i.e. exactly what a reader sees; there is no second reader.

`ImageStore` decodes each file once (threads; decoding is the slow part), records its sha256 and a
perceptual hash for the leakage audit, and keeps the displayed image resized to the content size the
model input will use: `preprocess_image(cached)` is then identical to `preprocess_image(render(film))`
(see `fit_to_input`), and augmentation works on a small image.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from osteo_desktop.core.bundle import sha256_file
from osteo_desktop.core.display import render
from osteo_desktop.core.loading import load_film
from osteo_desktop.core.preprocessing import PreprocessConfig, content_size, resize_like_preprocessing

from .errors import ManifestError

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("file", "patient_id", "label")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom", ""}
_MISSING = ("", "na", "nan", "none", "null")


@dataclass(frozen=True)
class Sample:
    path: Path
    image_id: str
    patient_id: str
    label: str
    y: int
    anatomy: str
    t_score: float = math.nan
    age: float = math.nan
    sex: str = ""
    source: str = ""  # manifest path or class-folder root
    fold: int | None = None  # predefined fold (manifest column `fold`), if any


@dataclass
class Dataset:
    samples: list[Sample]
    classes: tuple[str, ...]
    low_bmd_classes: tuple[str, ...]
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def y(self) -> np.ndarray:
        return np.array([s.y for s in self.samples], dtype=np.int64)

    @property
    def groups(self) -> np.ndarray:
        return np.array([s.patient_id for s in self.samples])

    @property
    def anatomies(self) -> np.ndarray:
        return np.array([s.anatomy for s in self.samples])

    @property
    def low_bmd_mask(self) -> np.ndarray:
        idx = [self.classes.index(c) for c in self.low_bmd_classes]
        return np.isin(self.y, idx)

    def subset(self, idx: Sequence[int]) -> Dataset:
        return Dataset([self.samples[i] for i in idx], self.classes, self.low_bmd_classes, self.sources)

    def summary(self) -> dict:
        by_anat: dict[str, dict] = {}
        for anat in sorted(set(self.anatomies)):
            ss = [s for s in self.samples if s.anatomy == anat]
            by_anat[anat] = {
                "images": len(ss),
                "patients": len({s.patient_id for s in ss}),
                "images_per_class": {c: sum(s.label == c for s in ss) for c in self.classes},
                "patients_per_class": {c: len({s.patient_id for s in ss if s.label == c}) for c in self.classes},
                "with_age": sum(not math.isnan(s.age) for s in ss),
                "mean_age_per_class": {c: round(float(np.mean(a)), 1) for c in self.classes
                                       if (a := [s.age for s in ss if s.label == c and not math.isnan(s.age)])},
                "with_t_score": sum(not math.isnan(s.t_score) for s in ss),
            }
        return {
            "images": len(self.samples),
            "patients": len(set(self.groups)),
            "images_per_class": {c: int((self.y == i).sum()) for i, c in enumerate(self.classes)},
            "by_anatomy": by_anat,
            "sources": list(self.sources),
        }


def _num(value: str, what: str, where: str) -> float:
    v = (value or "").strip()
    if v.lower() in _MISSING:
        return math.nan
    try:
        return float(v)
    except ValueError:
        raise ManifestError(f"{where}: {what} {value!r} is not a number (leave it empty when unknown)") from None


def read_manifest(path: str | os.PathLike[str], classes: Sequence[str], check_files: bool = True) -> list[Sample]:
    """Read and validate one manifest CSV. Raises ManifestError naming the file and the rows."""
    mpath = Path(path)
    if not mpath.is_file():
        raise ManifestError(f"{mpath}: manifest not found")
    try:
        with open(mpath, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ManifestError(f"{mpath}: cannot read the manifest ({e})") from e
    missing_cols = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing_cols:
        raise ManifestError(
            f"{mpath}: missing column(s) {missing_cols}; a manifest needs {list(REQUIRED_COLUMNS)} "
            f"(optional: image_id, t_score, age, sex, anatomy, fold). Columns found: {columns}"
        )
    if not rows:
        raise ManifestError(f"{mpath}: the manifest has no rows")
    folder_anatomy = mpath.parent.name.lower()
    lower_classes = {c.lower(): c for c in classes}
    samples: list[Sample] = []
    bad_labels: list[str] = []
    missing_files: list[str] = []
    empty: list[int] = []
    seen: dict[Path, int] = {}
    dup_rows: list[str] = []
    for i, r in enumerate(rows, start=2):  # line 1 is the header
        where = f"{mpath}:{i}"
        if not r.get("file") or not r.get("patient_id") or not r.get("label"):
            empty.append(i)
            continue
        label = lower_classes.get(r["label"].lower())
        if label is None:
            bad_labels.append(f"line {i}: {r['label']!r}")
            continue
        fpath = Path(r["file"])
        if not fpath.is_absolute():
            fpath = (mpath.parent / fpath).resolve()
        if fpath in seen:
            dup_rows.append(f"lines {seen[fpath]} and {i}: {r['file']}")
        seen[fpath] = i
        if check_files and not fpath.is_file():
            missing_files.append(f"line {i}: {r['file']}")
            continue
        fold_raw = r.get("fold", "")
        fold = None
        if fold_raw not in _MISSING:
            try:
                fold = int(fold_raw)
            except ValueError:
                raise ManifestError(f"{where}: fold {fold_raw!r} is not an integer") from None
        samples.append(
            Sample(
                path=fpath,
                image_id=r.get("image_id") or fpath.stem,
                patient_id=r["patient_id"],
                label=label,
                y=list(classes).index(label),
                anatomy=(r.get("anatomy") or folder_anatomy).lower(),
                t_score=_num(r.get("t_score", ""), "t_score", where),
                age=_num(r.get("age", ""), "age", where),
                sex=r.get("sex", ""),
                source=str(mpath),
                fold=fold,
            )
        )
    problems = []
    if empty:
        problems.append(f"{len(empty)} row(s) with an empty file, patient_id or label (lines {empty[:5]})")
    if bad_labels:
        problems.append(f"{len(bad_labels)} unknown label(s) ({'; '.join(bad_labels[:5])}); allowed: {list(classes)}")
    if missing_files:
        problems.append(f"{len(missing_files)} image file(s) not found ({'; '.join(missing_files[:5])})")
    if dup_rows:
        problems.append(f"{len(dup_rows)} file(s) listed twice ({'; '.join(dup_rows[:5])})")
    if problems:
        raise ManifestError(f"{mpath}: " + "; ".join(problems) + ". Fix the manifest and run again.")
    return samples


def read_class_folders(root: str | os.PathLike[str], classes: Sequence[str]) -> list[Sample]:
    """ROOT/<class>/<image>: each image is its own patient (no grouping is possible: say so)."""
    rpath = Path(root)
    if not rpath.is_dir():
        raise ManifestError(f"{rpath}: class-folder root not found")
    samples: list[Sample] = []
    unknown = [d.name for d in sorted(rpath.iterdir()) if d.is_dir() and d.name.lower() not in {c.lower() for c in classes}]
    if unknown:
        raise ManifestError(f"{rpath}: sub-folder(s) {unknown} are not among the classes {list(classes)}")
    for ci, cls in enumerate(classes):
        d = next((x for x in rpath.iterdir() if x.is_dir() and x.name.lower() == cls.lower()), None)
        if d is None:
            continue
        for f in sorted(d.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."):
                samples.append(Sample(f.resolve(), f"{cls}/{f.stem}", f"{cls}/{f.stem}", cls, ci, rpath.name.lower(), source=str(rpath)))
    if not samples:
        raise ManifestError(f"{rpath}: no images found under {list(classes)} sub-folders")
    log.warning("%s: class folders carry no patient IDs; every image is treated as its own patient, so "
                "several images of one patient would leak between folds. Prefer a manifest.", rpath)
    return samples


def load_dataset(data_cfg: dict, check_files: bool = True) -> Dataset:
    classes = tuple(data_cfg["classes"])
    samples: list[Sample] = []
    sources: list[str] = []
    for m in data_cfg.get("manifests") or []:
        samples += read_manifest(m, classes, check_files=check_files)
        sources.append(str(m))
    for root in data_cfg.get("class_folders") or []:
        samples += read_class_folders(root, classes)
        sources.append(str(root))
    if not sources:
        raise ManifestError("no data: give manifests (data.manifests / --manifest) or class folders (data.class_folders)")
    paths = Counter(s.path for s in samples)
    twice = [str(p) for p, n in paths.items() if n > 1]
    if twice:
        raise ManifestError(f"{len(twice)} file(s) appear in more than one manifest, e.g. {twice[:3]}")
    ids = Counter((s.anatomy, s.image_id) for s in samples)
    dup_ids = [f"{a}/{i}" for (a, i), n in ids.items() if n > 1]
    if dup_ids:
        raise ManifestError(f"image_id not unique: {dup_ids[:5]}")
    limit = data_cfg.get("limit_per_class")
    if limit:
        samples = limit_patients(samples, int(limit))
    ds = Dataset(samples, classes, tuple(data_cfg["low_bmd_classes"]), sources)
    log.info("data: %d images, %d patients from %s", len(ds), len(set(ds.groups)), ", ".join(sources))
    return ds


def limit_patients(samples: list[Sample], n: int) -> list[Sample]:
    """Keep the first n patients (sorted by ID) of every (anatomy, class): for smoke runs."""
    keep: dict[tuple[str, str], set[str]] = defaultdict(set)
    for s in sorted(samples, key=lambda s: s.patient_id):
        k = (s.anatomy, s.label)
        if len(keep[k]) < n:
            keep[k].add(s.patient_id)
    return [s for s in samples if s.patient_id in keep[(s.anatomy, s.label)]]


# --------------------------------------------------------------------------------------------
# Films -> displayed images
# --------------------------------------------------------------------------------------------

def load_display_image(path: str | os.PathLike[str]) -> np.ndarray:
    """The film as the application displays it: float32 2-D in [0, 1], bone bright.

    Read by the application's own loader (`load_film`, EXIF orientation, DICOM windows, inversion)
    and rendered by its display pipeline (`render`): the one way films are read, in training too.
    """
    return np.asarray(render(load_film(Path(path))), dtype=np.float32)


# --------------------------------------------------------------------------------------------
# Hashes
# --------------------------------------------------------------------------------------------


PHASH_BITS = 256


def phash(img01: np.ndarray) -> np.ndarray:
    """256-bit DCT perceptual hash of a [0, 1] image, packed into 32 bytes.

    64x64 area resize, DCT, the 16x16 lowest frequencies compared with their median. On the
    development films re-encoded / resized / brightened / mirrored copies stay within 10 bits while
    the closest films of two different patients are 44 bits apart (the classic 64-bit pHash cannot
    tell masked spine films or single knees apart: 2 bits between different patients).
    """
    small = cv2.resize(np.ascontiguousarray(img01, dtype=np.float32), (64, 64), interpolation=cv2.INTER_AREA)
    d = cv2.dct(small)[:16, :16].flatten()
    bits = d > np.median(d[1:])
    bits[0] = False
    return np.packbits(bits)


# --------------------------------------------------------------------------------------------
# Image store / cache
# --------------------------------------------------------------------------------------------


@dataclass
class ImageInfo:
    sha256: str
    phash: np.ndarray  # packed 256-bit perceptual hash
    phash_flip: np.ndarray  # the same of the mirrored image
    shape: tuple[int, int]


class ImageStore:
    """Decodes each film once; keeps hashes and displayed images resized for given input sizes."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, workers: int = 4):
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.workers = max(1, int(workers))
        self.info: dict[Path, ImageInfo] = {}
        self._images: dict[tuple, dict[Path, np.ndarray]] = {}

    def _key(self, cfg: PreprocessConfig, scale: float) -> tuple:
        return (tuple(cfg.input_size), cfg.resize, float(scale))

    def _disk_path(self, info: ImageInfo, key: tuple) -> Path | None:
        if self.cache_dir is None:
            return None
        (h, w), mode, scale = key
        return self.cache_dir / f"{info.sha256[:20]}_core_{h}x{w}_{mode}_{scale:g}.npy"

    def prepare(self, paths: Iterable[Path], cfg: PreprocessConfig, scale: float = 1.0) -> None:
        """Make sure every path has hashes and a cached image for (cfg, scale); decodes in threads."""
        from tqdm.auto import tqdm

        key = self._key(cfg, scale)
        cache = self._images.setdefault(key, {})
        todo = [p for p in dict.fromkeys(paths) if p not in cache]
        if not todo:
            return
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

        def work(p: Path) -> tuple[Path, ImageInfo | None, np.ndarray]:
            info = self.info.get(p)
            if info is not None:
                dp = self._disk_path(info, key)
                if dp is not None and dp.is_file():
                    return p, None, np.load(dp)
            img = load_display_image(p)
            if info is None:
                info = ImageInfo(sha256_file(p), phash(img), phash(img[:, ::-1]), (int(img.shape[0]), int(img.shape[1])))
            small = resize_like_preprocessing(img, content_size(img.shape, cfg, scale))
            dp = self._disk_path(info, key)
            if dp is not None:
                np.save(dp, small)
            return p, info, small

        with ThreadPoolExecutor(self.workers) as ex:
            progress = tqdm(ex.map(work, todo), total=len(todo), desc="decoding", unit="img", leave=False, disable=len(todo) < 50)
            for p, info, small in progress:
                if info is not None:
                    self.info[p] = info
                cache[p] = small
        log.info("decoded %d image(s) for input %s (%s)", len(todo), list(cfg.input_size), cfg.resize)

    def hashes(self, paths: Iterable[Path]) -> dict[Path, ImageInfo]:
        missing = [p for p in paths if p not in self.info]
        if missing:
            self.prepare(missing, PreprocessConfig(input_size=(64, 64)))
        return {p: self.info[p] for p in paths}

    def image(self, path: Path, cfg: PreprocessConfig, scale: float = 1.0) -> np.ndarray:
        key = self._key(cfg, scale)
        try:
            return self._images[key][path]
        except KeyError:
            self.prepare([path], cfg, scale)
            return self._images[key][path]
