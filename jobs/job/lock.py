"""One run at a time per OUTPUT: two runs would delete each other's temp files and race on markers.

A local OUTPUT is locked with ``flock`` on ``OUTPUT/_lock``: the kernel drops it when the process
dies, so a killed run never leaves OUTPUT locked. An object store has no such lock: there ``_lock``
holds the owner and a heartbeat the run refreshes every ``HEARTBEAT`` seconds; a lock whose heartbeat
is older than ``STALE`` seconds belongs to a dead run and is taken over. Two runs starting within the
same moment on an object store are told apart by reading the lock back after writing it.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
import uuid
from abc import ABC, abstractmethod
from typing import Any

import orjson
import pyarrow.fs as pafs

HEARTBEAT = 30.0
STALE = 300.0


def read_json(fs: pafs.FileSystem, path: str) -> Any:
    """A small JSON file (a marker, a lock), or None when it is missing or half written."""
    try:
        with fs.open_input_stream(path) as f:
            return orjson.loads(f.read())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None
    except OSError as exc:  # S3 raises a generic OSError for a missing key on some versions
        if "NoSuchKey" in str(exc) or "not found" in str(exc).lower():
            return None
        raise


class LockedError(OSError):
    """Another run is writing OUTPUT."""


def _owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                      time.gmtime())}


def _refusal(uri: str, owner: dict[str, Any], how: str) -> LockedError:
    return LockedError(f"output {uri} is in use by another tokcount run (pid {owner.get('pid')} on "
                       f"{owner.get('host')} since {owner.get('since')}); {how}")


class OutputLock(ABC):
    @staticmethod
    def acquire(fs: pafs.FileSystem, path: str, uri: str) -> OutputLock:
        if isinstance(fs, pafs.LocalFileSystem):
            return _FileLock(path, uri)
        return _ObjectLock(fs, path, uri)

    @abstractmethod
    def release(self) -> None: ...


class _FileLock(OutputLock):
    def __init__(self, path: str, uri: str):
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 4096)
            os.close(self.fd)
            raise _refusal(uri, orjson.loads(holder) if holder else {}, "wait for it to finish") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, orjson.dumps(_owner()), 0)

    def release(self) -> None:
        os.ftruncate(self.fd, 0)
        os.close(self.fd)  # closing the descriptor drops the flock


class _ObjectLock(OutputLock):
    def __init__(self, fs: pafs.FileSystem, path: str, uri: str):
        self.fs, self.path, self.token = fs, path, uuid.uuid4().hex
        held = self._read()
        if held and time.time() - held.get("heartbeat", 0) < STALE:
            raise _refusal(uri, held, f"wait for it to finish (a lock not refreshed for {STALE:.0f} s is "
                                      f"taken over)")
        self.owner = {**_owner(), "token": self.token}
        self._write()
        time.sleep(1.0)  # a run that wrote at the same moment: the last writer wins, the other sees it
        held = self._read()
        if not held or held.get("token") != self.token:
            raise _refusal(uri, held or {}, "wait for it to finish")
        self.stop = threading.Event()
        self.beat = threading.Thread(target=self._heartbeat, name="tokcount-lock", daemon=True)
        self.beat.start()

    def _read(self) -> dict[str, Any] | None:
        return read_json(self.fs, self.path)

    def _write(self) -> None:
        with self.fs.open_output_stream(self.path, compression=None) as f:
            f.write(orjson.dumps({**self.owner, "heartbeat": time.time()}))

    def _heartbeat(self) -> None:
        while not self.stop.wait(HEARTBEAT):
            self._write()

    def release(self) -> None:
        self.stop.set()
        self.beat.join()
        held = self._read()
        if held and held.get("token") == self.token:
            self.fs.delete_file(self.path)
