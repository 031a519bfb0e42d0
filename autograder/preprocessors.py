"""nbgrader preprocessors of this course (wired in through nbgrader_config.py)."""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.preprocessors.base import NbGraderPreprocessor

from autograder import course

HIDDEN_NOTE = "(the failing line belongs to a hidden test, so the traceback is not shown)"


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """In feedback, drop tracebacks of test cells that quote a line of their hidden tests.

    ``ClearHiddenTests`` removes hidden tests from a feedback notebook's source, but an error's
    traceback may quote the failing line and its neighbours. The trusted runner never quotes
    hidden lines (it names them "a hidden test"), so this only acts on tracebacks from elsewhere;
    those are replaced by the one-line error, with a note, and students keep the error's type and
    message (what was expected and what came back). Run it before ``ClearHiddenTests``, which
    removes the hidden tests it looks for.
    """

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        hidden = [ln.strip() for ln in course.marked(cell.source).splitlines()]
        hidden = [ln for ln in hidden if len(ln) > 12]  # long enough to be recognized
        if cell.cell_type != "code" or not hidden:
            return cell, resources
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            text = "\n".join(out.get("traceback", []))
            if any(line in text for line in hidden):
                out["traceback"] = [
                    f"{out.get('ename', 'Error')}: {out.get('evalue', '')}",
                    HIDDEN_NOTE,
                ]
        return cell, resources
