"""Thread and process safety of the kernel's worker pool.

* 8 Python threads calling letterbox / warp_quad concurrently (the GIL is
  released inside the kernel, so they really overlap) give results
  bit-identical to serial calls;
* a call in a child created by os.fork() works (the pool is rebuilt in the
  child); every child runs under a timeout so a deadlock fails instead of hanging.
  forking while *other* threads are inside the kernel must not deadlock the
  child either (the pool's lock is taken around fork by pthread_atfork);
* interpreter exit while daemon threads are inside the kernel must not abort
  (the GIL is retaken outside a destructor, see bindings.cpp).
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import edgevision as ev

from _helpers import assert_bit_identical, random_image

N_THREADS = 8


def _jobs():
    jobs = []
    for i in range(N_THREADS):
        h, w = 200 + 37 * i, 300 + 53 * i
        image = random_image(h, w, 3, seed=i)
        if i % 3 == 1:
            image = image[::-1, ::2]  # strided
        opts = dict(
            dtype=("float32", "float16", "uint8")[i % 3],
            layout=("NCHW", "NHWC")[i % 2],
            interpolation=("bilinear", "nearest")[(i // 2) % 2],
            threads=1 + i % 2,
            swap_rb=bool(i % 2),
        )
        jobs.append((image, (256 + 16 * i, 320), opts))
    return jobs


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).view(np.uint8)).hexdigest()


def test_concurrent_letterbox_matches_serial():
    jobs = _jobs()
    serial = [ev.letterbox(im, size, **opts)[0] for im, size, opts in jobs]
    barrier = threading.Barrier(N_THREADS)

    def work(k):
        im, size, opts = jobs[k]
        barrier.wait(timeout=30)  # start together to maximise overlap
        return [ev.letterbox(im, size, **opts)[0] for _ in range(5)]

    with ThreadPoolExecutor(N_THREADS) as ex:
        results = list(ex.map(work, range(N_THREADS), timeout=120))
    for k, outs in enumerate(results):
        for out in outs:
            assert_bit_identical(out, serial[k], f"thread {k}")


def test_concurrent_mixed_calls_match_serial():
    """letterbox_batch, warp_quad and out= buffers from many threads at once."""
    images = [random_image(120 + 11 * i, 160 + 7 * i, 3, seed=100 + i) for i in range(N_THREADS)]
    quad = [[20, 15], [150, 25], [140, 110], [10, 100]]
    serial_batch = ev.letterbox_batch(images, 192, threads=2)[0]
    serial_warp = [ev.warp_quad(im, quad, (48, 160), threads=2) for im in images]
    barrier = threading.Barrier(N_THREADS)

    def work(k):
        barrier.wait(timeout=30)
        out = np.empty_like(serial_warp[k])
        results = []
        for _ in range(4):
            results.append(ev.letterbox_batch(images, 192, threads=2)[0])
            results.append(ev.warp_quad(images[k], quad, (48, 160), threads=2, out=out).copy())
        return results

    with ThreadPoolExecutor(N_THREADS) as ex:
        results = list(ex.map(work, range(N_THREADS), timeout=120))
    for k, res in enumerate(results):
        for j, r in enumerate(res):
            assert_bit_identical(r, serial_batch if j % 2 == 0 else serial_warp[k], f"thread {k} call {j}")


def _child_checksum(seed: int) -> str:
    image = random_image(480, 640, 3, seed=seed)
    blob, _ = ev.letterbox(image, 320, threads=2)
    warp = ev.warp_quad(image, [[50, 40], [600, 60], [590, 440], [40, 420]], (64, 200), threads=2)
    return _digest(blob) + _digest(warp)


def test_call_after_fork_works():
    # Use the pool in the parent first, so the child inherits a started pool (whose workers it does not have).
    expected = [_child_checksum(s) for s in range(3)]
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        async_result = pool.map_async(_child_checksum, range(3))
        got = async_result.get(timeout=60)  # raises TimeoutError instead of hanging on a deadlock
    assert got == expected


EXIT_WITH_DAEMON_THREADS = """
import threading, time
import numpy as np
import edgevision as ev
image = np.zeros((1080, 1920, 3), np.uint8)
def spin():
    while True:
        ev.letterbox(image, 640, threads=1)
for _ in range(4):
    threading.Thread(target=spin, daemon=True).start()
time.sleep(0.3)
print("exiting")
"""


def test_exit_with_daemon_threads_inside_the_kernel_does_not_abort():
    r = subprocess.run([sys.executable, "-c", EXIT_WITH_DAEMON_THREADS], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "exiting"
    assert r.returncode == 0, r.stderr


FORK_WHILE_BUSY = r"""
import os, signal, threading, time
import numpy as np
import edgevision as ev

img = np.zeros((64, 64, 3), np.uint8)
def spin():
    while True:
        ev.letterbox(img, 32, threads=2)
for _ in range(2):
    threading.Thread(target=spin, daemon=True).start()
time.sleep(0.05)
hung = 0
for i in range(150):
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)
        ev.letterbox(img, 32, threads=2)
        os._exit(0)
    deadline = time.monotonic() + 10
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            hung += 1
            break
        time.sleep(0.001)
print("hung", hung)
os._exit(0)
"""


def test_fork_while_other_threads_are_inside_the_kernel_does_not_deadlock():
    r = subprocess.run([sys.executable, "-c", FORK_WHILE_BUSY], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "hung 0", r.stdout + r.stderr
