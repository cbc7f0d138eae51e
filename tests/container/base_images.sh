#!/usr/bin/env bash
# Local stand-ins for the official base images the Dockerfile names, for machines that can
# build and run containers (podman) but cannot pull images (no registry access).
#
# The Dockerfile is the one a user builds with Docker; it names
#   docker.io/library/rust:1-bookworm              (builder stage)
#   gcr.io/distroless/cc-debian12:nonroot          (runtime stages)
# Each missing one is made here, under that exact name, from a `debootstrap --variant=minbase
# bookworm` root filesystem, as close to the original as its definition allows:
#   rust:1-bookworm   the rootfs + build-essential, pkg-config, git, curl, python3-pip (as the
#                     official image's buildpack-deps base has) + this machine's Rust toolchain
#                     in /usr/local/rustup and /usr/local/cargo, with the official image's ENV.
#   python:3.11-slim-bookworm  the rootfs + Debian 12's Python 3.11 with pip and venv, as
#                     `python3`/`python`/`pip` on PATH, pip free to install (no
#                     EXTERNALLY-MANAGED marker, as in the official image), the image's ENV
#                     (+ SSL_CERT_FILE, so that uv trusts this machine's egress proxy's CA).
#   cc-debian12       only what distroless "cc" ships: glibc, libgcc, libstdc++, libgomp,
#                     libssl3, CA certificates, tzdata, netbase files, /etc/passwd with
#                     root/nobody/nonroot (65532), no shell and no package manager.
#
# Usage: tests/container/base_images.sh [--runtime-only]   (idempotent; ~2 min the first time)
# Needs root, podman and debootstrap (Debian: apt-get install podman debootstrap runc).
set -euo pipefail

