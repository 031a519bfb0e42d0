"""What each attack of tests/attacks scores: a table per assignment, for this grader or another.

    .venv/bin/python benchmarks/attack_scores.py                       # this repository
    .venv/bin/python benchmarks/attack_scores.py --assignments 01_mnist 02_convolution
    git worktree add /tmp/before <commit>                              # an earlier grader:
    LENET_GRADE_WITHOUT_SANDBOX=1 .venv/bin/python benchmarks/attack_scores.py \
        --course-repo /tmp/before

For each assignment with a corpus, a scratch course is released from the course repository's
``solutions/`` (with that repository's nbgrader), the correct solution, the blank release, the
honest base and every attack are submitted, and that repository's ``nbgrader autograde`` grades
them all in one batch (its nbgrader_config.py, its code on PYTHONPATH). Prints, per
submission, the kind of attack, the points it earned (of the assignment's total), how many of
them were in the test cells it targets, and the kinds of flag it raised.

An earlier grader's sandbox cannot see a second checkout's code: grade it with
LENET_GRADE_WITHOUT_SANDBOX=1 (the attacks here go after the kernel, not the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402

from autograder.notebooks import grade_id  # noqa: E402
from autograder.results import result  # noqa: E402
from tests.attacks import CORPORA  # noqa: E402


def nbgrader(repo: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}",
           f"--CourseDirectory.db_url=sqlite:///{root / 'autograder' / 'gradebook.db'}",
           f"--Exchange.root={root / 'autograder' / 'exchange'}"]  # fmt: skip
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=env, check=False)


def notebook(folder: Path) -> Path:
    (path,) = sorted(folder.glob("*.ipynb"))
    return path


def grade_corpus(repo: Path, assignment: str, root: Path) -> None:
    corpus = CORPORA[assignment]
    (root / "autograder").mkdir(parents=True)
    for sub in ("solutions", "course"):
        (root / sub).mkdir()
    subprocess.run(["cp", "-r", str(repo / "solutions" / assignment), str(root / "solutions")],
                   check=True)  # fmt: skip
    done = nbgrader(repo, root, "generate_assignment", assignment, "--force")
    if done.returncode:
        raise SystemExit(
            f"{assignment}: release failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    release = notebook(root / "course" / assignment)
    name = release.name
    base = corpus.base(root) if corpus.base else nbformat.read(release, as_version=4)
    submissions = {
        "correct": nbformat.read(notebook(root / "solutions" / assignment), as_version=4),
        "blank": nbformat.read(release, as_version=4),
        "honest": base,
    }
    for attack in corpus.attacks:
        nb = nbformat.from_dict(json.loads(json.dumps(base)))
        slots = {grade_id(c) or c.metadata.get("attack_slot"): c for c in nb.cells}
        for slot, source in attack.cells.items():
            if slot in slots:
                slots[slot].source = source
        if attack.edit is not None:
            attack.edit(nb)
        submissions[attack.name] = nb
    for student, nb in submissions.items():
        folder = root / "autograder" / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / name)
    nbgrader(repo, root, "autograde", assignment, "--force", f"--Execute.timeout={corpus.timeout}",
             f"--SafeExecute.timeout={corpus.timeout}")  # fmt: skip
    url = f"sqlite:///{root / 'autograder' / 'gradebook.db'}"
    kinds = {a.name: a for a in corpus.attacks}
    print(f"\n{assignment}")
    print(f"  {'submission':<40}{'kind':<18}{'score':>8}{'in targets':>11}  flags")
    for student in submissions:
        got = result(url, assignment, student)
        attack = kinds.get(student)
        flags_path = root / "autograder" / "autograded" / student / assignment / "flags.json"
        found = (
            sorted({f.get("kind", "?") for f in json.loads(flags_path.read_text())})
            if flags_path.exists()
            else ["(none)"]
        )
        if got is None:
            print(f"  {student:<40}{getattr(attack, 'kind', ''):<18}{'ungraded':>8}")
            continue
        targeted = sum(s or 0 for c, s in got.cells.items() if attack and c in attack.targets)
        print(f"  {student:<40}{getattr(attack, 'kind', ''):<18}{got.score:>4g}/{got.max_score:<3g}"
              f"{targeted:>11g}  {', '.join(found) or '-'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--course-repo", type=Path, default=REPO)
    parser.add_argument("--assignments", nargs="*", default=sorted(CORPORA))
    args = parser.parse_args()
    repo = args.course_repo.resolve()
    sandbox = "off" if os.environ.get("LENET_GRADE_WITHOUT_SANDBOX") else "on"
    print(f"grader: {repo} (sandbox {sandbox})")
    for assignment in args.assignments:
        with tempfile.TemporaryDirectory(prefix="lenet-attacks-") as folder:
            grade_corpus(repo, assignment, Path(folder))


if __name__ == "__main__":
    main()
