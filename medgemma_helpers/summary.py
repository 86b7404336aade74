"""All the cases in one run with one model: seconds, tokens and concordance per case, a chart, and handouts.

Layer: teaching flow, top. May import: errors, render, files, asking, cases, concordance, walkthrough, handouts.
"""

from __future__ import annotations

import base64
import csv
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .asking import DEFAULT_BATCH_SIZE, DEFAULT_MAX_NEW_TOKENS, Findings, Request, analyze_many
from .cases import Case, list_cases
from .concordance import (
    VERDICT_COLOURS,
    ErrorTally,
    FindingCheck,
    check_findings,
    concordance_score,
    error_tally,
    verdict,
)
from .files import write_atomically
from .handouts import export_handout
from .render import DISCLAIMER, esc, show_html
from .walkthrough import case_request


@dataclass
class CaseResult:
    """One row of the all-cases summary."""

    case_id: str
    title: str
    seconds: float
    prompt_tokens: int
    new_tokens: int
    agreeing: int
    total: int
    findings: Findings
    run: str = ""  # how the run went: how many cases per batch and the whole run's time
    checks: tuple[FindingCheck, ...] = ()  # the model's read against the key, finding by finding

    @property
    def errors(self) -> ErrorTally:
        """The kinds of error in the model's read: missed, invented, wrong side, size or site differs, hedged."""
        return error_tally(self.checks)

    @property
    def wrong_sides(self) -> list[str]:
        """Each finding read on the wrong side, in the concordance table's words."""
        return [f"{c.finding}: {verdict(c)[1]}" for c in self.checks if c.wrong_side]

    @property
    def score(self) -> float:
        """Fraction of answer-key findings the model agreed with."""
        return self.agreeing / self.total if self.total else 0.0


