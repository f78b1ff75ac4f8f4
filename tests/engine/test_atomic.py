import pytest

from osteo_desktop.core.atomic import atomic_write_bytes, atomic_write_text


def test_writes_replace_and_leave_no_temporary_files(tmp_path):
    p = atomic_write_text(tmp_path / "sub" / "a.txt", "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    assert [x.name for x in p.parent.iterdir()] == ["a.txt"]


def test_no_overwrite_mode_keeps_the_existing_file(tmp_path):
    p = atomic_write_bytes(tmp_path / "r.pdf", b"first", overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write_bytes(p, b"second", overwrite=False)
    assert p.read_bytes() == b"first"
    assert [x.name for x in tmp_path.iterdir()] == ["r.pdf"]


def test_a_file_in_place_of_the_folder_is_not_mistaken_for_an_existing_target(tmp_path):
    (tmp_path / "not_a_folder").write_text("x")
    with pytest.raises(NotADirectoryError):
        atomic_write_bytes(tmp_path / "not_a_folder" / "r.pdf", b"data", overwrite=False)
