# shellcheck shell=bash
# Helpers for images built from this host's own binaries (no registry): copy an executable and
# every shared library `ldd` says it needs into a rootfs, at the paths the dynamic loader will look
# for them (ld-linux itself included). Source it; it defines functions only.

# copy_executable <rootfs> <source> <destination inside the rootfs>
copy_executable() {
  local rootfs="$1" source="$2" destination="$3" resolved lib
  resolved="$(readlink -f "$source")"
  mkdir -p "$rootfs$(dirname "$destination")"
  cp "$resolved" "$rootfs$destination"
  # A static binary: ldd says "not a dynamic executable" and exits 1; there is nothing to copy.
  ldd "$resolved" >/dev/null 2>&1 || return 0
  ldd "$resolved" | grep -o '/[^ ]*' | sort -u | while IFS= read -r lib; do
    [ -e "$rootfs$lib" ] && continue
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
}

# Version lines of the executables an image copies, for the image's rebuild hash.
executable_versions() {
  local executable
  for executable in "$@"; do
    printf '%s %s\n' "$executable" "$(sha256sum <"$(readlink -f "$(command -v "$executable")")" | cut -c1-16)"
  done
}
