#!/bin/sh
# Builds the sftmix image with Apptainer and runs workflow jobs in it with `snakemake --sdm
# apptainer`, runs the same target without the container, compares the two outputs byte for byte
# and prints a table (README, "Running in a container"). For a Debian machine with root and
# network to deb.debian.org and PyPI, no Docker Hub needed (the default definition is
# container/sftmix-debian.def). Where no apptainer is on PATH it debootstraps Debian sid (the only
# suite that packages Apptainer, 1.4.x; it needs glibc >= 2.38, newer than bookworm's) into
# $ROOTFS and runs sid's apptainer there through benchmarks/apptainer_rootfs.sh, linked as
# $WORK/bin/apptainer (a private mount namespace, the host's folders bound at the same paths).
#
#   usage, from the repository root, as root:  sh benchmarks/container_check.sh
#   environment (defaults):
#     DEF        container/sftmix-debian.def   the definition to build (container/sftmix.def: Docker Hub)
#     IMAGE      $WORK/sftmix.sif               the image built and run (reused when it exists)
#     CONFIG     config/smoke.yaml              TARGET  results/smoke/data/summary.tsv (40 CPU jobs)
#     CORES      1                              SNAKEMAKE  .venv/bin/snakemake (with sftmix importable)
#     WORK       /var/tmp/sftmix-container-check   (the two runs' folders, the wrapper, the logs)
#     ROOTFS     /opt/apptainer-sid/root        MIRROR  http://deb.debian.org/debian
#     CA_BUNDLE  $PIP_CERT                      a CA bundle bound over the image's during the build
#                                               (a TLS-inspecting proxy between the build and PyPI)
#     BINDS      "/tmp /var/tmp /work /home"    host folders the wrapper always shows its apptainer
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)
DEF=${DEF:-container/sftmix-debian.def}
CONFIG=${CONFIG:-config/smoke.yaml}
TARGET=${TARGET:-results/smoke/data/summary.tsv}
CORES=${CORES:-1}
SNAKEMAKE=${SNAKEMAKE:-.venv/bin/snakemake}
WORK=${WORK:-/var/tmp/sftmix-container-check}
IMAGE=${IMAGE:-$WORK/sftmix.sif}
ROOTFS=${ROOTFS:-/opt/apptainer-sid/root}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-${PIP_CERT:-}}
BINDS=${BINDS:-/tmp /var/tmp /work /home}
mkdir -p "$WORK/bin"
say() { echo "container_check: $*" >&2; }

# --- 1. an apptainer -------------------------------------------------------------------------
build_flags=""
if ! command -v apptainer >/dev/null 2>&1 || [ "$(command -v apptainer)" = "$WORK/bin/apptainer" ]; then
    if [ ! -x "$ROOTFS/usr/bin/apptainer" ]; then
        command -v debootstrap >/dev/null 2>&1 || apt-get install -y -q debootstrap
        say "debootstrap sid with apptainer into $ROOTFS"
        debootstrap --variant=minbase --include=apptainer,debootstrap,squashfs-tools,uidmap,libcap2-bin,ca-certificates \
            sid "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1
    fi
    ln -sf "$repo/benchmarks/apptainer_rootfs.sh" "$WORK/bin/apptainer"
    APPTAINER_ROOTFS=$ROOTFS APPTAINER_ROOTFS_BINDS=$BINDS
    export APPTAINER_ROOTFS APPTAINER_ROOTFS_BINDS
    PATH="$WORK/bin:$PATH"
    export PATH
    # A VM whose capability bounding set lacks some (e.g. CAP_SYS_RESOURCE): root's containers get
    # the ones there are (Apptainer asks for all by default and stops), and the build's %post runs
    # in a user namespace (--fakeroot: all capabilities there; --build-config ignores the file).
    bnd=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
    full=$(printf '%016x' $(( (1 << ($(cat /proc/sys/kernel/cap_last_cap) + 1)) - 1 )))
    if [ "$bnd" != "$full" ]; then
        say "capability bounding set $bnd (not $full): root default capabilities = file, build --fakeroot"
        [ -x "$ROOTFS/usr/sbin/capsh" ] || chroot "$ROOTFS" apt-get install -y -q libcap2-bin >/dev/null
        names=$(chroot "$ROOTFS" capsh --decode="$bnd" | cut -d= -f2 | tr a-z A-Z)
        sed -i 's/^root default capabilities = .*/root default capabilities = file/' "$ROOTFS/etc/apptainer/apptainer.conf"
        apptainer capability add --user root "$names" 2>/dev/null
        grep -q '^root:' "$ROOTFS/etc/subuid" 2>/dev/null || echo root:100000:65536 >>"$ROOTFS/etc/subuid"
        grep -q '^root:' "$ROOTFS/etc/subgid" 2>/dev/null || echo root:100000:65536 >>"$ROOTFS/etc/subgid"
        build_flags="--fakeroot"
    fi
