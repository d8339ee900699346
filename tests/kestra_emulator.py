"""A small emulation of Kestra's Process task runner for a Commands task, with no Kestra
server: enough to run the flow's own commands the way a Kestra worker would.

What it reproduces: namespace files copied into a fresh working directory (with the
task's include/exclude globs), the task's ``env`` rendered (``secret()``, ``vars``,
``workingDir``), ``beforeCommands`` then ``commands`` run by ``/bin/sh -c`` with
``set -e`` in that directory with ``WORKING_DIR`` set, ``::{...}::`` lines parsed from
stdout as outputs and metrics, and ``outputFiles`` collected with Java's glob rules
(``*`` stays inside a folder, ``**`` crosses folders, so ``**/*.html`` misses top-level files).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def glob_regex(pattern: str) -> re.Pattern:
    """java.nio PathMatcher "glob:" syntax as a regular expression over relative paths."""
    out, i, in_group = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{":
            out.append("(?:")
            in_group = True
        elif c == "}" and in_group:
            out.append(")")
            in_group = False
        elif c == "," and in_group:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def matches(path: str, patterns: list[str]) -> bool:
    return any(glob_regex(p).match(path) for p in patterns)


def render(value: str, secrets: dict[str, str], variables: dict[str, str], working_dir: Path) -> str:
    """The Pebble expressions this flow uses; any other expression is an error."""

    def one(m: re.Match) -> str:
        expr = m.group(1).strip()
        if s := re.fullmatch(r"secret\(\s*'([A-Za-z0-9_]+)'\s*\)", expr):
            return secrets[s.group(1)]
        if v := re.fullmatch(r"vars\.([A-Za-z0-9_]+)", expr):
            return str(variables[v.group(1)])
        if expr == "workingDir":
            return str(working_dir)
        raise ValueError(f"expression not emulated: {{{{ {expr} }}}}")

    return re.sub(r"\{\{(.*?)\}\}", one, str(value))


@dataclass
class TaskRun:
    returncode: int
    stdout: str
    stderr: str
    working_dir: Path
    outputs: dict = field(default_factory=dict)
    metrics: list = field(default_factory=list)
    output_files: dict[str, Path] = field(default_factory=dict)


def copy_namespace_files(source: Path, dest: Path, task: dict) -> list[str]:
    ns = task.get("namespaceFiles") or {}
    if not ns.get("enabled"):
        return []
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=source, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    include, exclude = ns.get("include") or ["**"], ns.get("exclude") or []
    copied = []
    for rel in tracked:
        if (matches(rel, include) or rel in include) and not matches(rel, exclude):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, dest / rel)
            copied.append(rel)
    return copied


def run_commands_task(
    flow: dict,
    task: dict,
    namespace_source: Path,
    working_dir: Path,
    *,
    secrets: dict[str, str],
    base_env: dict[str, str],
    before_commands: list[str] | None = None,
    timeout: float = 900,
) -> TaskRun:
    working_dir.mkdir(parents=True)
    copy_namespace_files(namespace_source, working_dir, task)
    variables = flow.get("variables") or {}
    env = {**base_env, "WORKING_DIR": str(working_dir)}
    for k, v in (task.get("env") or {}).items():
        env[k] = render(v, secrets, variables, working_dir)
    before = task.get("beforeCommands") or [] if before_commands is None else before_commands
    commands = [render(c, secrets, variables, working_dir) for c in [*before, *task["commands"]]]
    script = "set -e\n" + "\n".join(commands)
    proc = subprocess.run(
        ["/bin/sh", "-c", script], cwd=working_dir, env=env, capture_output=True, text=True, timeout=timeout
    )
    run = TaskRun(proc.returncode, proc.stdout, proc.stderr, working_dir)
    for line in proc.stdout.splitlines():
        if m := re.fullmatch(r"::(\{.*\})::", line.strip()):
            message = json.loads(m.group(1))
            run.outputs.update(message.get("outputs", {}))
            run.metrics.extend(message.get("metrics", []))
    patterns = task.get("outputFiles") or []
    for path in sorted(working_dir.rglob("*")):
        rel = path.relative_to(working_dir).as_posix()
        if path.is_file() and matches(rel, patterns):
            run.output_files[rel] = path
    return run
