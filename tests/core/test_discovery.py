"""Finding films in files and folders: recursion order, hidden and non-image files, content sniffing
for extension-less files, DICOMDIR expansion."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from osteo_desktop.core.discovery import dicomdir_files, find_films, is_probably_film


@pytest.fixture
def tree(tmp_path, helpers) -> Path:
    root = tmp_path / "films"
    (root / "b_sub" / "deeper").mkdir(parents=True)
    (root / ".hidden_dir").mkdir()
    img = np.zeros((40, 40), np.uint8)
    helpers.make_dicom(root / "a.dcm", helpers.ramp())
    Image.fromarray(img).save(root / "c.png")
    Image.fromarray(img).save(root / "b_sub" / "x.jpg")
    Image.fromarray(img).save(root / "b_sub" / "deeper" / "y.TIFF", format="TIFF")
    helpers.make_dicom(root / "IM0001", helpers.ramp())  # no extension, DICM preamble
    helpers.make_dicom(root / "1.2.840.113619.2.55.3", helpers.ramp())  # UID name: ".3" is no extension
    helpers.make_dicom(root / "RAW0001", helpers.ramp(), preamble=False)  # bare data set
    Image.fromarray(img).save(root / "SCAN", format="PNG")  # no extension, PNG magic
    helpers.make_dicom(root / ".hidden.dcm", helpers.ramp())
    helpers.make_dicom(root / ".hidden_dir" / "z.dcm", helpers.ramp())
    for name in ("notes.txt", "meta.json", "labels.csv", "report.pdf", "README.md", "README"):
        (root / name).write_text("not an image\n")
    return root


def _rel(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_folder_recursion_sorted_and_filtered(tree):
    found = find_films([tree])
    assert _rel(found, tree) == [
        "1.2.840.113619.2.55.3",
        "IM0001",
        "RAW0001",
        "SCAN",
        "a.dcm",
        "b_sub/deeper/y.TIFF",
        "b_sub/x.jpg",
        "c.png",
    ]
    assert find_films([tree]) == found  # deterministic


def test_files_kept_as_given_in_order_without_duplicates(tree):
    given = [tree / "c.png", tree / "notes.txt", tree / "a.dcm", tree / "c.png", tree / "missing.dcm"]
    assert find_films(given) == [tree / "c.png", tree / "notes.txt", tree / "a.dcm", tree / "missing.dcm"]


def test_file_and_folder_overlap_deduplicated(tree):
    found = find_films([tree / "a.dcm", tree])
    assert found[0] == tree / "a.dcm" and found.count(tree / "a.dcm") == 1
    assert len(found) == 8


@pytest.mark.parametrize(
    "name, expected",
    [
        ("a.dcm", True), ("c.png", True), ("IM0001", True), ("RAW0001", True), ("SCAN", True),
        ("1.2.840.113619.2.55.3", True), ("b_sub/x.jpg", True), ("notes.txt", False), ("README", False),
        ("report.pdf", False), (".hidden.dcm", False), ("b_sub", False), ("nothing-here", False),
    ],
)
def test_is_probably_film(tree, name, expected):
    assert is_probably_film(tree / name) is expected


def _dicomdir_tests(helpers) -> Path:
    return helpers.testdata("DICOMDIR").parent


def test_dicomdir_folder_lists_referenced_images(helpers):
    folder = _dicomdir_tests(helpers)
    ds = pydicom.dcmread(folder / "DICOMDIR")
    expected = [
        folder.joinpath(*r.ReferencedFileID)
        for r in ds.DirectoryRecordSequence
        if r.DirectoryRecordType == "IMAGE"
    ]
    found = find_films([folder])
    assert found == expected and len(found) == 31
    assert all(p.is_file() and p.name.upper() != "DICOMDIR" for p in found)
    assert find_films([folder / "DICOMDIR"]) == expected  # a DICOMDIR given explicitly


def test_dicomdir_case_insensitive_copy(helpers, tmp_path):
    """CD images list upper-case IDs; a copy on a case-sensitive disk may be lower case."""
    src = _dicomdir_tests(helpers) / "TINY_ALPHA"
    dst = tmp_path / "cd"
    shutil.copytree(src, dst)
    (dst / "PT000000").rename(dst / "pt000000")
    files = dicomdir_files(dst / "DICOMDIR")
    assert files and all(p.is_file() for p in files)
    assert all(p.relative_to(dst).parts[0] == "pt000000" for p in files)
    assert find_films([dst]) == files


def test_broken_dicomdir_falls_back_to_walking(tmp_path, helpers):
    root = tmp_path / "disc"
    root.mkdir()
    (root / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    helpers.make_dicom(root / "IM1", helpers.ramp())
    assert find_films([root]) == [root / "IM1"]
