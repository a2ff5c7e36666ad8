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