def run_all_cases(model: Any = None, cases: list[Case] | None = None, *,
                  max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, handouts: str | Path | None = None,
                  batch_size: int | None = None) -> list[CaseResult]:
    """Run every case with one model, batched (mh.analyze_many); optionally write each case's handout into a folder.

    Each case is asked exactly what run_case asks. A loaded model answers batch_size cases per generate call, and
    a case's seconds are its share of its batch's time (in proportion to the tokens it generated), so the column
    adds up to the whole run; a server (mh.connect) gets the cases as concurrent requests, each timed on its own.
    """
    cases = cases or list_cases()
    requests = []
    for index, case in enumerate(cases, 1):
        print(f"[{index}/{len(cases)}] case {case.id}: {case.title}", flush=True)
        request = case_request(case, max_new_tokens=max_new_tokens)  # exactly what run_case asks
        requests.append(Request(request.picture, request.question, request.system))
    size = max(1, min(batch_size or DEFAULT_BATCH_SIZE, len(cases)))  # one figure, said the same way twice
    print(f"Asking MedGemma about {len(cases)} cases, {size} at a time…", flush=True)
    started = time.perf_counter()
    answers = analyze_many(requests, model=model, max_new_tokens=max_new_tokens, batch_size=size)
    batches = -(-len(cases) // size)
    # A batch's cases finish together, so a case's own time is its share of its batch's (by tokens generated).
    run = (f"{len(cases)} cases in {batches} batch{'es' if batches != 1 else ''} of up to {size}: "
           f"{time.perf_counter() - started:.1f} s in all; each case's seconds are its share of its batch's time.")
    results = []
    for case, findings in zip(cases, answers):
        checks = tuple(check_findings(findings.text, case))
        agreeing, total = concordance_score(checks)
        results.append(CaseResult(case.id, case.title, findings.seconds, findings.prompt_tokens, findings.new_tokens,
                                  agreeing, total, findings, run, checks))
        if handouts is not None:
            Path(handouts).mkdir(parents=True, exist_ok=True)
            export_handout(case, findings, Path(handouts))
    return results


def summary_chart_png(results: list[CaseResult]) -> bytes:
    """A bar chart of the concordance score per case, as PNG bytes."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.2), dpi=100)
    axes = figure.add_subplot()
    labels = [result.case_id for result in results]
    axes.bar(labels, [100 * result.score for result in results], color="#4a7ab5")
    for position, result in enumerate(results):
        axes.text(position, 100 * result.score + 2, f"{result.agreeing}/{result.total}", ha="center", fontsize=8)
    axes.set_ylim(0, 110)
    axes.set_ylabel("agrees with key (%)")
    axes.set_xlabel("case")
    axes.set_title("MedGemma vs the answer key, per case")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _wrong_side_cell(result: CaseResult) -> str:
    """The wrong-side findings of one case, in the verdict's own words and colour (empty when none)."""
    if not result.wrong_sides:
        return "<td></td>"
    background, colour = VERDICT_COLOURS["wrong_side"]
    return (f"<td class='mh-wrong-side' style='background:{background};color:{colour}'>"
            + "<br>".join(esc(line) for line in result.wrong_sides) + "</td>")


def summary_html(results: list[CaseResult]) -> str:
    """The summary table (case, seconds, tokens, score, kinds of error, wrong sides) and the chart, as HTML."""
    rows = "".join(
        f"<tr><td>{esc(r.case_id)}</td><td>{esc(r.title)}</td><td>{r.seconds:.1f}</td><td>{r.prompt_tokens}</td>"
        f"<td>{r.new_tokens}</td><td>{r.agreeing}/{r.total}</td><td>{esc(r.errors.counts())}</td>"
        f"{_wrong_side_cell(r)}</tr>" for r in results)
    chart = base64.b64encode(summary_chart_png(results)).decode("ascii") if results else ""
    note = f"<p>{esc(results[0].run)}</p>" if results and results[0].run else ""
    return ("<table class='mh-summary'><tr><th>Case</th><th>Title</th><th>Seconds</th><th>Prompt tokens</th>"
            f"<th>New tokens</th><th>Agrees with key</th><th>Kinds of error</th><th>Wrong side</th></tr>{rows}</table>"
            f"{note}"
            + (f"<img alt='Concordance per case' src='data:image/png;base64,{chart}'/>" if chart else "")
            + f"<p style='color:#a33'>{esc(DISCLAIMER)}</p>")


def write_summary(results: list[CaseResult], folder: str | Path) -> list[Path]:
    """Write summary.csv, summary.png and summary.html into a folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["case", "title", "seconds", "prompt_tokens", "new_tokens", "agreeing", "total", "missed",
                     "invented", "wrong_side", "size_or_site_differs", "hedged", "wrong_side_findings"])
    for r in results:
        errors = r.errors
        writer.writerow([r.case_id, r.title, f"{r.seconds:.2f}", r.prompt_tokens, r.new_tokens, r.agreeing, r.total,
                         errors.missed, errors.invented, errors.wrong_side, errors.size_or_site, errors.hedged,
                         "; ".join(r.wrong_sides)])
    paths = [folder / "summary.csv", folder / "summary.png", folder / "summary.html"]
    write_atomically(paths[0], table.getvalue().encode("utf-8"))
    write_atomically(paths[1], summary_chart_png(results))
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>All cases</title></head>"
            f"<body>{summary_html(results)}</body></html>")
    write_atomically(paths[2], page.encode("utf-8"))
    return paths


def show_summary(results: list[CaseResult]) -> None:
    """Show the all-cases table and chart inline (or the table in a terminal)."""
    plain = "\n".join(f"{r.case_id}  {r.seconds:6.1f} s  {r.new_tokens:5d} tokens  {r.agreeing}/{r.total}  {r.title}\n"
                      f"    {r.errors.line()}" + "".join(f"\n    ✗ {line}" for line in r.wrong_sides)
                      for r in results) + (f"\n{results[0].run}" if results and results[0].run else "")
    show_html(summary_html(results), plain)
