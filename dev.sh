#!/bin/sh
# ntpservice quick start. Two commands, on a fresh Debian (12 or later) machine, as root:
#
#   ./dev.sh daemon [twistd ntp options]   install (when the tree changed), then run the daemon in the foreground
#                                         (built-in default configuration unless /etc/ntp.conf
#                                         exists or -c FILE is given)
#   ./dev.sh test [pytest arguments]       install the daemon, its test dependencies and the
#                                         real peers (chrony, NTPsec, ntpviz, tshark), then run every test
#
# Everything Python goes into ./.venv; the peers come from Debian's packages (chrony is unpacked
# under /opt/ntpservice-peers, because its package conflicts with NTPsec's).
set -eu
cd "$(dirname "$0")"
here=$(pwd)
venv="$here/.venv"
stamp="$venv/.ntpservice-installed"
peers=/opt/ntpservice-peers

say() { printf 'dev.sh: %s\n' "$*" >&2; }

apt_install() {
    # Install Debian packages that are missing; apt-get update only once, and only if needed.
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    say "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

tree_hash() {
    # A hash of everything 'pip install .' reads: the metadata and the packages' files (generated
    # files left out). The installed copy is current while this hash is the one it was built from.
    find setup.cfg setup.py pyproject.toml README.md LICENSE ntpservice twisted src -type f \
            ! -name '*.pyc' ! -name dropin.cache ! -path '*/__pycache__/*' -print0 2>/dev/null |
        LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}

python_env() {
    # $1: the extra to install ("" or "[test]"). Install only when the venv lacks this tree's
    # current contents with that extra; "[test]" includes the plain install.
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        apt_install python3 python3-venv python3-pip
    fi
    # The compiler and headers that build the server fast path (the C extension
    # _ntpservice_fastpath); without them pip still installs, and the daemon
    # answers every request in Python.
    apt_install gcc libc6-dev python3-dev
    if [ ! -x "$venv/bin/python" ]; then
        say "creating $venv"
        python3 -m venv "$venv"
        rm -f "$stamp"
    fi
    tree=$(tree_hash)
    if [ -f "$stamp" ] && { grep -qxF "$tree$1" "$stamp" || { [ -z "$1" ] && grep -qxF "$tree[test]" "$stamp"; }; }; then
        return 0
    fi
    rm -f "$stamp"
    say "installing ntpservice$1 into $venv (once per change of the tree)"
    "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1 || true
    "$venv/bin/python" -m pip install -q "$here$1"
    # Rebuild Twisted's plugin cache so that 'twistd ntp' is found at once.
    "$venv/bin/python" -m ntpservice._plugincache >/dev/null
    printf '%s\n' "$tree$1" >"$stamp"
    say "installed"
}

install_peers() {
    # ntpsec-ntpviz (with gnuplot-nox) plots our statistics files in tests/interop/test_ntpviz.py.
    # faketime runs a falseticker peer (tests/interop/test_pool.py); passwd (useradd) the -u test user.
    apt_install ntpsec ntpsec-ntpdate ntpsec-ntpviz gnuplot-nox tshark iproute2 nftables util-linux faketime passwd
    # gpsd (and gpsd-tools' gpspipe) feeds our SHM and SOCK reference clock drivers in
    # tests/interop/test_gpsd.py, from NMEA sentences a test writes to a pty (the SOCK test
    # compiles tests/interop/fakedcd.c, a pulse on the pty's DCD line, with gcc).
    apt_install gpsd gpsd-tools
    if [ ! -x "$peers/usr/sbin/chronyd" ]; then
        say "unpacking chrony under $peers (it conflicts with ntpsec in apt)"
        tmp=$(mktemp -d)
        (cd "$tmp" && chmod 777 . && apt-get download chrony >/dev/null 2>&1 || { apt-get update -qq && apt-get download chrony >/dev/null; })
        mkdir -p "$peers"
        dpkg -x "$tmp"/chrony_*.deb "$peers"
        rm -rf "$tmp"
    fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    daemon)
        python_env ""
        exec "$venv/bin/twistd" -n --pidfile= ntp "$@"
        ;;
    test)
        install_peers
        python_env "[test]"
        cd "$here"
        # Most interop tests wait on a peer's poll interval, not on a CPU: they run
        # side by side in pytest-xdist workers (NTPSERVICE_TEST_WORKERS, default 8;
        # 0 runs everything in this process). Tests that share a machine-wide
        # resource carry an xdist_group mark and stay in one worker.
        workers=${NTPSERVICE_TEST_WORKERS:-8}
        if [ "$workers" -gt 0 ]; then
            set -- -n "$workers" --dist loadgroup "$@"
        fi
        exec "$venv/bin/python" -m pytest "$@"
        ;;
    *)
        sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
