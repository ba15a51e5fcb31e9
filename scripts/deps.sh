# Sourced by the scripts in this directory: installs the Debian packages a script needs.
# ensure_packages PKG...: apt-get installs those not installed yet (as root,
# non-interactive); runs `apt-get update` once, only when something is missing.

ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# What building starling needs.
BUILD_PACKAGES=(build-essential cmake pkg-config libhiredis-dev libevent-dev libjansson-dev
    libcmocka-dev libmariadb-dev)
