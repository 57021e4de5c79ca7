# The Blu Markets server image. The binary is built on the host (Debian bookworm, the same
# distribution as the image; `cargo build --release -p blu`), so the image carries only the binary
# and what it needs at run time: glibc, CA certificates, curl for the health check, tini as PID 1.
# Base images are made locally from Debian packages by scripts/base-images (no registry needed).
#
#   scripts/base-images && cargo build --release -p blu && docker build -t blu:latest .
#   docker run blu:latest            # blu serve
#   docker run blu:latest worker     # blu worker (PostgreSQL); also migrate, verify-ledger, ...
ARG RUNTIME=blu-runtime:bookworm

# Stage 1: the binary, stripped (binutils stays in this stage).
FROM ${RUNTIME} AS binary
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils >/dev/null
COPY target/release/blu /out/blu
RUN strip /out/blu && chmod 0755 /out/blu

# Stage 2: the run-time image.
FROM ${RUNTIME}
RUN groupadd --system --gid 10001 blu \
 && useradd --system --uid 10001 --gid blu --home-dir /var/lib/blu --shell /usr/sbin/nologin blu \
 && mkdir -p /var/lib/blu && chown blu:blu /var/lib/blu
COPY --from=binary /out/blu /usr/local/bin/blu
USER blu:blu
WORKDIR /var/lib/blu
ENV DATA_DIR=/var/lib/blu PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT}/health" >/dev/null || exit 1
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/blu"]
CMD ["serve"]
