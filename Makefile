# templated: build, test and tool targets. `make help` lists them.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
TOOLS := $(CURDIR)/.tools
export PATH := $(TOOLS)/bin:$(PATH)
export PACKER_PLUGIN_PATH := $(TOOLS)/plugins
# Packer must not phone home for checkpoint/upgrade notices.
export CHECKPOINT_DISABLE := 1
GO ?= go

.PHONY: help
help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

.PHONY: build
build: ## build dist/templated
	@echo "==> building templated $(VERSION)"
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o dist/templated ./cmd/templated

.PHONY: deps
deps: ## install the Debian packages the builds and tests use, when missing (xorriso, systemd-analyze, git, ssh-agent for the litewitness tests, chromium for the status page's browser test)
	@need=""; command -v xorriso >/dev/null || need="$$need xorriso"; \
	command -v git >/dev/null || need="$$need git"; \
	command -v systemd-analyze >/dev/null || need="$$need systemd"; \
	command -v ssh-agent >/dev/null || need="$$need openssh-client"; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	if [ -n "$$need" ]; then \
	  echo "==> installing Debian packages:$$need"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root, or: sudo apt-get install$$need" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need; \
	fi

.PHONY: demo
demo: deps build tools ## run templated end to end on the embedded simulator with real Packer
	@scripts/demo.sh

.PHONY: tools
tools: ## build Packer v1.11.2 and the newest packer-plugin-proxmox the Go module proxy serves into .tools/ (reused when present; PLUGIN_SRC=DIR: the plugin from a source tree, PLUGIN_VERSION=X.Y.Z: that version)
	@tools/build.sh $(if $(PLUGIN_SRC),--src "$(PLUGIN_SRC)") $(if $(PLUGIN_VERSION),--version "$(PLUGIN_VERSION)") "$(TOOLS)"

.PHONY: test-plugin
test-plugin: deps ## the real-Packer end-to-end tests with packer-plugin-proxmox built from PLUGIN_SRC=DIR, in .tools-plugin/ (.tools/ stays)
	@test -n "$(PLUGIN_SRC)" || { echo "usage: make test-plugin PLUGIN_SRC=DIR (a packer-plugin-proxmox source tree; packer/README.md)" >&2; exit 2; }
	@tools/test-plugin.sh "$(PLUGIN_SRC)" "$(CURDIR)/.tools-plugin"

.PHONY: test
test: deps tools ## the full test suite: unit, race, real Packer, workspace validation, fuzz smoke
	@echo "==> go vet"
	$(GO) vet ./...
	@echo "==> go test -race (real Packer, chromium and systemd-analyze required)"
	TEMPLATED_REQUIRE_PACKER=1 TEMPLATED_REQUIRE_BROWSER=1 TEMPLATED_REQUIRE_SYSTEMD=1 $(GO) test -race -count=1 -timeout 20m ./...
	@echo "==> packer workspace validation"
	$(MAKE) -C packer validate
	@echo "==> fuzz smoke"
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 20s ./internal/state/

.PHONY: test-short
test-short: ## quick tests, skipping those that need Packer
	$(GO) test -count=1 ./...

.PHONY: bench
bench: tools ## run the benchmarks and print figures
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: verify
verify: ## gofmt, go vet, go mod tidy check
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) mod tidy && git diff --exit-code go.mod go.sum

.PHONY: install
PREFIX ?= /usr/local
install: build tools ## install binary, Packer, unit and example config under $(DESTDIR)$(PREFIX) (never overwrites /etc/templated files)
	install -D -m0755 dist/templated $(DESTDIR)$(PREFIX)/bin/templated
	install -D -m0755 .tools/bin/packer $(DESTDIR)$(PREFIX)/lib/templated/bin/packer
	mkdir -p $(DESTDIR)$(PREFIX)/lib/templated/plugins
	cp -R .tools/plugins/. $(DESTDIR)$(PREFIX)/lib/templated/plugins/
	install -D -m0644 systemd/templated.service $(DESTDIR)/etc/systemd/system/templated.service
	install -D -m0644 systemd/templated.env.example $(DESTDIR)/etc/templated/templated.env.example
	install -D -m0644 docs/operations.md $(DESTDIR)$(PREFIX)/share/doc/templated/operations.md

.PHONY: clean
clean: ## remove build output (keeps .tools)
	rm -rf dist
