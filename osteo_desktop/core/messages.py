"""Messages between this program's own processes (the viewer, the screening engine, the film reader)
over a `multiprocessing` connection: pickle protocol 5, with large buffers (numpy arrays: a film's
pixels, a heatmap) sent out of band as raw frames and, on POSIX, read straight into place (the GIL
released while the kernel copies). Only ever used between processes this program spawned itself."""

from __future__ import annotations

import io
import pickle
import struct
import sys
from typing import Any

_COUNT = struct.Struct("<I")


def send_message(conn: Any, obj: Any) -> None:
    """Send one message: a pickled head, then each large buffer (numpy arrays) as raw bytes."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    sizes = struct.pack(f"<{len(raws)}Q", *(r.nbytes for r in raws))
    conn.send_bytes(_COUNT.pack(len(raws)) + sizes + head)
    for r in raws:
        conn.send_bytes(r)


def recv_message(conn: Any) -> Any:
    """Receive one message sent by `send_message` (raises EOFError when the other end is gone)."""
    first = conn.recv_bytes()
    (n,) = _COUNT.unpack_from(first, 0)
    sizes = struct.unpack_from(f"<{n}Q", first, _COUNT.size)
    head = memoryview(first)[_COUNT.size + 8 * n:]
    buffers = []
    raw = _raw_reader(conn)
    for size in sizes:
        buf = bytearray(size)
        if raw is not None and size:
            _read_frame_into(raw, buf)
        else:
            got = conn.recv_bytes_into(buf) if size else len(conn.recv_bytes())
            if got != size:
                raise EOFError(f"a message buffer arrived with {got} bytes instead of {size}")
        buffers.append(buf)
    return pickle.loads(head, buffers=buffers)


def _raw_reader(conn: Any) -> io.FileIO | None:
    """The connection's file, to read big buffers straight into place (POSIX: a socket pair). The
    pipe's own `recv_bytes_into` reads into a temporary buffer and copies, holding the GIL for tens
    of milliseconds per film: a stall of the GUI thread that receives alongside."""
    if sys.platform == "win32" or not hasattr(conn, "fileno"):
        return None
    try:
        return io.FileIO(conn.fileno(), "rb", closefd=False)
    except (OSError, ValueError):
        return None


def _read_exact(raw: io.FileIO, view: memoryview) -> None:
    got = 0
    while got < len(view):
        n = raw.readinto(view[got:])  # the GIL is released while the kernel copies
        if not n:
            raise EOFError("the other process closed the connection")
        got += n


def _read_frame_into(raw: io.FileIO, buf: bytearray) -> None:
    """One `Connection.send_bytes` frame (a 4-byte big-endian length, or -1 and an 8-byte one) into `buf`."""
    head = bytearray(4)
    _read_exact(raw, memoryview(head))
    (size,) = struct.unpack("!i", head)
    if size == -1:
        head = bytearray(8)
        _read_exact(raw, memoryview(head))
        (size,) = struct.unpack("!Q", head)
    if size != len(buf):
        raise EOFError(f"a message buffer arrived with {size} bytes instead of {len(buf)}")
    _read_exact(raw, memoryview(buf))
