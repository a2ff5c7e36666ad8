"""The exit statuses of the pipeline, in one place.

Every stage, the job verbs (`make transcribe|translate|subtitle`) and the launcher that
runs them report one of these, so that scripts can tell "your input" from "your setup":

    0  OK            done (a file with no speech is done too: it is a result, not an error)
    1  STAGE_FAILED  a stage failed on this input (bad or damaged media, a decoder error)
    2  USAGE         a setting or an argument is wrong (unknown setting, bad value, no FILE)
    3  MISSING       a model or an environment is missing (run ./cache-models.sh or
                     ./bootstrap.sh, as the message says)
    4  QC_FAILED     the subtitles break the rules and SUB_QC=fail asked to fail

A stage signals one of them by exiting with it; `make` itself always exits 2 on any
error, so the verb's own status is carried to the user by the launcher (see docs).
"""

from __future__ import annotations

OK = 0
STAGE_FAILED = 1
USAGE = 2
MISSING = 3
QC_FAILED = 4

MEANING = {
    OK: "done",
    STAGE_FAILED: "a stage failed on this input",
    USAGE: "usage or settings error",
    MISSING: "a model or environment is missing",
    QC_FAILED: "QC failed (SUB_QC=fail)",
}

# ---- carrying a status past make ---------------------------------------------------------
# ./pipeline names a file in PIPELINE_RESULT; preflight and every stage append one line
# "<status> <what>" to it. make exits 2 on any failure; ./pipeline exits with the status
# the failing step recorded (see pipeline_status).
RESULT_ENV = "PIPELINE_RESULT"


def record(status: int, what: str) -> None:
    """Append ``<status> <what>`` to the PIPELINE_RESULT file, when there is one."""
    import os

    path = os.environ.get(RESULT_ENV, "")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{status} {what}\n")
    except OSError:
        pass


def pipeline_status(make_status: int, lines: list[str]) -> int:
    """The verb's status from make's and the recorded lines.

    make 0 is done. Otherwise the first failure recorded wins; a make that failed after a
    passing preflight with no failure recorded lost a stage that died without a word (a
    crash, a kill): 1. Nothing recorded at all is make's own usage error: 2.
    """
    if make_status == 0:
        return OK
    recorded = []
    for line in lines:
        head = line.split(" ", 1)[0]
        if head.isdigit():
            recorded.append(int(head))
    failures = [s for s in recorded if s != OK]
    if failures:
        return failures[0] if failures[0] in MEANING else STAGE_FAILED
    return STAGE_FAILED if recorded else USAGE


def status_of(error: BaseException | None) -> int:
    """The exit status an error stands for: its own ``status`` (a class attribute such as
    ``status = outcome.MISSING`` on ModelNotCached, ModelMissing and EnvironmentError_) when
    that is one of the table's, else 1 (a stage failed on this input)."""
    status = getattr(error, "status", None)
    return status if isinstance(status, int) and status in MEANING and status != OK else STAGE_FAILED


def run_stage(main, stage: str, *, own_process: bool = False) -> None:  # noqa: ANN001 - a click command
    """Run a stage's Click command and exit with its status from the table above.

    Called from make (MAKELEVEL set) a failure is one line ``<stage>: error: ...`` (no
    Click usage text); by hand, Click's usage text stays for real usage errors. A missing
    model exits 3, a usage or settings error 2, any other failure 1; the status is recorded
    for ./pipeline. An unexpected exception's traceback goes to the stage's log file only.
    ``own_process``: this process is the stage's own (its file's ``__main__``), so it ends
    with :func:`leave`; a caller that goes on (a test, the environment manager) gets
    SystemExit.
    """
    import logging
    import os
    import sys
    import traceback

    import click

    from_make = bool(os.environ.get("MAKELEVEL"))
    try:
        returned = main.main(standalone_mode=False)
        status = returned if isinstance(returned, int) else OK
    except click.UsageError as exc:
        if from_make:
            print(f"{stage}: error: {exc.format_message()}", file=sys.stderr)
        else:
            exc.show()
        status = USAGE
    except click.ClickException as exc:
        status = status_of(exc.__cause__ or exc.__context__)
        print(f"{stage}: error: {exc.format_message()}", file=sys.stderr)
    except click.exceptions.Abort:
        print(f"{stage}: aborted", file=sys.stderr)
        status = STAGE_FAILED
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (OK if exc.code is None else STAGE_FAILED)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - the one place a stage's unexpected failure becomes a line
        status = status_of(exc)
        print(f"{stage}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        text = traceback.format_exc()
        files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
        for handler in files:
            handler.stream.write(text)
            handler.flush()
        if files:
            print(f"{stage}: the traceback is in {files[0].baseFilename}", file=sys.stderr)
        else:
            print(text, file=sys.stderr, end="")
    if status != OK:
        record(status, stage)
    if own_process:  # the stage's outputs are written and closed: skip the interpreter's teardown
        leave(status)
    sys.exit(status)


def leave(status: int) -> None:
    """End this stage process now with ``status``, its streams and log files flushed.

    A stage process's work is done when its command returns (atomic writes are renamed,
    the manifest is recorded); what the interpreter would still do is tear down its
    modules, which costs a stage with numpy and CTranslate2 loaded 50-70 ms of the job's
    time. Called only from a stage's own process (``run_stage``), never from one that
    goes on (the environment manager running a record-only stage in its interpreter).
    """
    import contextlib
    import logging
    import os
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken stream: nothing to keep
            stream.flush()
    os._exit(status)