PODMAN=podman
RUNTIME_ONLY=${1:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${CONTAINER_WORK:-$ROOT/.local/container}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
RUST_IMAGE=docker.io/library/rust:1-bookworm
PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm
RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
mkdir -p "$WORK"

have() { "$PODMAN" image exists "$1"; }

rootfs() {
    # A Debian 12 minbase root filesystem, made once.
    if [ ! -f "$WORK/rootfs/.complete" ]; then
        rm -rf "$WORK/rootfs"
        debootstrap --variant=minbase bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
            || { tail -20 "$WORK/debootstrap.log"; exit 1; }
        touch "$WORK/rootfs/.complete"
    fi
}

in_copy() {
    # A throw-away copy of the rootfs with packages added: in_copy DIR PKG...
    local dir=$1; shift
    rm -rf "$dir"
    cp -a "$WORK/rootfs" "$dir"
    rm -f "$dir/.complete"
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    mount --bind /proc "$dir/proc"
    trap 'umount "'"$dir"'/proc" 2>/dev/null || true' RETURN
    chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        >"$dir.apt.log" 2>&1 || { tail -20 "$dir.apt.log"; exit 1; }
    chroot "$dir" apt-get clean
    umount "$dir/proc"
}

rust_image() {
    rootfs
    local dir="$WORK/rust-rootfs"
    in_copy "$dir" build-essential pkg-config git curl ca-certificates python3 python3-pip
    # This machine's own trust anchors and pip configuration (here, a TLS-inspecting egress
    # proxy's CA), so that RUN steps reach the registries exactly as the host does. On a
    # user's machine the official image needs none of this.
    if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
        cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
        chroot "$dir" update-ca-certificates >/dev/null 2>&1
    fi
    if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$dir/etc/pip.conf"; fi
    local tc
    tc=$(rustup toolchain list | awk '/\(default\)|\(active/ {print $1; exit}')
    local src="${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$tc"
    mkdir -p "$dir/usr/local/rustup/toolchains/$tc" "$dir/usr/local/cargo/bin"
    # the toolchain without its documentation (bin, lib, libexec, etc: what cargo and rustc run)
    for part in bin lib libexec etc; do
        [ -e "$src/$part" ] && cp -a "$src/$part" "$dir/usr/local/rustup/toolchains/$tc/"
    done
    printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n' "$tc" \
        >"$dir/usr/local/rustup/settings.toml"
    cp "$(command -v rustup)" "$dir/usr/local/cargo/bin/rustup"
    for proxy in cargo rustc rustdoc; do ln -sf rustup "$dir/usr/local/cargo/bin/$proxy"; done
    tar -C "$dir" -c . | "$PODMAN" import \
        --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
        --change 'ENV CARGO_HOME=/usr/local/cargo' \
        --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        - "$RUST_IMAGE" >/dev/null
    rm -rf "$dir" "$dir.apt.log"
}

host_trust() {
    # This machine's own trust anchors and pip configuration (a TLS-inspecting egress proxy's
    # CA here), so RUN steps reach the registries as the host does; unneeded on a user's machine.
    local dir=$1
    if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
        cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
        chroot "$dir" update-ca-certificates >/dev/null 2>&1
    fi
    if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$dir/etc/pip.conf"; fi
}

python_image() {
    rootfs
    local dir="$WORK/python-rootfs"
    in_copy "$dir" python3 python3-pip python3-venv ca-certificates
    host_trust "$dir"
    rm -f "$dir"/usr/lib/python3*/EXTERNALLY-MANAGED
    mkdir -p "$dir/usr/local/bin"
    ln -sf /usr/bin/python3 "$dir/usr/local/bin/python"
    ln -sf /usr/bin/pip3 "$dir/usr/local/bin/pip"
    tar -C "$dir" -c . | "$PODMAN" import \
        --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        - "$PYTHON_IMAGE" >/dev/null
    rm -rf "$dir" "$dir.apt.log"
}

distroless_cc() {
    rootfs
    local full="$WORK/cc-full" dir="$WORK/cc-rootfs"
    in_copy "$full" ca-certificates tzdata netbase libssl3 libgomp1 libstdc++6 libgcc-s1
    rm -rf "$dir"
    mkdir -p "$dir"
    # the files of exactly these packages, as distroless assembles them from .debs
    local pkg
    for pkg in base-files netbase tzdata libc6 libgcc-s1 libstdc++6 libgomp1 libssl3; do
        chroot "$full" dpkg -L "$pkg" | while read -r f; do
            case "$f" in /bin | /lib | /lib32 | /lib64 | /libx32 | /sbin) continue ;; esac
            if [ -f "$full$f" ] || [ -L "$full$f" ]; then
                # through merged /usr's links: /lib/x/libc.so.6 is stored as /usr/lib/x/libc.so.6
                local d
                d=$(cd "$full$(dirname "$f")" && pwd -P)
                d=${d#"$full"}
                mkdir -p "$dir$d"
                cp -a "$full$d/$(basename "$f")" "$dir$d/"
            fi
        done
    done
    mkdir -p "$dir/etc/ssl/certs" "$dir/tmp" "$dir/home/nonroot" "$dir/root"
    cp -L "$full/etc/ssl/certs/ca-certificates.crt" "$dir/etc/ssl/certs/ca-certificates.crt"
    # merged /usr, as in Debian 12: /lib64/ld-linux-x86-64.so.2 must resolve
    for l in bin lib lib64 sbin; do
        [ -e "$dir/$l" ] || [ -L "$dir/$l" ] || ln -s "usr/$l" "$dir/$l"
    done
    rm -rf "$dir/usr/share/doc" "$dir/usr/share/man" "$dir/usr/share/lintian" "$dir/usr/share/info"
    chmod 1777 "$dir/tmp"
    chmod 700 "$dir/root"
    cat >"$dir/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
    cat >"$dir/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
    chown 65532:65532 "$dir/home/nonroot"
    chmod 700 "$dir/home/nonroot"
    tar -C "$dir" --numeric-owner -c . | "$PODMAN" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'USER 65532' \
        --change 'WORKDIR /home/nonroot' \
        - "$RUNTIME_IMAGE" >/dev/null
    rm -rf "$full" "$full.apt.log" "$dir"
}

[ "$RUNTIME_ONLY" = --runtime-only ] || have "$RUST_IMAGE" || { echo "stand-in: $RUST_IMAGE (debootstrap + this machine's Rust toolchain)"; rust_image; }
have "$RUNTIME_IMAGE" || { echo "stand-in: $RUNTIME_IMAGE (debootstrap, distroless cc's packages only)"; distroless_cc; }
have "$PYTHON_IMAGE" || { echo "stand-in: $PYTHON_IMAGE (debootstrap + Debian 12's Python 3.11)"; python_image; }
"$PODMAN" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'rust:1-bookworm|cc-debian12|python:3.11' || true
