# One image for every process: pubsub controlplane, pubsub broker serve, ...
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /pubsub ./cmd/pubsub

FROM gcr.io/distroless/static-debian12
COPY --from=build /pubsub /usr/local/bin/pubsub
ENTRYPOINT ["/usr/local/bin/pubsub"]
