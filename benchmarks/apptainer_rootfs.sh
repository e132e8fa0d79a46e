#!/bin/sh
# `apptainer` for a host that cannot install it (Debian packages Apptainer only in sid, which needs
# glibc >= 2.38): runs the apptainer of a Debian sid root filesystem ($APPTAINER_ROOTFS, made by
# benchmarks/container_check.sh) as root, from the caller's cwd. In a private mount namespace it
# binds /proc, /sys, /dev, the folders in $APPTAINER_ROOTFS_BINDS and every existing absolute
# path named in the arguments (the image, --home, each --bind source: Snakemake binds its Python
# search paths) at the same paths, then pivots the root there (Apptainer refuses a plain chroot).
# Put it on PATH as `apptainer` (container_check.sh links it into $WORK/bin).
set -eu
R=${APPTAINER_ROOTFS:-/opt/apptainer-sid/root}
BINDS=${APPTAINER_ROOTFS_BINDS:-/tmp /var/tmp /work /home}
exec unshare --mount --propagation private /bin/sh -eu -c '
R=$1 binds=$2 cwd=$3; shift 3
set -f
mount --bind "$R" "$R"
for d in /proc /sys /dev $binds; do
  [ -d "$d" ] && ! mountpoint -q "$R$d" || continue
  mkdir -p "$R$d"; mount --rbind "$d" "$R$d"
done
for arg in "$cwd" "$@"; do
  IFS=,
  for piece in $arg; do
    src=${piece%%:*}
    case $src in /*) ;; *) continue ;; esac
    [ -e "$src" ] && [ ! -e "$R$src" ] || continue
    if [ -d "$src" ]; then mkdir -p "$R$src"; else mkdir -p "$R${src%/*}"; : >"$R$src"; fi
    mount --rbind "$src" "$R$src"
  done
  unset IFS
done
cp /etc/resolv.conf /etc/hosts "$R/etc/"
mkdir -p "$R/.oldroot"; cd "$R"; pivot_root . .oldroot; umount -l /.oldroot
cd "$cwd"
exec /usr/bin/apptainer "$@"
' sh "$R" "$BINDS" "$PWD" "$@"
