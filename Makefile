# Offline-first subtitle and translation pipeline. `make` (or `make help`) lists the verbs.
# Settings are overridable: make translate FILE=x TGT=en,ta (see config/pipeline.env).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules --no-builtin-variables

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
ifeq ($(OS),Windows_NT)
  VENV_PY = .venvs/$(1)/Scripts/python.exe
else
  VENV_PY = .venvs/$(1)/bin/python
endif
COMMON_PY := $(ROOT)/$(call VENV_PY,common)
DEV_PY := $(ROOT)/$(call VENV_PY,dev)
EM := "$(COMMON_PY)" -m shared.environment_manager

# A verb that needs an environment checks it first and stops with the one-line fix.
need-env = @test -x "$(call VENV_PY,$(1))" || { echo "make: the $(1) environment is not built: run ./bootstrap.sh --envs $(1)" >&2; exit 2; }

.PHONY: help bootstrap cache-models test test-fast lint clean env-list check qc demo

## Show the verbs (default)
help:
	@echo "usage: make VERB [NAME=value ...]   (settings: config/pipeline.env)"
	@echo
	@awk '/^## /{doc=substr($$0,4); next} /^[a-zA-Z][a-zA-Z0-9_-]*:/{if(doc){split($$0,t,":"); printf "  %-14s %s\n", t[1], doc}; doc=""; next} {doc=""}' $(MAKEFILE_LIST)

## Build the environments and the hardware profile (ARGS="--cache-models" etc.)
bootstrap:
	./bootstrap.sh $(ARGS)

## Download and verify the models of config/models.toml (ARGS="--status" etc.)
cache-models:
	$(call need-env,common)
	./cache-models.sh $(ARGS)

## List the environments, whether each is built and up to date, and their stages
env-list:
	$(call need-env,common)
	@$(EM) list

## Say what is missing to run a workflow (WORKFLOW=transcribe|translate|subtitle)
check:
	$(call need-env,common)
	@$(EM) check $(if $(WORKFLOW),--workflow "$(WORKFLOW)")

## Check a subtitle file against the rules and rate its segmentation: make qc SUBS=file.srt|vtt|ass [FPS=25] [REF=theirs.srt] (fails on any violation)
qc:
	$(call need-env,common)
	@test -n "$${SUBS:-}" || { echo "make qc: set SUBS=path/to/file.srt (or .vtt/.ass)" >&2; exit 2; }
	@"$(COMMON_PY)" "$(ROOT)/stages/subtitle.py" check "$$SUBS" $(if $(FPS),--fps "$$FPS") $(if $(REF),--ref "$$REF") --strict

## Run every test that can run on this machine, lint included (PYTEST_ARGS to narrow)
test: lint
	$(call need-env,dev)
	"$(DEV_PY)" -m pytest $(PYTEST_ARGS)
	PATH="$(ROOT)/.venvs/dev/bin:$$PATH" bats tests/shell

## The fast tests only (no slow, no models)
test-fast:
	$(call need-env,dev)
	"$(DEV_PY)" -m pytest -m "not slow and not models" $(PYTEST_ARGS)

## shellcheck every shell script, ruff every Python file
lint:
	$(call need-env,dev)
	PATH="$(ROOT)/.venvs/dev/bin:$$PATH" shellcheck -x $$( { printf '%s\n' .ci/run pipeline; git ls-files --cached --others --exclude-standard '*.sh' '*.bats'; } | sort -u)
	"$(DEV_PY)" -m ruff check .

## Remove job outputs and logs (keeps environments and models)
clean:
	rm -rf -- out logs

