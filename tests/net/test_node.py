"""The storage node and the client without a PACS: who may connect, where it listens, what errors say,
and that a node killed in the middle of a transfer loses nothing."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from osteo_desktop.core.errors import AssociationRefusedError, PacsError, PacsTimeoutError, PacsUnreachableError
from osteo_desktop.core.net import NetworkSettings, PacsClient, RemoteNode, StorageNode, dicom_date_range
from osteo_desktop.core.net.address import AddressError
from osteo_desktop.core.store import LocalStore, content_digest
from tests.dicom_factory import film_bytes, make_film

from .conftest import free_port, run_pacs


@pytest.fixture
def store(tmp_path):
    s = LocalStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def node(store):
    n = StorageNode(store, aet="NODE", port=0, allowed_aets=["SENDER"])
    n.start()
    yield n
    n.stop()


def client(node: StorageNode, calling: str = "SENDER", called: str = "NODE", timeout: float = 10) -> PacsClient:
    host, port = node.address
    return PacsClient(RemoteNode(called, host, port), our_aet=calling, timeout=timeout)


def outward_address() -> str | None:
    """This machine's address on its default route, if it has one (UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


def test_node_listens_on_loopback_only_by_default(node):
    host, port = node.address
    assert host == "127.0.0.1"
    ip = outward_address()
    if ip is not None:  # from this machine's other address, nothing answers on that port
        with pytest.raises(OSError):
            socket.create_connection((ip, port), timeout=2).close()
    from osteo_desktop.cli.node import build_parser

    assert build_parser().parse_args(["--allow", "X"]).bind == "127.0.0.1"


def test_allowed_caller_stores_and_echoes(node, store):
    c = client(node)
    assert c.echo() > 0
    films = [make_film(seed=i) for i in range(3)]
    result = c.send(films)
    assert result.failed == [] and sorted(result.sent) == sorted(f.SOPInstanceUID for f in films)
    assert store.count() == 3 and node.received == 3
    for f in films:
        row = store.instance(f.SOPInstanceUID)
        assert row.source == "SENDER" and content_digest(row.path.read_bytes()) == content_digest(film_bytes(f))


def test_unknown_calling_ae_is_refused_by_default(node, store):
    with pytest.raises(AssociationRefusedError, match="Calling AE title not recognised") as e:
        client(node, calling="INTRUDER").send([make_film()])
    assert "INTRUDER" in str(e.value)
    assert store.count() == 0 and node.refused == 1


def test_an_association_for_another_ae_title_is_refused(node):
    with pytest.raises(AssociationRefusedError, match="Called AE title not recognised"):
        client(node, called="SOMEBODY").echo()


def test_accept_any_opens_the_node(store):
    with StorageNode(store, aet="NODE", port=0, accept_any=True) as n:
        assert client(n, calling="ANYONE").send([make_film()]).failed == []
    assert store.count() == 1


def test_a_node_must_be_told_who_may_send(store, capsys, tmp_path):
    with pytest.raises(PacsError, match="--allow"):
        StorageNode(store, aet="NODE", port=0)
    from osteo_desktop.cli.node import main

    assert main(["--store", str(tmp_path / "s"), "--port", str(free_port())]) == 2
    assert "--allow" in capsys.readouterr().err


def test_duplicates_and_conflicts_over_the_network(node, store):
    c = client(node)
    ds = make_film()
    assert c.send([ds]).failed == []
    assert c.send([ds]).failed == []  # the same again: acknowledged, nothing new
    assert store.count() == 1 and node.duplicates == 1
    ds.PatientName = "Other^Name"
    assert c.send([ds]).failed == []
    assert store.count() == 2 and len(store.conflicts()) == 1


def test_a_store_that_cannot_record_answers_a_failure_not_success(node, store, monkeypatch):
    from osteo_desktop.core.errors import StoreLockedError

    def locked(*a, **k):
        raise StoreLockedError("index.sqlite: locked")

    monkeypatch.setattr(store, "add_received", locked)
    result = client(node).send([make_film()])
    assert result.sent == [] and len(result.failed) == 1 and "out of resources" in result.failed[0][1]


def test_client_errors_say_what_to_check():
    port = free_port()  # nothing listens there
    with pytest.raises(PacsUnreachableError, match=f"connection refused: nothing listens on 127.0.0.1 port {port}"):
        PacsClient(RemoteNode("PACS", "127.0.0.1", port), timeout=2).echo()

    # a server that accepts the connection and then says nothing
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        with pytest.raises(PacsTimeoutError, match="did not answer"):
            PacsClient(RemoteNode("PACS", "127.0.0.1", silent.getsockname()[1]), timeout=1).echo()
    finally:
        silent.close()


def test_remote_node_addresses():
    r = RemoteNode.parse("ORTHANC@127.0.0.1:4242")
    assert (r.aet, r.host, r.port, str(r)) == ("ORTHANC", "127.0.0.1", 4242, "ORTHANC@127.0.0.1:4242")
    assert RemoteNode.parse(" PACS@[::1]:104 ") == RemoteNode("PACS", "::1", 104)
    assert str(RemoteNode.parse("PACS@[::1]:104")) == "PACS@[::1]:104"
    for bad in ("ORTHANC", "@host:1", "A@host", "A@host:0", "A@host:70000", "WAY_TOO_LONG_AE_TITLE@h:1", "A\\B@h:1"):
        with pytest.raises(AddressError):
            RemoteNode.parse(bad)


