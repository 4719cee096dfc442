# thermostereo_ros developer entry points. `make test` and `make demo` set up everything they
# need on a fresh machine (Python 3.11 + pip; no ROS install: ROS 2 comes from PyPI wheels).

PYTHON ?= python3.11
VENV ?= .venv
JAZZY_VENV ?= .venv-jazzy
PY := $(VENV)/bin/python
JAZZY_PY := $(JAZZY_VENV)/bin/python

# DDS stays on this machine: discovery on loopback only, and a domain of our own per run so
# parallel runs (and other ROS users) do not see each other. Humble users: ROS_LOCALHOST_ONLY=1.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_LOCALHOST_ONLY := 0
ROS_DOMAIN_ID ?= $(shell $(PYTHON) -c 'import random; print(random.randint(1, 100))')
export ROS_DOMAIN_ID
export PYTHONDONTWRITEBYTECODE := 1
# Two cores here: let torch use both, and no more.
export OMP_NUM_THREADS ?= 2

.PHONY: all setup test test-kilted test-jazzy typecheck demo bench lint clean ablation ablation-v2 \
	ablation-v2-ext ablation-v2-ext2 ablation-v2-ext3 ablation-v2-ext4 training-state

all: test

# msg/ is built with CMake for each venv (scripts/build_interfaces.sh: ~15 s).
INTERFACES := CMakeLists.txt package.xml $(wildcard msg/*.msg) cmake/drop_missing_include_dirs.cmake scripts/build_interfaces.sh

$(VENV)/.installed: requirements/dev-kilted.txt requirements/constraints-kilted.txt setup.py $(INTERFACES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev-kilted.txt -c requirements/constraints-kilted.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	scripts/build_interfaces.sh $(VENV) build/interfaces-kilted
	touch $@

$(JAZZY_VENV)/.installed: requirements/dev-jazzy.txt requirements/constraints-jazzy.txt setup.py $(INTERFACES)
	test -x $(JAZZY_PY) || $(PYTHON) -m venv $(JAZZY_VENV)
	$(JAZZY_PY) -m pip install -q --upgrade pip
	$(JAZZY_PY) -m pip install -q -r requirements/dev-jazzy.txt -c requirements/constraints-jazzy.txt
	$(JAZZY_PY) -m pip install -q --no-deps --no-build-isolation -e .
	scripts/build_interfaces.sh $(JAZZY_VENV) build/interfaces-jazzy
	touch $@

setup: $(VENV)/.installed $(JAZZY_VENV)/.installed

# The user's first command, `make demo`, on the shipped weights (so that it cannot rot), then
# the whole suite on Kilted, then the ROS-facing tests again on Jazzy.
test: demo test-kilted test-jazzy

test-kilted: $(VENV)/.installed typecheck
	@echo "ROS_DOMAIN_ID=$(ROS_DOMAIN_ID) ROS_AUTOMATIC_DISCOVERY_RANGE=$(ROS_AUTOMATIC_DISCOVERY_RANGE)"
	$(PY) -m pytest -rs -q --durations=15 test

# mypy over the package, strict (every function annotated), with setup.cfg's [mypy] section.
typecheck: $(VENV)/.installed
	$(PY) -m mypy thermostereo_ros

test-jazzy: $(JAZZY_VENV)/.installed
	$(JAZZY_PY) -m pytest -rs -q -m ros test

# Latency, accuracy and node end-to-end numbers of docs/PERFORMANCE.md (run on a quiet machine).
bench: $(VENV)/.installed
	$(PY) -m thermostereo_ros.cli.main bench --out bench_out

lint: $(VENV)/.installed
	$(PY) -m flake8 thermostereo_ros test launch setup.py

# The main job: a synthetic day + night sequence as bags, replayed over DDS into the node,
# scored against ground truth next to SGBM; writes demo_out/. Uses the shipped weights.
demo: $(VENV)/.installed
	$(PY) -m thermostereo_ros.cli.main demo --out demo_out

clean:
	rm -rf $(VENV) $(JAZZY_VENV) build *.egg-info demo_out bench_out

# Reliability figures (test/test_reliability.py writes bench_out/reliability-<distro>.json on
# every run) rendered into docs/RELIABILITY.md. Only this explicit target rewrites the doc.
.PHONY: reliability-report
reliability-report: $(VENV)/.installed $(JAZZY_VENV)/.installed
	rm -f bench_out/reliability-*.json
	$(PY) -m pytest -q test/test_reliability.py
	$(JAZZY_PY) -m pytest -q -m ros test/test_reliability.py
	$(PY) scripts/reliability_report.py

# The ablation of docs/RESULTS.md from scratch: teacher, students (a) (b) (c), then the table on
# the held-out set. About 2.5 h on 2 CPU cores (each run one thread); minutes on a GPU.
TRAIN := OMP_NUM_THREADS=1 $(PY) -m thermostereo_ros.cli.main train --no-progress
ablation: $(VENV)/.installed
	$(TRAIN) --config config/train/teacher.yaml & \
	  $(TRAIN) --config config/train/student_sparse.yaml & wait
	$(TRAIN) --config config/train/student_kd.yaml & \
	  $(TRAIN) --config config/train/student_kd_norefine.yaml & wait
	$(PY) -m thermostereo_ros.cli.main ablation --runs runs --out runs/ablation.json

# Finished runs' weights (training_state/*.safetensors, 135 MB) left the tree after commit
# TRAINING_STATE_AT, so that the tree fits the 64 MiB a GPU machine takes (see
# training_state/README.md). This brings them back from history, untracked.
TRAINING_STATE_AT := e89c464
training-state:
	git restore --source=$(TRAINING_STATE_AT) --worktree -- 'training_state/*.safetensors'

# The ablation on renderer v2 data (issue #12): (a) sparse GT, (b) + distillation, (c) (b)
# without the refinement, 2,000 steps each on the training cache (thermostereo synth --cache),
# then the table on the held-out set. The teacher is student_v2 at step 16,000 (dense GT),
# the shipped weights of commit 29b563c. Resumable: rerun after a stop. Finished runs' weights
# were committed as training_state/ablation_v2_<run>.final.safetensors (5 MB, not the 14 MB
# state; now in history, `make training-state`), an unfinished run's state would be
# training_state/ablation_v2_<run>.safetensors.
ABLATION_V2 := $(HOME)/.cache/thermostereo/runs/ablation_v2
ABLATION_V2_EXT := $(HOME)/.cache/thermostereo/runs/ablation_v2_ext
ABLATION_V2_EXT2 := $(HOME)/.cache/thermostereo/runs/ablation_v2_ext2
ABLATION_V2_EXT3 := $(HOME)/.cache/thermostereo/runs/ablation_v2_ext3
ABLATION_V2_EXT4 := $(HOME)/.cache/thermostereo/runs/ablation_v2_ext4

# One stage of the v2 ablation: $(1) is the config suffix ("", _ext, ... _ext4), $(2) its runs
# folder. Each stage's folder holds a copy of the teacher, which the table reads.
define ablation_v2_stage
	test -s training_state/ablation_v2_kd.final.safetensors || $(MAKE) training-state
	mkdir -p $(ABLATION_V2)/teacher $(2)/teacher
	test -s $(ABLATION_V2)/teacher/final.safetensors || git show \
	  29b563c:thermostereo_ros/weights/thermostereo_rt_default.safetensors \
	  > $(ABLATION_V2)/teacher/final.safetensors
	test "$(2)" = "$(ABLATION_V2)" || \
	  cp $(ABLATION_V2)/teacher/final.safetensors $(2)/teacher/final.safetensors
	for run in sparse kd kd_norefine; do \
	  out=$(2)/student_$$run; kept=training_state/ablation_v2_$${run}$(1).final.safetensors; \
	  if [ ! -s $$out/final.safetensors ] && [ -s $$kept ]; then \
	    mkdir -p $$out && cp $$kept $$out/final.safetensors; fi; \
	  test -s $$out/final.safetensors || \
	  OMP_NUM_THREADS=2 $(PY) -m thermostereo_ros.cli.main train --no-progress --resume \
	    --config config/train/$(if $(1),history/)ablation_v2_$${run}$(1).yaml \
	    --state training_state/ablation_v2_$${run}$(1).safetensors || exit 1; done
	$(PY) -m thermostereo_ros.cli.main ablation --runs $(2) --out $(2)/ablation.json
endef

ablation-v2: $(VENV)/.installed
	$(call ablation_v2_stage,,$(ABLATION_V2))

# The same ablation at two to five times the budget: each of (a) (b) (c) continued 2,000 steps
# from the previous stage's committed weights (config/train/history/ablation_v2_<run>_ext.yaml, then
# _ext2 to _ext4), then the table. One run after another here; on 2 cores two runs side by
# side, one thread each, finish sooner (docs/TRAINING.md).
ablation-v2-ext: $(VENV)/.installed
	$(call ablation_v2_stage,_ext,$(ABLATION_V2_EXT))

ablation-v2-ext2: $(VENV)/.installed
	$(call ablation_v2_stage,_ext2,$(ABLATION_V2_EXT2))

ablation-v2-ext3: $(VENV)/.installed
	$(call ablation_v2_stage,_ext3,$(ABLATION_V2_EXT3))

ablation-v2-ext4: $(VENV)/.installed
	$(call ablation_v2_stage,_ext4,$(ABLATION_V2_EXT4))
