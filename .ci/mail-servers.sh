# Sourced by .ci/run (bash, set -euo pipefail). Installs what test/support/mail-servers.ts runs:
# every test file starts its own dovecot with a private config, so nothing is started here and
# the distribution's system service stays off.

# Debian installs dovecot in /usr/sbin, which is not on every PATH; the tests look there too.
dovecot_binary() {
  command -v dovecot 2>/dev/null || { [ -x /usr/sbin/dovecot ] && echo /usr/sbin/dovecot; }
}

ensure_mail_servers() {
  if ! dovecot_binary >/dev/null; then
    # apt_updated is shared with .ci/run, so a run that already refreshed the index does not repeat it.
    if [ "${apt_updated:-0}" != 1 ]; then
      apt-get update -qq || { echo "apt-get update failed; cannot install dovecot-imapd" >&2; return 1; }
      apt_updated=1
    fi
    # Without a running init, the package's postinst would start the system dovecot on ports 143
    # and 993 through /etc/init.d; policy-rc.d answering 101 tells invoke-rc.d not to.
    local policy_added=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
      chmod 755 /usr/sbin/policy-rc.d
      policy_added=1
    fi
    local status=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null || status=$?
    if [ "$policy_added" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    if [ "$status" != 0 ]; then
      echo "installing dovecot-imapd failed (apt-get exited with $status)" >&2
      return 1
    fi
    dovecot_binary >/dev/null || { echo "dovecot-imapd is installed but no dovecot binary was found" >&2; return 1; }
  fi
  # Dovecot refuses to serve mailboxes as root; the tests' mail folders belong to this user.
  if ! id vmail >/dev/null 2>&1; then
    useradd -r -M -s /usr/sbin/nologin vmail || { echo "could not create the system user vmail" >&2; return 1; }
  fi
  echo "dovecot $("$(dovecot_binary)" --version)"
}