# ---- jobs: the stage chain ----
# One job per input file: $(OUT_DIR)/<slug>/ (shared/job.py names it). Every artifact is a
# real file target; each stage also depends on params/<stage>.json, which
# `python -m shared.job prepare` rewrites (once per make run, at parse time) only when
# that stage's effective settings changed, so Make re-runs exactly what is out of date.
#
# Stage contract: every stages/<name>.py is one Click command called as
#     python stages/NAME.py INPUTS... -o OUTPUT [--EXTRA-OUTPUT PATH] --job-dir JOB
# run through the environment manager (its interpreter, cache paths, settings). A stage
# reads only the files Make passes it (each one a prerequisite, so the graph is whole) and
# writes its outputs atomically, its manifest.json entry (shared.job_manifest.StageRun; the
# translate stage under the key translate.<lang>) and logs/<name>.log.
#   demux     -o audio.wav --media-json media.json -- FILE
#   separate  audio.wav -o vocals.wav
#   vad       vocals.wav -o speech.json
#   diarize   audio.wav speech.json -o speakers.json (DIARIZE=off: a recorded "off", no turns)
#   asr       vocals.wav speech.json -o transcript.json
#   align     transcript.json vocals.wav --speech speech.json -o aligned.json --speakers speakers.json
#   translate aligned.json -o translation.LANG.json --language LANG
#   subtitle  aligned.json translation.LANG.json... --media media.json -o subs/tracks.json (+ subs/<name>.<lang>.srt|vtt|ass)
#   mux       media.json subs/tracks.json -o <name>.subtitled.mkv|mp4|mka --burn-output P | --no-burn
#
# FILE and every other setting reach recipes through the environment, never pasted into
# shell text: user-set settings are frozen to their literal value ($ included) and
# exported. Make 4.3's $(shell) does not see command-line variables, so they reach
# `shared.job prepare` through a file written with $(file ...). Settings the user did not
# set are not assigned here, so .env and config/pipeline.env still apply (precedence:
# flag > environment / make VAR= > .env > pipeline.env). MUX_TRACKS=path/tracks.json
# muxes hand-made subtitle tracks instead of the subtitle stage's.

