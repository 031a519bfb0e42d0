"""nbgrader preprocessors of this course (wired in through nbgrader_config.py)."""

from __future__ import annotations

import re

from nbformat import NotebookNode
from nbgrader.preprocessors.base import NbGraderPreprocessor
from traitlets import Unicode

HIDDEN_NOTE = "(the failing line belongs to a hidden test, so the traceback is not shown)"


class HideHiddenTestTracebacks(NbGraderPreprocessor):
    """In feedback, drop tracebacks of test cells that quote a line of their hidden tests.

    ``ClearHiddenTests`` removes hidden tests from a feedback notebook's source, but an error's
    traceback may quote the failing line and its neighbours. The trusted runner never quotes
    hidden lines (it names them "a hidden test"), so this only acts on tracebacks from elsewhere;
    those are replaced by the one-line error, with a note, and students keep the error's type and
    message (what was expected and what came back). Run it before ``ClearHiddenTests``, which
    removes the delimiters it looks for.
    """

    begin_delimiter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_delimiter = Unicode("END HIDDEN TESTS").tag(config=True)

    def _hidden_lines(self, source: str) -> list[str]:
        pattern = (
            re.escape(self.begin_delimiter) + r"[^\n]*\n(.*?)[^\n]*" + re.escape(self.end_delimiter)
        )
        blocks = re.findall(pattern, source, re.S)
        return [line.strip() for b in blocks for line in b.splitlines() if len(line.strip()) > 12]

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type != "code" or self.begin_delimiter not in cell.source:
            return cell, resources
        hidden = self._hidden_lines(cell.source)
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
