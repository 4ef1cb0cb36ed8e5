"""Every shell command the documentation shows runs as written, from the root of a fresh clone.

The commands are collected, not listed: every fenced ``bash`` block of README.md and docs/*.md and
the commands in the Snakefile's docstring, so a command added to the docs later is run with no
edit here. They run in document order in one fresh clone (a copy of the tracked files, as `git
clone` gives a new user), in the environment ``setup.sh`` made, activated, offline. What this file
changes is declared below and nothing else:

- ``BENCHSUITE_BUDGET`` caps every pipeline (steps, seeds, samples) so that a grid fits CI;
  the same caps are written into ``benchsuite`` commands' ``--steps``, ``--seeds`` and ``--samples``.
- The test suite's own commands only collect (``--collect-only``): the suite is what is running.
- A command that needs what this machine cannot have (a GPU cluster, conda, a download) runs as
  well and must end with its clear message, never a traceback; the cluster commands and ``pip
  install`` run as dry runs (they would submit jobs or change the environment the tests run in).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, make_fresh_clone, user_environment

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BUDGET = "steps=20,seeds=1,samples=200"
STEPS, SAMPLES = "20", "200"
# A command whose outcome is a clear refusal on a machine like CI's: (what marks it, what it must say).
EXPECTED_REFUSALS = [
    (re.compile(r"--use-conda"), "Is conda installed"),
    (re.compile(r"--configfile config/cifar10\.yaml"), "dataset 'cifar10' is not available"),
    (re.compile(r"train-extractor (mnist|fashion-mnist|cifar10|celeba64|stacked-mnist)\b"), "is not available"),
]
DRY_RUN = [
    (re.compile(r"\bsnakemake\b.*--profile profiles/slurm"), "--dry-run"),  # no cluster to submit to
    (re.compile(r"\bpip install\b"), "--dry-run"),  # would reinstall the package the tests import
]
TEST_RUNNERS = re.compile(r"(^|[\s/])(run-tests\.sh|pytest)\b")
TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Command:
    source: str  # document:line
    text: str  # as written, continuations joined


def fenced_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(language, line of the first content line, lines) of every fenced block."""
    blocks, current, language, start = [], None, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if current is None:
                current, language, start = [], line[3:].strip(), number + 1
            else:
                blocks.append((language, start, current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def commands_in(lines: list[str], first_line: int, document: str) -> list[Command]:
    """Shell commands of a block: backslash continuations joined; blank and comment lines dropped."""
    commands, pending, start = [], "", first_line
    for number, line in enumerate(lines, first_line):
        if not pending:
            start = number
            if not line.strip() or line.lstrip().startswith("#"):
                continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        commands.append(Command(f"{document}:{start}", " ".join((pending + line).split())))
        pending = ""
    assert not pending, f"{document}:{start}: a command ends in a continuation"
    return commands


def snakefile_commands() -> list[Command]:
    docstring = (ROOT / "Snakefile").read_text().split('"""')[1]
    lines = docstring.splitlines()
    return [Command(f"Snakefile:{number}", " ".join(line.split()))
            for number, line in enumerate(lines, 1) if line.strip().startswith("snakemake ")]


def documented_commands() -> list[list[Command]]:
    """Every documented command, grouped by the block (one shell) it is written in, in document order."""
    groups = []
    for document in DOCUMENTS:
        name = str(document.relative_to(ROOT))
        for language, first_line, lines in fenced_blocks(document.read_text()):
            if language == "bash":
                groups.append(commands_in(lines, first_line, name))
    groups.append(snakefile_commands())
    return [group for group in groups if group]


def without_comment(command: str) -> str:
    """The command before a trailing `# comment`: the first ` #` that no quote is open across."""
    for match in re.finditer(r"\s#", command):
        try:
            shlex.split(command[: match.start()])
        except ValueError:  # an unclosed quote: this `#` is inside it
            continue
        return command[: match.start()].rstrip()
    return command


def _with_option(words: str, option: str, value: str, add: bool = True) -> str:
    pattern = re.compile(rf"{re.escape(option)}(=|\s+)\S+")
    if pattern.search(words):
        return pattern.sub(f"{option} {value}", words)
    return f"{words} {option} {value}" if add else words


def _first_two_seeds(match: re.Match) -> str:
    low = int(match.group(1))
    return f"--seeds {low}-{low + 1}"


def as_run(command: str) -> str:
    """The command with this test's declared overrides applied (module docstring)."""
    run = without_comment(command)
    parts = re.split(r"(\s*(?:&&|\|\||;)\s*)", run)
    for index, part in enumerate(parts):
        if re.match(r"\s*benchsuite (train|train-extractor)\b", part):
            part = _with_option(part, "--steps", STEPS)
            part = re.sub(r"--seeds\s+(\d+)-(\d+)", _first_two_seeds, part)
        if re.match(r"\s*benchsuite evaluate\b", part):
            part = _with_option(part, "--samples", SAMPLES)
        if TEST_RUNNERS.search(part):
            part = f"{part} --collect-only -q"
        for marker, flag in DRY_RUN:
            if marker.search(part):
                part = f"{part} {flag}"
        parts[index] = part
    return "".join(parts)


SHELL_STATE = re.compile(r"^\s*(export|\.|source|cd)\s")


def first_occurrences(groups: list[list[Command]]) -> list[list[Command]]:
    """The blocks with each command that repeats an earlier one, as it runs, left out (the
    Snakefile's docstring repeats docs/pipeline.md's commands): in the same clone it would only do
    again what was just checked. Commands that set the shell's state stay, for the commands after them."""
    seen: set[str] = set()
    kept = []
    for group in groups:
        new = [command for command in group if SHELL_STATE.match(command.text) or as_run(command.text) not in seen]
        seen |= {as_run(command.text) for command in group}
        if any(not SHELL_STATE.match(command.text) for command in new):
            kept.append(new)
    return kept


def expected_refusal(command: str) -> str | None:
    return next((message for marker, message in EXPECTED_REFUSALS if marker.search(command)), None)


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fresh_clone(tmp_path_factory.mktemp("clone"))


def run_block(clone: Path, commands: list[Command], timeout: float) -> list[tuple[Command, int, str]]:
    """The block's commands in one shell, as a person pastes them; each one's exit status and output."""
    script = []
    for index, command in enumerate(commands):
        script += [as_run(command.text), f"echo \"@@@ {index} $?\""]
    environment = user_environment(clone, BENCHSUITE_BUDGET=BUDGET)
    result = subprocess.run(["bash", "-c", "\n".join(script)], cwd=clone, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    outcomes, rest = [], result.stdout
    for index, command in enumerate(commands):
        marker = re.search(rf"^@@@ {index} (\d+)$", rest, flags=re.M)
        if marker is None:
            outcomes.append((command, -1, rest))
            break
        outcomes.append((command, int(marker.group(1)), rest[: marker.start()]))
        rest = rest[marker.end():]
    return outcomes


def test_the_collector_finds_the_documented_commands():
    commands = [command.text for group in documented_commands() for command in group]
    assert len(commands) >= 15
    assert "./setup.sh && .venv/bin/snakemake --cores 8 # train, evaluate and report the default grid" in commands
    assert any(text.startswith("benchsuite train --dataset ring8 --arch mlp --objective nonsaturating --regulariser r1 "
                               "--seed 0 --steps 1000 --set lr_d=1e-3") for text in commands)
    assert any(text.startswith("snakemake --cores 8 --configfile config/cifar10.yaml") for text in commands)
    assert any(source.startswith("Snakefile:") for group in documented_commands() for source in [group[0].source])


def test_a_repeated_command_runs_once_and_shell_state_always_runs():
    a, b = Command("x:1", "snakemake --cores 8 # one"), Command("y:1", "snakemake --cores 8 # again")
    activate, listing = Command("y:2", ". .venv/bin/activate"), Command("y:3", "benchsuite list")
    assert first_occurrences([[a], [b, activate, listing], [Command("z:1", ". .venv/bin/activate")]]) == [
        [a], [activate, listing]]


def test_every_fenced_block_says_its_language():
    # A shell block without `bash` would never be run by the test below.
    for document in DOCUMENTS:
        for language, first_line, _ in fenced_blocks(document.read_text()):
            assert language, f"{document.relative_to(ROOT)}:{first_line - 1}: a fenced block without a language"


@pytest.mark.parametrize(("written", "run"), [
    ("benchsuite train --dataset ring8 --seed 0 --steps 1000 --set lr_d=1e-3",
     f"benchsuite train --dataset ring8 --seed 0 --steps {STEPS} --set lr_d=1e-3"),
    ("benchsuite train --dataset ring8 --seeds 0-7 --out results/x",
     f"benchsuite train --dataset ring8 --seeds 0-1 --out results/x --steps {STEPS}"),
    ("benchsuite evaluate RUN --samples 10000 --set a=1", f"benchsuite evaluate RUN --samples {SAMPLES} --set a=1"),
    ("benchsuite list   # every registered component, by kind", "benchsuite list"),
    ("./setup.sh && ./run-tests.sh   # the test suite", "./setup.sh && ./run-tests.sh --collect-only -q"),
    ("snakemake --profile profiles/slurm --config device=cuda",
     "snakemake --profile profiles/slurm --config device=cuda --dry-run"),
    ("echo '# not a comment' # a comment", "echo '# not a comment'"),
])
def test_the_declared_overrides_are_all_that_changes(written, run):
    assert as_run(written) == run


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_every_documented_command_runs_as_written(fresh_clone):
    failures = []
    for group in first_occurrences(documented_commands()):
        for command, status, output in run_block(fresh_clone, group, timeout=900):
            refusal = expected_refusal(command.text)
            where = f"{command.source}: {command.text}\n  ran as: {as_run(command.text)}\n  exit {status}"
            if TRACEBACK in output:
                failures.append(f"{where}: a traceback\n{output[-3000:]}")
            elif refusal is None and status != 0:
                failures.append(f"{where}\n{output[-3000:]}")
            elif refusal is not None and (status == 0 or refusal not in output):
                failures.append(f"{where}: expected a refusal saying {refusal!r}\n{output[-3000:]}")
    assert not failures, "\n\n".join(failures)
    # The quick start's grid reached its report.
    assert (fresh_clone / "results" / "report.html").stat().st_size > 10_000
