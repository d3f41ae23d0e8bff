# Latchkey container image.
#
# cgo: the SQLite driver (gorm.io/driver/sqlite, on mattn/go-sqlite3) is C
# code, so the build needs CGO_ENABLED=1 and a C compiler, and the binary
# links against glibc: the runtime stage is Debian, not scratch or Alpine.
# A CGO_ENABLED=0 build compiles but fails at runtime on the first SQLite
# open ("Binary was compiled with 'CGO_ENABLED=0', go-sqlite3 requires cgo").
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
# go.mod replaces github.com/ory/x with the trimmed copy here (see its README).
COPY third_party third_party
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /out/latchkey ./cmd/latchkey

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/latchkey --create-home latchkey
COPY --from=build /out/latchkey /usr/local/bin/latchkey
# Not root: the server needs no privilege (it binds 8080, not 80).
USER 10001:10001
WORKDIR /var/lib/latchkey
EXPOSE 8080
# The binary checks itself (the image has no curl): it reads listen from
# the config named by LATCHKEY_CONFIG and asks /healthz on loopback.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["latchkey", "healthcheck"]
ENTRYPOINT ["latchkey"]
CMD ["serve"]
