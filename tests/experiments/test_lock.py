"""One writer per output folder: the lock, its stale detection, and the clean-up of temporaries."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from deepinv_jitter.cli import main
from deepinv_jitter.experiments.lock import (
    LOCK_NAME,
    LockedError,
    OutputLock,
    remove_stale_temporaries,
)


def _lock_file(folder, pid, host=None):
    folder.mkdir(parents=True, exist_ok=True)
    info = {
        "pid": pid,
        "host": host or socket.gethostname(),
        "started": time.time(),
        "command": "deepinv-jitter compare --task seismic",
    }
    (folder / LOCK_NAME).write_text(json.dumps(info))


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, live_pid):
    _lock_file(tmp_path, live_pid)
    with pytest.raises(LockedError, match=f"process {live_pid} on"):
        OutputLock(tmp_path, "second").acquire()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == live_pid


def test_the_lock_is_held_for_the_block_and_removed_after(tmp_path):
    with OutputLock(tmp_path, "first"):
        assert (tmp_path / LOCK_NAME).is_file()
        with pytest.raises(LockedError, match="first"):
            OutputLock(tmp_path, "second").acquire()
    assert not (tmp_path / LOCK_NAME).exists()
    with OutputLock(tmp_path, "third"):  # free again
        pass


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    _lock_file(tmp_path, _dead_pid())
    said = []
    with OutputLock(tmp_path, "me", log=said.append):
        info = json.loads((tmp_path / LOCK_NAME).read_text())
        assert info["pid"] == os.getpid()
    assert any("stale lock" in line for line in said)


def test_a_lock_of_another_host_is_kept(tmp_path):
    _lock_file(tmp_path, 1, host="elsewhere.example")
    with pytest.raises(LockedError, match="elsewhere.example.*delete"):
        OutputLock(tmp_path).acquire()


def test_folders_above_and_below_count(tmp_path, live_pid):
    _lock_file(tmp_path / "study", live_pid)
    with pytest.raises(LockedError, match="study"):
        OutputLock(tmp_path / "study" / "seed0" / "mse").acquire()
    with pytest.raises(LockedError):
        OutputLock(tmp_path).acquire()
    with OutputLock(tmp_path / "other"):  # a sibling is free
        pass


def test_stale_temporaries_are_removed_on_start(tmp_path, live_pid):
    dead = _dead_pid()
    (tmp_path / "mse").mkdir()
    old = tmp_path / "mse" / f".checkpoint_last.pt.{dead}.tmp"
    mine = tmp_path / "mse" / f".checkpoint_last.pt.{live_pid}.tmp"
    old.write_bytes(b"x")
    mine.write_bytes(b"x")
    assert remove_stale_temporaries(tmp_path) == [old]
    assert not old.exists() and mine.exists()
    old.write_bytes(b"x")
    with OutputLock(tmp_path):
        assert not old.exists()


def test_the_cli_refuses_a_held_folder_with_one_line_and_exit_2(
    tmp_path, live_pid, capsys
):
    out = tmp_path / "cmp"
    _lock_file(out, live_pid)
    argv = ["compare", "--task", "seismic", "--preset", "smoke", "--out", str(out)]
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"process {live_pid}" in err
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written
    train = ["train", "--task", "seismic", "--mode", "mse", "--out", str(out / "mse")]
    assert main(train + ["--preset", "smoke", "--quiet"]) == 2
    assert "being written" in capsys.readouterr().err


def test_two_processes_on_one_folder_one_is_refused(tmp_path):
    # the case: two commands writing one --out at once; the second stops before any work
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from deepinv_jitter.experiments.lock import OutputLock\n"
            "with OutputLock(sys.argv[1], 'deepinv-jitter train (first)'):\n"
            "    print('held', flush=True); time.sleep(60)\n",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "deepinv_jitter",
                "train",
                "--task",
                "seismic",
                "--preset",
                "smoke",
                "--mode",
                "mse",
                "--out",
                str(out),
                "--quiet",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2, second.stderr
    assert f"being written by process {holder.pid}" in second.stderr
    assert "(first)" in second.stderr and len(second.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == [
        LOCK_NAME
    ]  # the second wrote nothing


def test_under_torchrun_rank_zero_holds_the_lock_for_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with OutputLock(tmp_path, "rank 0"):
        monkeypatch.setenv("RANK", "1")  # the other process of the same command
        with OutputLock(tmp_path, "rank 1"):
            assert json.loads((tmp_path / LOCK_NAME).read_text())["command"] == "rank 0"
        assert (tmp_path / LOCK_NAME).exists()  # rank 1 leaving does not free it
