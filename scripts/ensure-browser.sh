#!/bin/sh
# Make sure a Chromium is there for Playwright. Order: BIDWATCH_CHROMIUM, Playwright's own,
# a system Chrome/Chromium; otherwise install Debian's chromium when we are root, or say how.
set -eu
python=${1:-.venv/bin/python}
if "$python" -m monitor.capture.browser >/dev/null 2>&1; then
    "$python" -m monitor.capture.browser
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "no Chromium found: installing Debian's chromium (apt-get install -y chromium)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends chromium >/dev/null; }
    "$python" -m monitor.capture.browser
    exit 0
fi
"$python" -m monitor.capture.browser
