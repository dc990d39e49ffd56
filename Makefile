# Every target installs what it needs into .venv first, so on a fresh machine
# `make demo` and `make test` are the whole set-up.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# TFX 1.21 cannot be resolved by pip on Python 3.11 (ml-metadata and
# tensorflow-data-validation 1.21 have no wheel there). This is the verified
# set (docs/design.md, Dependencies): the TFX packages without their dependencies, then the
# few runtime dependencies the ExampleGen components need.
TFX_NODEPS := tfx==1.21.0 ml-pipelines-sdk==1.21.0 ml-metadata==1.17.1 \
              tensorflow-model-analysis==0.52.0 tensorflow-transform==1.21.0
TFX_DEPS   := "tf-keras==2.21.*" "pydot<2" "docker<8" "jinja2<4" "portpicker<2" \
              "click<9" "keras-tuner>=1.0.4,!=1.4.0,!=1.4.1,<2" \
              "tensorflow-hub>=0.15,<0.16" scipy "kubernetes<27"

# The image tests read the sample photographs inside scikit-learn's wheel; it is
# downloaded, not installed: TFX imports scikit-learn when it can (about 100 MB).
SAMPLES := $(VENV)/share/sample-wheels

TAXI_CSV = $(VENV)/lib/python3.11/site-packages/tfx/examples/chicago_taxi_pipeline/data/simple/data.csv

.PHONY: install demo demo-sql test lint bench clean template-spec

install: $(STAMP)

$(STAMP): setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps $(TFX_NODEPS)
	$(BIN)/pip install --quiet $(TFX_DEPS)
	$(BIN)/pip download --quiet --no-deps --dest $(SAMPLES) "scikit-learn>=1.5"
	touch $(STAMP)

demo: $(STAMP)
	rm -rf demo_output
	$(BIN)/beam-ingest run --format csv --input $(TAXI_CSV) --output demo_output
	@echo
	@echo "Output written to demo_output/. Look inside with:"
	@echo "  $(BIN)/beam-ingest inspect demo_output"

demo-sql: $(STAMP)  # a throwaway PostgreSQL from a wheel, the taxi table, one ingest
	$(BIN)/python examples/sql_demo.py demo_sql_output
	@echo "Look inside with: $(BIN)/beam-ingest inspect demo_sql_output"

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check beam_ingest transforms connectors tests benchmarks examples templates
	$(BIN)/ruff format --check beam_ingest transforms connectors tests benchmarks examples templates

template-spec: $(STAMP)
	$(BIN)/python templates/spec.py --check

bench: $(STAMP)  # over an hour on 2 cores; smoke run: benchmarks/run.py --quick --scaling
	$(BIN)/python benchmarks/run.py --scaling
	$(BIN)/python benchmarks/sequences.py data
	$(BIN)/python benchmarks/sequences.py bench --repeat 3

clean:
	rm -rf $(VENV) demo_output demo_sql_output benchmarks/work *.egg-info

# --- Flink and Spark (engines/cluster.py; docs/runners.md) --------------------
# The Beam job-server jars come from Maven Central with `mvn dependency:copy`
# into $(VENV)/share/jars (a jar already there is kept); beam-ingest passes them
# to Beam itself (beam_ingest/runners.py). flink-up/spark-up install the Flink
# 2.2 / Spark 3.5 distributions from the apache-flink / pyspark wheels into
# folders of their own ($(VENV)/share/flink, $(VENV)/share/spark; never into the
# venv) and start a cluster on 127.0.0.1 with a Beam worker pool beside it.
FLINK_VERSION ?= 2.2
ENGINES := $(BIN)/python engines/cluster.py

.PHONY: jars flink-up flink-down spark-up spark-down test-engines bench-engines

jars: $(STAMP)
	$(ENGINES) jars --flink-version $(FLINK_VERSION)

flink-up: $(STAMP)
	$(ENGINES) flink-up

flink-down:
	$(ENGINES) flink-down

spark-up: $(STAMP)
	$(ENGINES) spark-up

spark-down:
	$(ENGINES) spark-down

test-engines: $(STAMP)  # starts and stops the clusters itself
	$(BIN)/python -m pytest -q tests/engines

bench-engines: $(STAMP)  # ENGINE_ROWS=300000 by default
	$(BIN)/python benchmarks/engines.py --rows $(or $(ENGINE_ROWS),300000)
