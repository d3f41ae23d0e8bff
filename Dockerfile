# Build: cgo is needed by the embedded SQLite driver.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/latchkey ./cmd/latchkey

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/latchkey --create-home latchkey
COPY --from=build /out/latchkey /usr/local/bin/latchkey
USER latchkey
WORKDIR /var/lib/latchkey
EXPOSE 8080
ENTRYPOINT ["latchkey"]
CMD ["serve"]
