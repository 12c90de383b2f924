"""Report files next to the V2G log's pcapng files: ``<capture>.report.json`` and ``<capture>.report.html``.

:func:`write_report` builds both from a capture file. :class:`ReportingRecorder` is the V2G log
(:class:`~josev.observability.v2glog.V2gRecorder`) of ``josev station --sim``: when a session ends and its pcapng
is queued, a report thread waits for the file and writes the report next to it, off the event loop. Without
plotly (the ``report`` extra) only the JSON is written.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from josev.observability.v2glog import V2gRecorder
from josev.report.core import build_report
from josev.report.decode import messages_from_capture
from josev.report.model import Report, StationAction

log = logging.getLogger("josev.report")

ActionSource = Callable[[int, str], Sequence[StationAction]]
"""``(evse, connection) -> actions``: what the station did on purpose in that session (scenarios)."""


def report_paths(capture: Path) -> tuple[Path, Path]:
    """(JSON, HTML) paths of the report of ``capture``."""
    stem = capture.name[: -len(capture.suffix)] if capture.suffix else capture.name
    return capture.with_name(stem + ".report.json"), capture.with_name(stem + ".report.html")


def scenario_record_of(capture: Path) -> Path:
    """The scenario record ``josev station --scenario`` writes next to a session's pcapng."""
    stem = capture.name[: -len(capture.suffix)] if capture.suffix else capture.name
    return capture.with_name(stem + ".scenario.json")


def recorded_actions(capture: Path) -> list[StationAction]:
    """What the station did on purpose in ``capture``'s session, from the scenario record next to it (empty
    without one; a record that cannot be read is logged and left out: the report is still written)."""
    path = scenario_record_of(capture)
    if not path.is_file():
        return []
    from josev.secc.scenario import read_record, to_report

    try:
        return to_report(read_record(path))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        log.warning("report: the scenario record %s cannot be read (%s); no station actions", path.name, e)
        return []


def report_of_capture(
    capture: Path,
    codec: Any,
    actions: Sequence[StationAction] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Report:
    """Build the report of a capture file (raises OSError, CaptureError). ``actions`` None: those of the
    scenario record next to the capture, if any (:func:`recorded_actions`)."""
    info = {"capture": capture.name, **(meta or {})}
    acts = recorded_actions(capture) if actions is None else actions
    return build_report(messages_from_capture(capture, codec), acts, info)


def write_report(
    capture: Path,
    codec: Any,
    actions: Sequence[StationAction] | None = None,
    meta: Mapping[str, Any] | None = None,
    *,
    html: bool = True,
    out_dir: Path | None = None,
) -> tuple[Path, Path | None]:
    """Write the JSON (and, with plotly, HTML) report of ``capture`` next to it (or into ``out_dir``); returns
    their paths. ``actions`` None: read from the scenario record next to the capture."""
    report = report_of_capture(capture, codec, actions, meta)
    jpath, hpath = report_paths(capture if out_dir is None else out_dir / capture.name)
    _write(jpath, json.dumps(report.to_dict(), indent=1, default=str))
    if not html:
        return jpath, None
    try:
        from josev.report.html import render_html

        _write(hpath, render_html(report))
    except ImportError as e:
        log.warning("report: %s; only %s written", e, jpath.name)
        return jpath, None
    return jpath, hpath


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)  # like the pcapng: it may describe a customer's car
    tmp.replace(path)


class ReportingRecorder(V2gRecorder):
    """A V2G log that also writes a conformance report next to each session's pcapng file."""

    def __init__(
        self,
        *,
        codec: str = "exi",
        html: bool = True,
        actions: ActionSource | None = None,
        max_html: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_html < 1:
            raise ValueError("max_html must be positive")
        self.max_html = max_html
        self.codec_name = codec
        self.html = html
        self.actions = actions
        self.reports_written = 0
        self.reports_failed = 0
        self._jobs: queue.Queue[tuple[Path, int, str, tuple[StationAction, ...]] | None] = queue.Queue(64)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._codec: Any = None

    def end_session(self, evse: int, session: str) -> Path | None:
        path = super().end_session(evse, session)
        if path is None:
            return None
        acts: tuple[StationAction, ...] = ()
        if self.actions is not None:
            try:
                acts = tuple(self.actions(evse, session))
            except Exception:  # a scenario's bookkeeping must not lose the report
                log.exception("report: the station actions of evse%d %s are not available", evse, session)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="v2g-report", daemon=True)
                self._thread.start()
        try:
            self._jobs.put_nowait((path, evse, session, acts))
        except queue.Full:
            self.reports_failed += 1
        return path

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                path, evse, session, acts = job
                super().flush(30.0)  # the pcapng of this session is written by the log's own thread
                if self._codec is None:
                    from josev.v2g.codec import make_codec

                    self._codec = make_codec(self.codec_name)
                j, h = write_report(
                    path, self._codec, acts, {"evse": evse, "connection": session}, html=self.html
                )
                self.reports_written += 1
                log.info("report of evse%d %s: %s", evse, session, h or j)
                self.prune()
            except Exception:  # a bad session must not stop the reports of the next ones
                self.reports_failed += 1
                log.exception("report: writing the report of %s failed", job[0] if job else "?")
            finally:
                self._jobs.task_done()

    def prune(self) -> None:
        """Delete the reports whose pcapng the log's rotation deleted, and all but the newest ``max_html`` HTML
        reports (each carries plotly.js, ~5 MB; the JSON reports stay as long as their captures)."""
        if self.directory is None:
            return
        htmls: list[tuple[float, Path]] = []
        for p in self.directory.glob("v2g-*.report.*"):
            stem = p.name.split(".report.", 1)[0]
            with contextlib.suppress(OSError):
                if not (self.directory / f"{stem}.pcapng").exists():
                    p.unlink()
                elif p.suffix == ".html":
                    htmls.append((p.stat().st_mtime, p))
        htmls.sort()
        for _, p in htmls[: max(0, len(htmls) - self.max_html)]:
            with contextlib.suppress(OSError):
                p.unlink()

    def flush(self, timeout: float | None = 10.0) -> bool:
        ok = super().flush(timeout)
        if self._thread is None:
            return ok
        done = threading.Event()

        def waiter() -> None:
            self._jobs.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(timeout) and ok

    def close(self, timeout: float | None = 10.0) -> None:
        self.flush(timeout)
        super().close(timeout)
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._jobs.put_nowait(None)
            self._thread.join(timeout)
            self._thread = None


def report_folder(src: Path, dest: Path, codec: Any) -> list[tuple[Path, Path, Path | None, str]]:
    """Copy every ``v2g-*.pcapng`` of ``src`` into ``dest`` and write its report next to the copy (a folder that
    outlives a temporary one, e.g. the demo's). Returns (pcapng, JSON, HTML or None, verdict) per capture."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for cap in sorted(src.glob("v2g-*.pcapng")):
        copy = dest / cap.name
        shutil.copyfile(cap, copy)
        if (record := scenario_record_of(cap)).is_file():  # the station's actions go along with the capture
            shutil.copyfile(record, scenario_record_of(copy))
        try:
            j, h = write_report(copy, codec)
            verdict = str(json.loads(j.read_text())["summary"]["verdict"])
        except Exception as e:  # one broken capture must not hide the others' reports
            log.warning("report: %s: %s", cap.name, e)
            continue
        out.append((copy, j, h, verdict))
    return out
