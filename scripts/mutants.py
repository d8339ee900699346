"""`make mutants`: put each bug of a curated list into the code, one at a time, run the tests that
claim to catch it, and say which were caught.

The list is ``tests/mutants.yml``: for each mutant, the file, an exact snippet of it, what replaces
the snippet, and the tests (pytest node ids) that must fail because of it. A snippet that is no
longer found exactly once stops everything before any run (the code moved: update the list). The
mutants are applied to copies of the working tree (tracked and untracked files, not ignored ones)
in a temporary folder, never to the tree itself, so an interrupted run (Ctrl-C, a kill) leaves
the checkout as it was; each copy's file is restored after its mutant, whatever happened.

First the claimed tests run once on an unmutated copy, and must pass (a test failing already
would "catch" every mutant). Then, for each mutant, its tests run (``-x``: the first failure is
enough) in that copy, with the copy first on ``PYTHONPATH`` (the kernels and the CLI runs
import it too): caught when pytest reports a failed test (exit code 1), not caught when they
pass; any other outcome (a test not collected, an error of pytest itself) is an error.
Prints one line per mutant, then caught / total; exits 1 unless every mutant is caught.

    python scripts/mutants.py [--jobs 2] [--only ID ...] [--list]
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "tests" / "mutants.yml"
CLASSES = {
    1: "a blocking check made a warning, or emptied",
    2: "data too round and too clean to show it",
    3: "a value recorded but not checked",
    4: "publishing: the rollback, the order, moving forward only",
    5: "a promise checked by a prefix, or only in a slow test",
}


@dataclass(frozen=True)
class Mutant:
    id: str
    kind: int  # one of CLASSES
    file: str
    original: str
    mutant: str
    tests: tuple[str, ...]
    why: str = ""
    check: str | None = None  # the blocking check it disables, if any


def load(path: Path = LIST) -> list[Mutant]:
    """The mutants of ``path``, each checked against the tree: its snippet found exactly once."""
    found = []
    for entry in yaml.safe_load(path.read_text(encoding="utf-8")):
        m = Mutant(
            id=entry["id"],
            kind=int(entry["class"]),
            file=entry["file"],
            original=entry["original"],
            mutant=entry["mutant"],
            tests=tuple(entry["tests"]),
            why=entry.get("why", ""),
            check=entry.get("check"),
        )
        problems = []
        if m.kind not in CLASSES:
            problems.append(f"class {m.kind} is not one of {sorted(CLASSES)}")
        text = (ROOT / m.file).read_text(encoding="utf-8") if (ROOT / m.file).is_file() else None
        if text is None:
            problems.append(f"{m.file}: no such file")
        elif text.count(m.original) != 1:
            problems.append(f"{m.file}: its snippet is found {text.count(m.original)} times, not once: {m.original!r}")
        if m.original == m.mutant or not m.tests:
            problems.append("a mutant changes something and names the tests that catch it")
        if problems:
            raise SystemExit(f"tests/mutants.yml: mutant {m.id}: " + "; ".join(problems))
        found.append(m)
    ids = [m.id for m in found]
    if len(set(ids)) != len(ids):
        raise SystemExit(f"tests/mutants.yml: the same id twice: {sorted({i for i in ids if ids.count(i) > 1})}")
    return found


def copy_tree(into: Path) -> Path:
    """The working tree as it is (tracked and untracked files, not ignored ones) under ``into``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


RUNNING: set[subprocess.Popen] = set()  # pytest processes under way, each the head of its own process group
TIMEOUT = 900  # seconds a mutant's tests may take (a mutant that hangs is an error, not a catch)