fi
version=$(apptainer --version)
say "$version ($(command -v apptainer))"

# --- 2. the image ----------------------------------------------------------------------------
build_s="(image reused)"
if [ ! -f "$IMAGE" ]; then
    bind=""
    if [ -n "$CA_BUNDLE" ]; then  # a copy where the wrapper's apptainer sees it (under $WORK)
        cp "$CA_BUNDLE" "$WORK/ca-bundle.crt"
        bind="--bind $WORK/ca-bundle.crt:/etc/ssl/certs/ca-certificates.crt"
    fi
    say "apptainer build $build_flags $bind $IMAGE $DEF (log: $WORK/build.log)"
    t0=$(date +%s)
    # shellcheck disable=SC2086
    apptainer build $build_flags $bind "$IMAGE" "$DEF" >"$WORK/build.log" 2>&1 || {
        tail -20 "$WORK/build.log" >&2; exit 1; }
    build_s="$(( $(date +%s) - t0 )) s"
fi
size_mb=$(( $(stat -c %s "$IMAGE") / 1048576 ))
in_image=$(apptainer exec --cleanenv "$IMAGE" python -c \
    "import sys, torch, snakemake, sftmix; print(sys.version.split()[0], torch.__version__, snakemake.__version__)")

# --- 3. the same target in the image and on the host -----------------------------------------
run() {  # run <name> [snakemake args]: the target in $WORK/<name>, from scratch
    name=$1; shift
    rm -rf "${WORK:?}/$name"; mkdir -p "$WORK/$name"
    t0=$(date +%s)
    "$SNAKEMAKE" "$TARGET" --directory "$WORK/$name" --configfile "$repo/$CONFIG" --cores "$CORES" "$@" \
        >"$WORK/$name.log" 2>&1 || { tail -30 "$WORK/$name.log" >&2; exit 1; }
    echo $(( $(date +%s) - t0 ))
}
say "$TARGET with --sdm apptainer (log: $WORK/apptainer.log)"
ctr_s=$(run apptainer --profile profiles/apptainer --config "container=$IMAGE")
say "$TARGET on the host (log: $WORK/host.log)"
host_s=$(run host)
jobs=$(grep -c '^rule \|^localrule ' "$WORK/apptainer.log" || true)
activated=$(grep -c '^Activating singularity image' "$WORK/apptainer.log" || true)
logged=$(grep -rl 'sftmix.container: container: ' "$WORK/apptainer/results" | wc -l)
job_python=$(grep -rh 'sftmix.container: container: ' "$WORK/apptainer/results" | head -1 | sed 's/.*sftmix.container: //')
# outputs: every file but the logs and benchmarks (timings, paths), byte for byte
if diff -r --exclude=logs --exclude=benchmarks "$WORK/apptainer/results" "$WORK/host/results" >"$WORK/diff.txt"; then
    same=yes
else
    same="NO (see $WORK/diff.txt)"
fi
n_out=$(find "$WORK/host/results" -type f -not -path '*/logs/*' -not -path '*/benchmarks/*' | wc -l)

cat <<EOF

| what | value |
|---|---|
| apptainer | $version |
| definition | $DEF |
| build | ${build_s} |
| image size | ${size_mb} MiB |
| image python, torch, snakemake | $in_image |
| target | $TARGET ($CONFIG, --cores $CORES) |
| jobs run in the image | $jobs jobs, $activated "Activating singularity image", $logged rule logs name the image |
| a job's log says | $job_python |
| wall time in the image / on the host | ${ctr_s} s / ${host_s} s |
| outputs identical ($n_out files, logs and benchmarks aside) | $same |
EOF
