#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian machine (run as root), then runs
# the linters, the type checker and the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=()
command -v python3 >/dev/null || apt_packages+=(python3)
# Debian splits pip and venv (with ensurepip) out of python3: a python3 without them cannot
# install the package, nor make the virtualenv a PEP 668 system Python asks for
python3 -m pip --version >/dev/null 2>&1 || apt_packages+=(python3-pip)
python3 -c 'import ensurepip' >/dev/null 2>&1 || apt_packages+=(python3-venv)
# capture tests run real dumpcap and tshark on lo (the tshark package brings both)
{ command -v tshark && command -v dumpcap; } >/dev/null || apt_packages+=(tshark)
command -v setpriv >/dev/null || apt_packages+=(util-linux)  # drops capture capabilities
# the traffic-bus tests start their own redis-server processes on 127.0.0.1 (free ports)
command -v redis-server >/dev/null || apt_packages+=(redis-server)
if ((${#apt_packages[@]})); then
    # tshark's package asks whether non-root users may capture: answer no, without a prompt
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

# A Python whose pip refuses system-wide installs (Debian's PEP 668) gets a virtualenv.
if ! python3 -m pip install --quiet --disable-pip-version-check -e '.[test]' 2>/tmp/shadowdiff-pip.log; then
    if grep -q externally-managed /tmp/shadowdiff-pip.log; then
        python3 -m venv .venv
        # shellcheck disable=SC1091
        . .venv/bin/activate
        python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
    else
        cat /tmp/shadowdiff-pip.log >&2
        exit 1
    fi
fi

python3 -m ruff check shadowdiff tests
python3 -m ruff format --check shadowdiff tests
python3 -m mypy
python3 -m pytest -q "$@"