def pytest(tree: Path, tests: tuple[str, ...], *extra: str) -> subprocess.CompletedProcess:
    """pytest on ``tests`` in ``tree``, the copy first on the path (and its kernels' and CLI runs')."""
    env = {**os.environ, "PYTHONPATH": str(tree), "BOTTLENECK_ROOT": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, *tests]
    proc = subprocess.Popen(
        args, cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    RUNNING.add(proc)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(proc)
        out, err = proc.communicate()
        return subprocess.CompletedProcess(args, -9, out, err + f"\ntimed out after {TIMEOUT}s")
    except BaseException:  # interrupted: the run and what it started go too
        stop(proc)
        proc.wait()
        raise
    finally:
        RUNNING.discard(proc)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def stop(proc: subprocess.Popen) -> None:
    """Kill a pytest run and whatever it started (kernels, CLI runs, servers)."""
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass


def run_mutant(tree: Path, m: Mutant) -> tuple[str, float, str]:
    """Apply ``m`` in ``tree``, run its tests, restore the file; returns (outcome, seconds, output)."""
    path = tree / m.file
    original = path.read_text(encoding="utf-8")
    started = time.monotonic()
    try:
        path.write_text(original.replace(m.original, m.mutant, 1), encoding="utf-8")
        done = pytest(tree, m.tests, "-x")
    finally:
        path.write_text(original, encoding="utf-8")
    outcome = {0: "NOT CAUGHT", 1: "caught"}.get(done.returncode, f"error (pytest exit {done.returncode})")
    return outcome, time.monotonic() - started, done.stdout[-3000:] + done.stderr[-2000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once, each in its own copy (default 2)")
    parser.add_argument("--only", nargs="*", default=None, metavar="ID", help="run these mutants only")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)
    mutants = load()
    if args.only:
        unknown = set(args.only) - {m.id for m in mutants}
        if unknown:
            raise SystemExit(f"no such mutant: {', '.join(sorted(unknown))}")
        mutants = [m for m in mutants if m.id in args.only]
    if args.list:
        for m in mutants:
            print(f"{m.id:48} class {m.kind}  {m.file}")
        return 0
    for signum in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C or a kill: stop cleanly (even where SIGINT was ignored)
        signal.signal(signum, _interrupted)
    try:
        return _run(mutants, args.jobs)
    except KeyboardInterrupt:
        for proc in list(RUNNING):
            stop(proc)
        print("interrupted: the working tree is as it was (mutants are applied to copies only)", flush=True)
        return 130


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _run(mutants: list[Mutant], jobs: int) -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bottleneck-mutants-") as tmp:
        trees = [copy_tree(Path(tmp) / f"tree{i}") for i in range(max(1, jobs))]
        claimed = tuple(sorted({t for m in mutants for t in m.tests}))
        baseline = pytest(trees[0], claimed, "-n", str(max(1, jobs)))
        if baseline.returncode != 0:
            print(baseline.stdout[-4000:] + baseline.stderr[-2000:])
            print(f"the claimed tests fail without any mutant (pytest exit {baseline.returncode}): fix them first")
            return 1
        print(
            f"{len(claimed)} claimed tests pass unmutated ({time.monotonic() - started:.0f}s); {len(mutants)} mutants"
        )
        todo: queue.Queue[Mutant] = queue.Queue()
        for m in mutants:
            todo.put(m)
        results: dict[str, str] = {}
        lock = threading.Lock()

        def work(tree: Path) -> None:
            while True:
                try:
                    m = todo.get_nowait()
                except queue.Empty:
                    return
                outcome, seconds, output = run_mutant(tree, m)
                with lock:
                    results[m.id] = outcome
                    print(f"{outcome:12} {m.id} (class {m.kind}, {seconds:.0f}s)", flush=True)
                    if outcome != "caught":
                        print(f"    {m.file}: {m.why}\n" + "\n".join("    " + line for line in output.splitlines()))

        workers = [threading.Thread(target=work, args=(tree,), daemon=True) for tree in trees]
        for w in workers:
            w.start()
        try:
            for w in workers:
                while w.is_alive():
                    w.join(0.5)
        except KeyboardInterrupt:  # no more mutants; the runs under way are stopped, then the copies go
            while not todo.empty():
                todo.get_nowait()
            for proc in list(RUNNING):
                stop(proc)
            for w in workers:
                w.join()
            raise
    caught = sum(outcome == "caught" for outcome in results.values())
    by_class = {k: sum(1 for m in mutants if m.kind == k) for k in CLASSES}
    print(
        f"{caught}/{len(mutants)} mutants caught in {time.monotonic() - started:.0f}s "
        f"(by class: {', '.join(f'{k}: {n}' for k, n in by_class.items())})"
    )
    missed = [i for i, outcome in results.items() if outcome != "caught"]
    if missed:
        print(f"not caught or in error: {', '.join(missed)}")
    return 0 if caught == len(mutants) else 1


if __name__ == "__main__":
    sys.exit(main())
