#!/bin/sh
# Installs the real peer tools the test suite runs against (Debian packages).
# Run as root; daemons the packages would start are held back by a temporary policy-rc.d,
# because tests start their own instances on 127.0.0.1 and never use a system service.
set -eu
PACKAGES="opendkim opendkim-tools libmail-dkim-perl bind9-utils bind9-dnsutils knot knot-dnsutils unbound miltertest swaks libmilter-dev postfix groff-base zsh fish time tmux"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install-peers: not root; missing:$missing (peer tests will skip)" >&2
    exit 0
fi
created_policy=no
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=yes
fi
trap '[ "$created_policy" = yes ] && rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
# postfix asks for a mailer type: "No configuration" installs it without touching main.cf;
# the tests run their own private instance (postfix -c DIR) and never the system one.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
