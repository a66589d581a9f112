# syntax=docker/dockerfile:1
# The dockopt frontend image, as a user with a registry builds it:
#   docker build -t myorg/dockopt-frontend .
# then name it on the first line of a manifest: `# syntax=myorg/dockopt-frontend`.
# (Without a registry, scripts/frontend-image builds the same image from a local binary.)
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
ENV CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
RUN cargo build --release --locked -p dockopt-frontend -p dockopt --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/dockopt-frontend /dockopt-frontend \
 && cp target/x86_64-unknown-linux-gnu/release/dockopt /dockopt

FROM scratch
COPY --from=build /dockopt-frontend /dockopt-frontend
# The command line too, for machines without Rust:
#   docker create --name d IMAGE && docker cp d:/dockopt /usr/local/bin/ && docker rm d
COPY --from=build /dockopt /dockopt
LABEL moby.buildkit.frontend.network.none="true"
# The gateway refuses a request whose `frontend.caps` (buildx --print/--call sends subrequests)
# this label does not list.
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.subrequests"
ENTRYPOINT ["/dockopt-frontend"]
