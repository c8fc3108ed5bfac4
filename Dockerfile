# The migtag container image: what the Helm pre-upgrade hook (examples/) and CI jobs run.
#
#   docker build -t ghcr.io/OWNER/migtag:dev .
#   docker run --rm ghcr.io/OWNER/migtag:dev check --version 165
#
# Two stages: the Rust toolchain builds the release binary; the runtime is Debian slim with
# only the CA certificates (migtag trusts the system store for PostgreSQL TLS, GitHub and
# registries), running as an unprivileged user (uid 65532, as the Helm example's
# runAsNonRoot/runAsUser expect). The release workflow (.github/workflows/release.yml)
# builds this file for linux/amd64 and linux/arm64 and pushes it to ghcr.io.

FROM rust:1-bookworm AS builder
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
COPY data/coder-index.json data/coder-index.json
# build.rs embeds the effects data too (schema verification).
COPY data/coder-effects.json data/coder-effects.json
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs benches/decide.rs benches/index_update.rs \
    && cargo build --release --locked --bin migtag \
    && rm -rf src benches
COPY src src
COPY benches benches
COPY data data
# Touch the sources so that cargo sees them newer than the placeholder build.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin migtag \
    && strip target/release/migtag

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 migtag \
    && useradd --system --uid 65532 --gid 65532 --home-dir /home/migtag --create-home \
       --shell /usr/sbin/nologin migtag
COPY --from=builder /src/target/release/migtag /usr/local/bin/migtag
# kubectl's plugin name, for images that also carry kubectl.
RUN ln -s migtag /usr/local/bin/kubectl-migtag
USER 65532:65532
WORKDIR /home/migtag
ENTRYPOINT ["/usr/local/bin/migtag"]
CMD ["--help"]
