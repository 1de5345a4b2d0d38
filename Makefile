# Pub/Sub: a self-hostable, Cloudflare-Pub/Sub-compatible MQTT messaging service.
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: run test build vet fmt bench

## run: the all-in-one dev stack on loopback with the embedded store in .pubsub/
run:
	$(GO) run ./cmd/pubsub dev

## test: every test: unit, both stores (starts a throwaway Postgres), end to end
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

build:
	$(GO) build -o bin/pubsub ./cmd/pubsub

fmt:
	gofmt -l -w .
