# The two commands a newcomer needs. Both install what a fresh machine lacks.
.PHONY: demo test setup

demo: ## An offline Korean phone call on this machine (HARU_DEMO_LANG=en: English): local Whisper, Qwen, Kokoro; no key
	./scripts/demo.sh

test: ## The whole test suite (formatting, lints, unit, integration, real offline engines)
	./scripts/test.sh

setup:
	./scripts/setup.sh
