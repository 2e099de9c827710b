r"""One writer per output folder: an advisory lock file, and the clean-up of stale temporary files.

A command that writes into a folder (``train``, ``evaluate``, ``compare``, ``sweep``,
``generalization``, ``report``) holds :class:`OutputLock` on it: the file ``.deepinv-jitter.lock``,
created atomically (``O_CREAT | O_EXCL``) with the owner's process id, host name, start time and
command. A second writer finds it and stops with one line naming the holder. A lock whose owner
is a process of this host that no longer runs (killed, crashed) is stale: it is taken over with a
message. A lock of another host cannot be checked from here; it is reported, and the message says
how to remove it by hand. A folder is also refused while a folder above it (which writes into its
sub-folders) or below it is held.

On taking a lock, the temporary files that writers of this package leave when they are killed
mid-write (``.<name>.<pid>.tmp``) are removed when their process is gone.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

__all__ = ["LOCK_NAME", "OutputLock", "LockedError", "remove_stale_temporaries"]

#: File name of the lock inside a locked folder.
LOCK_NAME = ".deepinv-jitter.lock"


class LockedError(RuntimeError):
    r"""The output folder is being written by another process."""


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def _read(path: Path) -> dict | None:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _stale(info: dict | None, path: Path) -> bool:
    """Whether a lock file is left by a process of this host that no longer runs."""
    if info is None:
        # unreadable (being written this instant, or truncated by a crash): stale when old
        try:
            return time.time() - path.stat().st_mtime > 10
        except OSError:
            return True
    host, pid = info.get("host"), info.get("pid")
    return host == socket.gethostname() and isinstance(pid, int) and not _alive(pid)


def _describe(info: dict | None, path: Path) -> str:
    if info is None:
        return f"an unreadable lock file {path}"
    started = info.get("started")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    )
    return (
        f"process {info.get('pid')} on {info.get('host')} (started {when}: "
        f"{info.get('command', '?')})"
    )


def remove_stale_temporaries(folder: str | Path, depth: int = 3) -> list[Path]:
    r"""Remove the temporary files ``.<name>.<pid>.tmp`` under ``folder`` whose process is gone.

    :param str folder: the folder.
    :param int depth: how many levels of sub-folders to search.
    :return: the files removed.
    """
    folder = Path(folder)
    removed = []
    patterns = ["." + "*.tmp"] + [
        "/".join(["*"] * k) + "/.*.tmp" for k in range(1, depth + 1)
    ]
    for pattern in patterns:
        for tmp in folder.glob(pattern):
            parts = tmp.name.rsplit(".", 2)  # ".name", "<pid>", "tmp"
            if len(parts) != 3 or not parts[1].isdigit():
                continue
            if not _alive(int(parts[1])):
                try:
                    tmp.unlink()
                    removed.append(tmp)
                except OSError:
                    pass
    return removed


class OutputLock:
    r"""Advisory lock on an output folder, held for the life of a ``with`` block.

    :param str folder: the folder (created if missing).
    :param str command: what the holder runs, for the message a second writer sees.
    :param Callable log: where the take-over of a stale lock is reported (default: stderr).
    :raises LockedError: (on entering) the folder, a folder above it or one below it is held by a
        running process (or by another host), naming the holder.
    :raises ValueError: the folder cannot be created or written.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with OutputLock(folder, "demo"):
    ...     try:
    ...         OutputLock(folder, "second").acquire()
    ...     except LockedError as e:
    ...         print("refused")
    refused
    """

    def __init__(self, folder: str | Path, command: str = "", log=None):
        self.folder = Path(folder)
        self.command = command or " ".join(sys.argv)
        self.log = log or (lambda text: print(text, file=sys.stderr))
        self.path = self.folder / LOCK_NAME
        self._held = False

    def _holders(self) -> list[tuple[Path, dict | None]]:
        """Live locks on this folder, on a folder above it, and below it (3 levels)."""
        found = []
        candidates = [p / LOCK_NAME for p in [self.folder, *self.folder.parents]]
        candidates += list(self.folder.glob(f"*/{LOCK_NAME}"))
        candidates += list(self.folder.glob(f"*/*/{LOCK_NAME}"))
        candidates += list(self.folder.glob(f"*/*/*/{LOCK_NAME}"))
        for path in candidates:
            if not path.is_file():
                continue
            info = _read(path)
            if _stale(info, path):
                self.log(
                    f"removing a stale lock: {_describe(info, path)} is gone ({path})"
                )
                path.unlink(missing_ok=True)
                continue
            found.append((path, info))
        return found

    def acquire(self) -> OutputLock:
        r"""Take the lock (see the class). Under ``torchrun`` the processes of one command share
        it: rank 0 takes it, the other ranks do not take one of their own.

        :return: ``self``.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(
                f"cannot create the output folder {str(self.folder)!r}: {e.strerror}"
            ) from None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and int(
            os.environ.get("RANK", "0")
        ):
            return self  # one command under torchrun: rank 0 holds the lock for all
        self.folder = self.folder.resolve()
        self.path = self.folder / LOCK_NAME
        holders = self._holders()
        if holders:
            path, info = holders[0]
            where = "this folder" if path.parent == self.folder else str(path.parent)
            raise LockedError(
                f"{str(self.folder)!r} is being written by {_describe(info, path)} "
                f"(lock on {where}); wait for it to finish, use another --out, or delete "
                f"{path} if that process is gone"
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.time(),
            "command": self.command,
        }
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:  # another writer won the race
            raise LockedError(
                f"{str(self.folder)!r} is being written by "
                f"{_describe(_read(self.path), self.path)}"
            ) from None
        except OSError as e:
            raise ValueError(
                f"cannot write into the output folder {str(self.folder)!r}: {e.strerror}"
            ) from None
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(info))
        self._held = True
        remove_stale_temporaries(self.folder)
        return self

    def release(self) -> None:
        r"""Remove the lock file, if this object holds it."""
        if self._held:
            info = _read(self.path)
            if info is not None and info.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self._held = False

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