def test_date_ranges():
    assert dicom_date_range("") == ""
    assert dicom_date_range("20240131") == "20240131"
    assert dicom_date_range("20240101-20241231") == "20240101-20241231"
    assert dicom_date_range("2024-01-01..2024-12-31") == "20240101-20241231"
    assert dicom_date_range("20240101-") == "20240101-"
    assert dicom_date_range("-20241231") == "-20241231"
    for bad in ("2024", "20241301", "20241231-20240101", "yesterday"):
        with pytest.raises(PacsError):
            dicom_date_range(bad)


def test_settings_round_trip_and_bad_files(tmp_path):
    from osteo_desktop.core.errors import OsteoError

    s = NetworkSettings(pacs="PACS@10.0.0.5:104", our_aet="ME", timeout_s=12, node_port=11113, retrieve="move")
    path = s.save(tmp_path / "n.json")
    assert NetworkSettings.load(path) == s
    assert NetworkSettings.load(tmp_path / "absent.json") == NetworkSettings()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(OsteoError, match="bad.json"):
        NetworkSettings.load(tmp_path / "bad.json")
    with pytest.raises(PacsError):
        NetworkSettings(pacs="nonsense").save(tmp_path / "x.json")


def test_osteo_pacs_without_a_pacs_is_a_usage_error_and_save_remembers_one(capsys):
    code, out, err = run_pacs(capsys, "echo")
    assert code == 2 and "--pacs" in err
    port = free_port()
    code, out, err = run_pacs(capsys, "echo", "--pacs", f"X@127.0.0.1:{port}", "--aet", "ME", "--timeout", "2", "--save")
    assert code == 1 and "connection refused" in err
    assert NetworkSettings.load().pacs == f"X@127.0.0.1:{port}" and NetworkSettings.load().our_aet == "ME"
    code, out, err = run_pacs(capsys, "echo")  # now the saved PACS is used
    assert code == 1 and f"X@127.0.0.1:{port}" in err


# -- a node killed in the middle of a transfer ---------------------------------------------------


def test_a_node_killed_during_a_transfer_loses_nothing(node_factory, tmp_path):
    """SIGKILL osteo-node while films stream in, restart it: store and index agree, every acknowledged
    film is there intact, and resending the whole batch completes it without doubles or conflicts."""
    from pynetdicom import AE

    store_dir = tmp_path / "store"
    port = free_port()
    films = [make_film(seed=i, rows=256, cols=256, patient_id="P-KILL", instance_number=i + 1) for i in range(150)]
    acked: list[str] = []
    node = node_factory(port, "--aet", "NODE", "--allow", "SENDER", "--store", str(store_dir)).start()

    def send_all():
        ae = AE("SENDER")
        ae.add_requested_context(films[0].SOPClassUID, films[0].file_meta.TransferSyntaxUID)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
        assoc = ae.associate("127.0.0.1", port, ae_title="NODE")
        assert assoc.is_established
        for ds in films:
            status = assoc.send_c_store(ds)
            if not status or getattr(status, "Status", None) != 0x0000:
                break
            acked.append(ds.SOPInstanceUID)
        if assoc.is_established:
            assoc.release()

    sender = threading.Thread(target=send_all)
    sender.start()
    end = time.monotonic() + 60
    while len(acked) < 10 and time.monotonic() < end and sender.is_alive():
        time.sleep(0.005)
    node.kill()
    sender.join(30)
    assert 10 <= len(acked) < len(films), "the kill must land in the middle of the transfer"

    restarted = node_factory(port, "--aet", "NODE", "--allow", "SENDER", "--store", str(store_dir)).start()
    restarted.stop()
    with LocalStore(store_dir) as s:
        assert s.check() == ([], [])  # every file indexed, every row has its file
        assert not list(store_dir.rglob("*.tmp")) or all(
            time.time() - p.stat().st_mtime < 3600 for p in store_dir.rglob("*.tmp"))
        by_uid = {f.SOPInstanceUID: f for f in films}
        for uid in acked:  # everything acknowledged is there, intact
            row = s.instance(uid)
            assert row is not None, f"acknowledged film {uid} lost"
            assert content_digest(row.path.read_bytes()) == content_digest(film_bytes(by_uid[uid]))
        before = s.count()
        assert before >= len(acked)

    again = node_factory(port, "--aet", "NODE", "--allow", "SENDER", "--store", str(store_dir)).start()
    result = PacsClient(RemoteNode("NODE", "127.0.0.1", port), our_aet="SENDER", timeout=30).send(films)
    assert result.failed == [] and len(result.sent) == len(films)
    again.stop()
    with LocalStore(store_dir) as s:
        assert s.count() == len(films) and s.conflicts() == [] and s.check() == ([], [])
        assert {r.sop_uid for r in s.instances()} == set(by_uid)


def test_osteo_node_check_reports_and_repairs(tmp_path, capsys):
    from osteo_desktop.cli.node import main

    with LocalStore(tmp_path / "s") as s:
        r = s.add_bytes(film_bytes(make_film()))
    assert main(["--check", "--store", str(tmp_path / "s")]) == 0
    assert "index and files agree" in capsys.readouterr().out
    r.path.unlink()
    assert main(["--check", "--store", str(tmp_path / "s")]) == 1
    assert "1 dropped" in capsys.readouterr().out
    assert main(["--check", "--store", str(tmp_path / "s")]) == 0
