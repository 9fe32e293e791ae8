#!/usr/bin/env bash
# Registers Debian trixie's QEMU 10 (qemu-aarch64, static) for aarch64 ELF files in binfmt_misc,
# with the F flag so containers use it without the binary inside them. Bookworm's QEMU 7.2 breaks
# onnxruntime, so another aarch64 registration is disabled (not removed), except one under the name this
# script uses, qemu-aarch64 (the name Debian's packages and mmdebstrap look for), which is replaced.
# Idempotent: a second run changes nothing and says so. Needs root. Other architectures are left alone.
set -euo pipefail

QEMU_DIR=${QEMU_DIR:-/usr/local/lib/qemu-trixie}
QEMU_BIN="$QEMU_DIR/qemu-aarch64"
BINFMT=/proc/sys/fs/binfmt_misc
NAME=qemu-aarch64
# The name an earlier version of this script registered under.
OLD_NAME=qemu-aarch64-trixie
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# aarch64 ELF header: magic and mask as in Debian's qemu-user binfmt definition.
MAGIC='\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00'
MASK='\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'

say() { echo "qemu-arm64-binfmt: $*"; }

if [ ! -x "$QEMU_BIN" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  chmod 755 "$work"
  mkdir -p "$work/lists/partial" "$work/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" >"$work/trixie.list"
  apt_opts=(-o Dir::Etc::SourceList="$work/trixie.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work" -o APT::Architecture=amd64
    -o Debug::NoLocking=1)
  apt-get "${apt_opts[@]}" -qq update
  (cd "$work" && apt-get "${apt_opts[@]}" -qq download qemu-user)
  deb=$(ls "$work"/qemu-user_*.deb)
  dpkg-deb -x "$deb" "$work/x"
  install -D -m 0755 "$work/x/usr/bin/qemu-aarch64" "$QEMU_BIN"
  say "installed $(basename "$deb") -> $QEMU_BIN"
fi
"$QEMU_BIN" --version | head -1

if [ ! -e "$BINFMT/register" ]; then
  mount -t binfmt_misc binfmt_misc "$BINFMT"
  say "mounted binfmt_misc on $BINFMT"
fi

if [ -f "$BINFMT/$OLD_NAME" ]; then
  echo -1 >"$BINFMT/$OLD_NAME"
  say "removed $OLD_NAME (now registered as $NAME)"
fi

# Disable any other enabled aarch64 registration (for example bookworm's qemu-user-static).
for entry in "$BINFMT"/*; do
  [ -f "$entry" ] || continue
  case "$(basename "$entry")" in register | status | "$NAME") continue ;; esac
  if grep -q '^enabled' "$entry" && grep -q '^magic 7f454c460201010000000000000000000200b700' "$entry"; then
    echo 0 >"$entry"
    say "disabled $(basename "$entry") ($(sed -n 's/^interpreter //p' "$entry"))"
  fi
done

if [ -f "$BINFMT/$NAME" ]; then
  if grep -q "^interpreter $QEMU_BIN\$" "$BINFMT/$NAME" && grep -q '^flags: F' "$BINFMT/$NAME"; then
    grep -q '^enabled' "$BINFMT/$NAME" || { echo 1 >"$BINFMT/$NAME"; say "re-enabled $NAME"; }
    say "$NAME already registered ($QEMU_BIN, flags F): nothing changed"
    exit 0
  fi
  echo -1 >"$BINFMT/$NAME"
  say "removed stale $NAME"
fi
echo ":$NAME:M::$MAGIC:$MASK:$QEMU_BIN:F" >"$BINFMT/register"
say "registered $NAME -> $QEMU_BIN (flags F)"
