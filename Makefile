# Pub/Sub: a self-hostable, Cloudflare-Pub/Sub-compatible MQTT messaging service.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test build vet fmt bench

## run: the all-in-one dev stack on loopback with the embedded store in .pubsub/
run:
	$(GO) run ./cmd/pubsub dev

## test: every test: unit, both stores (starts a throwaway Postgres), end to end
test: e2e/node_modules/.installed
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

# The end-to-end tests run real JavaScript clients (MQTT.js, jose).
e2e/node_modules/.installed: e2e/package.json e2e/package-lock.json
	cd e2e && npm ci --no-audit --no-fund
	touch $@

build:
	$(GO) build -o bin/pubsub ./cmd/pubsub

fmt:
	gofmt -l -w .
