# isokit-service: the sample workload, one static binary on an empty image.
#
# The binary is built on the host first, since no base image can be pulled:
#   scripts/build-service-image [TAG]
# stages dist/isokit-service (cargo build --release --target
# x86_64-unknown-linux-gnu with +crt-static) and builds this file with the
# repository root as context; .dockerignore sends that one file.
# service/Dockerfile.from-source is the multi-stage alternative for machines
# that can pull a Rust image.
FROM scratch

LABEL org.opencontainers.image.title="isokit-service" \
      org.opencontainers.image.description="Checks from inside an ECS task that every VPC endpoint is reachable and the internet is not"

COPY dist/isokit-service /isokit-service
# Every path the task definition mounts a volume at (/tmp), owned by the
# image's user: on Fargate a volume takes the image's directory with its
# owner, while a path the image lacks is made root's, mode 0755, where user
# 65532 cannot write. scratch has no mkdir, so build-service-image stages
# the directory tree (dist/rootfs) and this copies it in.
COPY --chown=65532:65532 dist/rootfs/ /

# No shell, no passwd file: a numeric non-root user. The service writes no
# files, so it runs with a read-only root filesystem.
USER 65532:65532
EXPOSE 8080

# Scratch has no curl: the binary asks its own /health.
HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/isokit-service", "healthcheck"]

ENTRYPOINT ["/isokit-service"]
CMD ["serve"]
