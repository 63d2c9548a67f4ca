#!/bin/sh
# Make sure the command-line tools the tests use are there. Today: SpamAssassin, which
# tests/test_notice_mail.py runs over every partner notice (local rules only, no network).
# Installs Debian's package when we are root; otherwise says what to install (the test skips
# without it).
set -eu
if command -v spamassassin >/dev/null 2>&1; then
    echo "spamassassin: $(command -v spamassassin)"
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "no spamassassin found: installing Debian's spamassassin (apt-get install -y spamassassin)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends spamassassin \
        >/dev/null \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y --no-install-recommends spamassassin >/dev/null; }
    echo "spamassassin: $(command -v spamassassin)"
    exit 0
fi
echo "spamassassin not found: install it (Debian: sudo apt-get install spamassassin);" \
     "tests/test_notice_mail.py skips until then"
