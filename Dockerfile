# One image for every process: pubsub controlplane, pubsub broker serve, ...
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
# mochi-mqtt is a patched fork in third_party/, wired in by a replace directive.
COPY third_party/mochi-mqtt/go.mod third_party/mochi-mqtt/go.sum third_party/mochi-mqtt/
RUN go mod download
COPY . .
# .git stays out of the build context: the version comes from the build
# argument (docker build --build-arg VERSION=$(git describe --tags --always)).
ARG VERSION=""
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /pubsub ./cmd/pubsub
# The node's data dir, and the certificate and secret dirs that
# docker-compose.yml's one-shot services fill, owned by the unprivileged
# user below, so that a named volume mounted there starts writable.
RUN mkdir -p /empty/data /empty/certs /empty/secrets

# Runs as an unprivileged user (uid 65532); the ports are above 1024.
# The image has no shell and no curl: health checks run
# `pubsub healthcheck --url ...`.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /pubsub /usr/local/bin/pubsub
COPY --from=build --chown=65532:65532 /empty/data /data
COPY --from=build --chown=65532:65532 /empty/certs /certs
COPY --from=build --chown=65532:65532 /empty/secrets /secrets
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/pubsub"]