JOB_VERBS := transcribe translate subtitle status
NON_JOB_VERBS := help bootstrap cache-models env-list check qc test test-fast lint clean demo
# make review only reads the job (and writes edits/ when the reviewer saves): no run lock, no params.
NON_JOB_VERBS += review
SETTING_NAMES := $(shell sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' "$(ROOT)/config/pipeline.env")
$(foreach v,$(SETTING_NAMES),$(if $(filter command line environment,$(origin $(v))),$(eval override $(v) := $$(value $(v)))$(eval export $(v))))

# A goal that is no verb (and no file path) stops at once with the nearest verb; a job
# verb before ./bootstrap.sh says so in one line (PIPELINE_RESULT: see ./pipeline).
UNKNOWN_GOALS := $(filter-out $(JOB_VERBS) $(NON_JOB_VERBS) batch-item-%,$(foreach g,$(MAKECMDGOALS),$(if $(findstring /,$(g)),,$(g))))
HAVE_COMMON := $(shell test -x "$(COMMON_PY)" && echo yes)
# The verb being run, for the stages' progress lines ("stage 4/8 asr 37% ETA 1:12", shared/progress.py).
export PIPELINE_VERB := $(firstword $(filter $(JOB_VERBS),$(MAKECMDGOALS)))
ifneq ($(UNKNOWN_GOALS),)
  ifneq ($(HAVE_COMMON),)
    $(error $(shell "$(COMMON_PY)" -m shared.preflight suggest-verb "$(firstword $(UNKNOWN_GOALS))" $(JOB_VERBS) $(NON_JOB_VERBS) 2>&1))
  endif
  $(if $(PIPELINE_RESULT),$(file >>$(PIPELINE_RESULT),2 make))
  $(error make: unknown verb '$(firstword $(UNKNOWN_GOALS))' (make help lists the verbs))
endif
ifneq ($(filter $(JOB_VERBS),$(MAKECMDGOALS)),)
  ifeq ($(HAVE_COMMON),)
    $(if $(PIPELINE_RESULT),$(file >>$(PIPELINE_RESULT),3 bootstrap))
    $(error the pipeline is not set up yet: run ./bootstrap.sh first (it builds .venvs/ in a few minutes))
  endif
endif

ifneq ($(filter $(JOB_VERBS),$(MAKECMDGOALS)),)
  ifeq ($(strip $(FILE))$(strip $(DIR)),)
    $(error FILE is not set: run e.g. make $(firstword $(filter $(JOB_VERBS),$(MAKECMDGOALS))) FILE=path/to/video.mkv (or DIR=folder/ for every media file in it))
  endif
  ifneq ($(strip $(FILE)),)
    ifneq ($(strip $(DIR)),)
      $(error set FILE= (one file) or DIR= (a folder), not both)
    endif
  endif
endif

# A run that can change the job holds its run lock until make ends (shared.job
# start_run_lock): a second make on the same job stops with a message. `status` and
# make -n/-q/-t only look, so they take no lock.
MAKE_FLAG_LETTERS := $(filter-out -%,$(firstword $(MAKEFLAGS)))
ifeq ($(findstring n,$(MAKE_FLAG_LETTERS))$(findstring q,$(MAKE_FLAG_LETTERS))$(findstring t,$(MAKE_FLAG_LETTERS)),)
  ifneq ($(filter-out status $(NON_JOB_VERBS),$(MAKECMDGOALS)),)
    HOLD_LOCK := --hold-for $$PPID
  endif
endif

# `status` and make -n/-q/-t only look: the job is named and compared in memory (prepare
# --dry writes nothing, creates no job directory); changed params files are phony there.
LOOK_ONLY := $(if $(filter-out status $(NON_JOB_VERBS),$(MAKECMDGOALS)),,status)$(findstring n,$(MAKE_FLAG_LETTERS))$(findstring q,$(MAKE_FLAG_LETTERS))$(findstring t,$(MAKE_FLAG_LETTERS))
PREPARE_DRY := $(if $(LOOK_ONLY),--dry)

ifneq ($(strip $(FILE)),)
ifneq ($(filter-out $(NON_JOB_VERBS),$(MAKECMDGOALS)),)
JOB_VARS := $(shell mktemp)
$(file >$(JOB_VARS))
$(foreach v,$(SETTING_NAMES),$(if $(filter override,$(origin $(v))),$(file >>$(JOB_VARS),$(v)=$(value $(v)))))
# Preflight (shared/preflight.py), in the same process before prepare writes anything:
# every setting, model, environment and the input; all problems at once, then stop.
ifneq ($(filter-out status $(NON_JOB_VERBS),$(MAKECMDGOALS)),)
PREFLIGHT := --preflight "$(firstword $(filter-out status $(NON_JOB_VERBS),$(MAKECMDGOALS)))" --names "$(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v)))"
endif
JOB_INFO := $(shell "$(COMMON_PY)" -m shared.job prepare --vars-file "$(JOB_VARS)" $(HOLD_LOCK) $(PREPARE_DRY) $(PREFLIGHT); s=$$?; rm -f "$(JOB_VARS)"; exit $$s)
ifneq ($(.SHELLSTATUS),0)
  $(error stopped before any stage ran (see the message above))
endif
ifeq ($(JOB_INFO),)
  $(error cannot set up the job for FILE (see the message above))
endif
J := $(word 1,$(JOB_INFO))
P := $(J)/params
MUXED := $(J)/$(word 2,$(JOB_INFO))
BURNED := $(addprefix $(J)/,$(filter-out -,$(word 3,$(JOB_INFO))))
LANGS := $(filter-out changed:%,$(wordlist 4,$(words $(JOB_INFO)),$(JOB_INFO)))
TRANSLATIONS := $(foreach l,$(LANGS),$(J)/translation.$(l).json)
TRACKS := $(if $(MUX_TRACKS),$(MUX_TRACKS),$(J)/subs/tracks.json)
# prepare --dry adds changed:<params name> for each params file whose settings changed:
# phony here, so that make -n shows the stages a real run would redo, writing nothing.
CHANGED_PARAMS := $(patsubst changed:%,$(P)/%.json,$(filter changed:%,$(JOB_INFO)))
ifneq ($(CHANGED_PARAMS),)
.PHONY: $(CHANGED_PARAMS)
$(CHANGED_PARAMS): ; @:
endif

# $(call run-stage,NAME): run stages/NAME.py in its environment, or stop with one line
# when that stage is not written yet.
# PIPELINE_OWNER_PID is this make (the recipe shell's parent): the stage's launcher
# (shared/launcher.py) stops the stage when that make is gone, even after kill -9.
# The GPU-heavy stages (shared.policy.GPU_STAGES): with DEVICE=cuda|mps the environment
# manager's run takes shared.gpu_lock's lock first, in its own process, so one of them runs
# at a time per GPU across every job (make -j, batches, other make runs); on a CPU, none.
# So a stage starts two interpreters (the manager's and its own), and one when it needs
# only the common one (an "off" to record, align on the ASR pass's word times): the
# manager runs it itself (environment_manager.LIGHT_STAGES).
GPU_STAGES := separate diarize asr align translate
run-stage = test -f "$(ROOT)/stages/$(1).py" || { echo "make: stage $(1) is not available yet (stages/$(1).py does not exist)" >&2; exit 2; }; PIPELINE_OWNER_PID=$$PPID $(EM) run $(1) -- python "$(ROOT)/stages/$(1).py"

$(J)/audio.wav $(J)/media.json &: $(P)/demux.json
	@$(call run-stage,demux) -o "$(J)/audio.wav" --media-json "$(J)/media.json" --job-dir "$(J)" -- "$$FILE"

$(J)/vocals.wav: $(J)/audio.wav $(P)/separate.json
	@$(call run-stage,separate) "$(J)/audio.wav" -o "$@" --job-dir "$(J)"

$(J)/speech.json: $(J)/vocals.wav $(P)/vad.json
	@$(call run-stage,vad) "$(J)/vocals.wav" -o "$@" --job-dir "$(J)"

$(J)/speakers.json: $(J)/audio.wav $(J)/speech.json $(P)/diarize.json
	@$(call run-stage,diarize) "$(J)/audio.wav" "$(J)/speech.json" -o "$@" --job-dir "$(J)"

$(J)/transcript.json: $(J)/vocals.wav $(J)/speech.json $(P)/asr.json
	@$(call run-stage,asr) "$(J)/vocals.wav" "$(J)/speech.json" -o "$@" --job-dir "$(J)"

$(J)/aligned.json $(J)/transcript.txt &: $(J)/transcript.json $(J)/vocals.wav $(J)/speech.json $(J)/speakers.json $(P)/align.json
	@$(call run-stage,align) "$(J)/transcript.json" "$(J)/vocals.wav" --speech "$(J)/speech.json" -o "$(J)/aligned.json" --speakers "$(J)/speakers.json" --job-dir "$(J)"

$(J)/translation.%.json: $(J)/aligned.json $(P)/translate.%.json
	@$(call run-stage,translate) "$(J)/aligned.json" -o "$@" --language "$*" --job-dir "$(J)"

$(J)/subs/tracks.json: $(J)/aligned.json $(TRANSLATIONS) $(J)/media.json $(P)/subtitle.json
	@$(call run-stage,subtitle) "$(J)/aligned.json" $(foreach t,$(TRANSLATIONS),"$(t)") --media "$(J)/media.json" -o "$@" --job-dir "$(J)"

# The reviewer's corrections (make review) re-run the subtitle stage and the mux, nothing upstream.
$(J)/subs/tracks.json: $(wildcard $(J)/edits/*.json)

$(MUXED) $(BURNED) &: $(J)/media.json $(TRACKS) $(P)/mux.json
	@$(call run-stage,mux) "$(J)/media.json" "$(TRACKS)" -o "$(MUXED)" $(if $(BURNED),--burn-output "$(BURNED)",--no-burn) --job-dir "$(J)"

STATUS_TARGETS := demux=$(J)/media.json separate=$(J)/vocals.wav vad=$(J)/speech.json diarize=$(J)/speakers.json asr=$(J)/transcript.json \
  align=$(J)/aligned.json $(foreach l,$(LANGS),translate.$(l)=$(J)/translation.$(l).json) \
  subtitle=$(J)/subs/tracks.json mux=$(MUXED)
endif
endif

# ---- batches: DIR=folder/ runs every media file in it as its own job ----
# shared.batch lists the files (recursively; see docs/user-guide.md) at parse time into
# OUT_DIR/.batch/<verb>-<hash>/files.json; item N runs a sub-make with FILE=<file N> in
# its environment (never in a target name or shell text), so make -j N runs N jobs at
# once and every job keeps its own run lock. An item records its result and exits 0, so
# one bad file does not stop the rest; the verb's recipe prints the table and fails when
# any file failed.
BATCH_VERBS := transcribe translate subtitle
ifeq ($(strip $(FILE)),)
ifneq ($(strip $(DIR)),)
ifneq ($(filter $(JOB_VERBS),$(MAKECMDGOALS)),)
BATCH_VERB := $(filter $(BATCH_VERBS),$(MAKECMDGOALS))
ifneq ($(words $(BATCH_VERB)),1)
  $(error DIR= runs one of $(BATCH_VERBS) over a folder, one verb at a time (status takes FILE=))
endif
ifneq ($(filter-out $(BATCH_VERB) $(NON_JOB_VERBS),$(MAKECMDGOALS)),)
  $(error DIR= runs one of $(BATCH_VERBS) over a folder, one verb at a time (status takes FILE=))
endif
BATCH_VARS := $(shell mktemp)
$(file >$(BATCH_VARS))
$(foreach v,$(SETTING_NAMES),$(if $(filter override,$(origin $(v))),$(file >>$(BATCH_VARS),$(v)=$(value $(v)))))
BATCH_INFO := $(shell "$(COMMON_PY)" -m shared.batch list --verb $(BATCH_VERB) --vars-file "$(BATCH_VARS)"; rm -f "$(BATCH_VARS)")
ifeq ($(BATCH_INFO),)
  $(error cannot start the batch for DIR (see the message above))
endif
BATCH_STATE := $(word 1,$(BATCH_INFO))
BATCH_ENGINE := $(word 3,$(BATCH_INFO))
ifneq ($(BATCH_ENGINE),ray)
BATCH_ITEMS := $(addprefix batch-item-,$(shell seq 1 $(word 2,$(BATCH_INFO))))
endif
endif
endif
endif

.PHONY: $(JOB_VERBS) $(BATCH_ITEMS)

ifneq ($(BATCH_STATE),)
ifneq ($(BATCH_ENGINE),ray)
$(BATCH_ITEMS): batch-item-%:
	@"$(COMMON_PY)" -m shared.batch run-one --state-dir "$(BATCH_STATE)" --index $* -- $(MAKE) --no-print-directory -C "$(ROOT)" $(BATCH_VERB) DIR=

# In a batch the three verbs end with the table of results.
transcribe translate subtitle: $(BATCH_ITEMS)
	@"$(COMMON_PY)" -m shared.batch report --state-dir "$(BATCH_STATE)"
else
# ENGINE=ray: shared.cluster (in the cluster environment) runs one Ray task per file, each
# `make VERB FILE=...` in the checkout of its node, and prints the same table (plus nodes).
transcribe translate subtitle:
	$(call need-env,cluster)
	@"$(ROOT)/$(call VENV_PY,cluster)" -m shared.cluster run --state-dir "$(BATCH_STATE)" --verb $(BATCH_VERB)
endif
else

## Transcribe FILE=...: demux, separate, vad, asr, align (SRC=, AUDIO_TRACK=, START=, END=; DIR=folder/ for a batch)
transcribe: $(J)/aligned.json $(J)/transcript.txt
	@"$(COMMON_PY)" -m shared.export --verb transcribe --job-dir "$(J)" --output "$(J)/aligned.json" --output "$(J)/transcript.txt"

## Translate FILE=... (or DIR=folder/) into TGT=en,ta and write the subtitle files
translate: $(TRANSLATIONS) $(TRACKS)
	@"$(COMMON_PY)" -m shared.export --verb translate --job-dir "$(J)" $(if $(MUX_TRACKS),,--tracks "$(TRACKS)") $(foreach t,$(TRANSLATIONS),--output "$(t)")
	@$(if $(MUX_TRACKS),:,"$(COMMON_PY)" "$(ROOT)/stages/subtitle.py" summary "$(TRACKS)")

## Subtitle FILE=... (or DIR=folder/, make -j N for N jobs at once) end to end and mux the tracks into a copy (BURN=1: hard-subtitled too; EXPORT= where the .srt go)
subtitle: $(MUXED) $(BURNED)
	@"$(COMMON_PY)" -m shared.export --verb subtitle --job-dir "$(J)" $(if $(MUX_TRACKS),,--tracks "$(TRACKS)") --muxed "$(MUXED)" $(if $(BURNED),--output "$(BURNED)")
	@$(if $(MUX_TRACKS),:,"$(COMMON_PY)" "$(ROOT)/stages/subtitle.py" summary "$(TRACKS)")
endif

## Subtitle the sample clip samples/demo.mp4 end to end: bootstraps and fetches small models as needed (ARGS="--no-fetch")
demo:
	@"$(ROOT)/samples/demo.sh" $(ARGS)

## Show each stage of FILE=...'s job: done, out of date (and why), running or missing; writes nothing
status:
	@"$(COMMON_PY)" -m shared.job_status --job-dir "$(J)" $(addprefix --target ,$(STATUS_TARGETS))

.PHONY: review
## Review FILE=...'s (or DIR=folder/'s) subtitles on a local page: watch, check and correct the cues, then make subtitle applies them (REVIEW_PORT=, REVIEW_OPEN=1)
review:
	$(call need-env,common)
	@test -n "$${FILE:-}$${DIR:-}" || { echo "make review: set FILE=path/to/video (the input whose job to review) or DIR=folder/" >&2; exit 2; }
	@if [ -n "$${FILE:-}" ]; then "$(COMMON_PY)" "$(ROOT)/stages/review.py" --file "$$FILE"; else "$(COMMON_PY)" "$(ROOT)/stages/review.py" --dir "$$DIR"; fi
