"""The other frames of a multi-frame DICOM film, decoded one at a time when the reader asks for them.

`load_film` decodes frame 0 only (the one screened). `FrameSource(film)` gives frame `i` as float32
modality values, processed exactly like frame 0 (palette, colour to grey, Rescale / Modality LUT).
Each request reads only that frame from the file where pydicom can (`pydicom.pixels.pixel_array`
with a path and an index); a deflated or preamble-less data set is read again within the memory
budget and the one frame decoded from it. A small cache keeps the most recent frames, bounded in
bytes to a quarter of the film's budget, so scrolling back and forth and cine stay smooth without
ever holding every frame.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..errors import FilmLoadError
from ..film import Film
from .budget import DEFAULT_MAX_BYTES

log = logging.getLogger(__name__)


class FrameSource:
    """Frames of `film` (a DICOM film with `frame_count` > 1), decoded on demand."""

    def __init__(self, film: Film, *, max_bytes: int = DEFAULT_MAX_BYTES):
        if not film.is_dicom or film.header is None:
            raise FilmLoadError(f"{film.path}: only DICOM films have frames.")
        self.path: Path = film.path
        self.count = max(1, int(film.frame_count))
        self._header = film.header
        self._max_bytes = max_bytes
        self._cache_bytes = max(film.pixels.nbytes, max_bytes // 4)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict({0: film.pixels})
        self.warnings: list[str] = []

    def __len__(self) -> int:
        return self.count

    def cached(self) -> list[int]:
        return list(self._cache)

    def frame(self, index: int) -> np.ndarray:
        """Frame `index` (0-based) as float32 modality values. Raises FilmLoadError (and IndexError)."""
        if not 0 <= index < self.count:
            raise IndexError(f"frame {index + 1} of {self.count}")
        hit = self._cache.get(index)
        if hit is not None:
            self._cache.move_to_end(index)
            return hit
        pixels = self._decode(index)
        self._cache[index] = pixels
        while sum(a.nbytes for a in self._cache.values()) > self._cache_bytes and len(self._cache) > 1:
            self._cache.popitem(last=False)
        return pixels

    def _decode(self, index: int) -> np.ndarray:
        from pydicom.pixels import apply_color_lut, pixel_array

        from .common import colour_to_grey
        from .dicom import _colour_bits, _modality_values

        ds = self._header
        name = self.path.name
        try:
            try:
                raw = pixel_array(str(self.path), index=index)  # reads this frame's bytes only
            except (ValueError, TypeError, AttributeError, NotImplementedError, KeyError):
                raw = self._decode_from_dataset(index)  # deflated or preamble-less: read within the budget
        except FilmLoadError:
            raise
        except MemoryError as e:
            raise FilmLoadError(f"{self.path}: not enough memory to decode frame {index + 1}.") from e
        except Exception as e:  # each decoder plugin raises its own kind
            raise FilmLoadError(f"{self.path}: frame {index + 1} of {self.count} could not be decoded "
                                f"({type(e).__name__}: {' '.join(str(e).split())[:200]}).") from e
        photometric = str(ds.get("PhotometricInterpretation", "") or "").upper()
        if photometric == "PALETTE COLOR" and raw.ndim == 2:
            raw = apply_color_lut(raw, ds)
        warnings: list[str] = []
        if raw.ndim == 2:
            out = _modality_values(raw, ds, name, warnings)
        elif raw.ndim == 3:
            out = colour_to_grey(raw, float((1 << _colour_bits(ds, raw)) - 1), name, warnings)
        else:
            raise FilmLoadError(f"{self.path}: frame {index + 1} has an unexpected shape {raw.shape}.")
        for w in warnings:
            if w not in self.warnings:
                self.warnings.append(w)
        return np.ascontiguousarray(out, dtype=np.float32)

    def _decode_from_dataset(self, index: int) -> np.ndarray:
        from pydicom.pixels import get_decoder

        from .dicom import _read_dataset, _transfer_syntax

        ds = _read_dataset(self.path, force=True, max_bytes=self._max_bytes)
        decoder = get_decoder(_transfer_syntax(ds, self.path))
        arr, _meta = decoder.as_array(ds, index=index)
        return arr
