# Multi-stage build: a static binary on a distroless nonroot image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Build information (build_info, --version) comes from the context's .git; without one, pass
# --build-arg VERSION=… REVISION=… BRANCH=…
ARG VERSION REVISION BRANCH
RUN CGO_ENABLED=0 make build EXTRA_LDFLAGS="-s -w" BUILD_USER=docker \
      VERSION="$VERSION" REVISION="$REVISION" BRANCH="$BRANCH" && \
    mv cert_expiry_exporter /cert_expiry_exporter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /cert_expiry_exporter /bin/cert_expiry_exporter
EXPOSE 9117
USER nonroot:nonroot
ENTRYPOINT ["/bin/cert_expiry_exporter"]
CMD ["--config.file=/etc/cert_expiry_exporter/config.yml"]
