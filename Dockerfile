# Builds the gatectl-runtime image: a static-ish release binary on a small Debian base, run as a
# non-root user. Build with `docker build -t gatectl-runtime .` from the repository root.
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p gatectl-runtime -p gatectl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/gatectl --create-home gatectl
COPY --from=build /src/target/release/gatectl-runtime /usr/local/bin/gatectl-runtime
COPY --from=build /src/target/release/gatectl /usr/local/bin/gatectl
USER 10001
EXPOSE 8080 9901
ENTRYPOINT ["/usr/local/bin/gatectl-runtime"]
CMD ["--listen", "0.0.0.0:8080", "--admin-listen", "0.0.0.0:9901", "--admin-token-file", "/etc/gatectl/admin-token"]
