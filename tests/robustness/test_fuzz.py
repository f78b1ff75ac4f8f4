"""Seeded fuzzing: a few hundred mutated films through the loader, the display pipeline, the picture
check and `osteo-screen` itself. Every film must end as a film or as a one-line FilmLoadError (never
another exception, never the loader's last-resort "unexpected" path), and every film of a batch
must get its row. (`bench/hostile_input.py --fuzz 1000` runs the same with the shipped model.)
"""

from __future__ import annotations

import faulthandler
import json
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from osteo_desktop.core.display import render
from osteo_desktop.core.errors import FilmLoadError
from osteo_desktop.core.loading import load_film
from osteo_desktop.core.picture_check import picture_problem

from .hostile import make_seeds, mutants

N_LOADER = 400
N_CLI = 80
HANG_GUARD_S = 600  # a hang dumps every thread's stack and ends the run instead of blocking CI


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[Path]:
    return make_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.fixture
def hang_guard():
    faulthandler.dump_traceback_later(HANG_GUARD_S, exit=True, file=sys.__stderr__)
    yield
    faulthandler.cancel_dump_traceback_later()


def test_seeds_cover_every_decode_path(seeds):
    kinds = {p.suffix for p in seeds}
    assert {".dcm", ".png", ".jpg", ".tif"} <= kinds and len(seeds) >= 25
    loaded = 0
    for p in seeds:
        try:
            load_film(p)
            loaded += 1
        except FilmLoadError:
            pass
    assert loaded >= 25  # the seeds themselves are (mostly) good films


def test_mutated_films_fail_cleanly(seeds, tmp_path, caplog, hang_guard):
    caplog.set_level(logging.WARNING, logger="osteo_desktop")
    outcomes = {"film": 0, "refused": 0, "not screenable": 0}
    surprises: list[str] = []
    for m in mutants(seeds, tmp_path / "m", N_LOADER, seed=12):
        before = len(caplog.records)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                film = load_film(m.path)
                picture = render(film)
                problem = picture_problem(film, picture)
        except FilmLoadError as e:
            outcomes["refused"] += 1
            msg = str(e)
            if not msg.startswith(str(m.path)) or "\n" in msg:
                surprises.append(f"{m.path.name} {m.mutators}: message not one line naming the file: {msg[:120]!r}")
        except Exception as e:  # this is what the test is looking for
            surprises.append(f"{m.path.name} {m.mutators}: {type(e).__name__}: {e}")
            continue
        else:
            if picture.dtype != np.float32 or picture.ndim != 2 or not np.isfinite(picture).all() \
                    or picture.min() < 0 or picture.max() > 1:
                surprises.append(f"{m.path.name} {m.mutators}: rendered picture out of range")
            outcomes["not screenable" if problem else "film"] += 1
        for r in caplog.records[before:]:
            if "unexpected" in r.getMessage():
                surprises.append(f"{m.path.name} {m.mutators}: loader's last resort used: {r.getMessage()}")
    assert not surprises, "\n".join(surprises[:20])
    assert sum(outcomes.values()) == N_LOADER
    # the mutations must exercise both outcomes, or the test proves little
    assert outcomes["film"] > N_LOADER // 10 and outcomes["refused"] > N_LOADER // 10, outcomes


@pytest.mark.slow
def test_a_mutated_batch_gives_every_film_a_row(seeds, tmp_path, tiny_bundle, capsys, hang_guard):
    from osteo_desktop.cli.screen import main

    folder = tmp_path / "batch"
    films = [m.path for m in mutants(seeds, folder, N_CLI, seed=2024)]
    rc = main([str(folder), "--json", "--bundle", str(tiny_bundle.path), "--device", "cpu", "--no-gradcam", "-q"])
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert rc in (0, 1)
    assert "Traceback" not in err and "internal error" not in err and "unexpected error" not in err, err[-2000:]
    assert sorted(Path(r["file"]).name for r in rows) == sorted(p.name for p in films)
    assert {r["status"] for r in rows} <= {"ok", "error", "not_screened"}
    assert all(r["error"] for r in rows if r["status"] == "error")
