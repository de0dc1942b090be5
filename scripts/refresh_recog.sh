#!/usr/bin/env bash
# Re-vendor Rapid7 Recog's fingerprint databases into signatures/recog/ from a given commit.
# A developer's tool (it clones the public repository); CI never runs it.
# Usage: scripts/refresh_recog.sh COMMIT [REPOSITORY_URL]
# Afterwards run `pytest tests/unit/test_recog.py`: every <example> of the new files must still pass.
set -euo pipefail

commit="${1:?usage: $0 COMMIT [REPOSITORY_URL]}"
repository="${2:-https://github.com/rapid7/recog.git}"
here="$(cd "$(dirname "$0")/.." && pwd)"
target="$here/signatures/recog"
# The databases whose input camscan observes (see camscan.fingerprint.recog.FIELD_DATABASES),
# plus the SNMP ones kept for when camscan reads SNMP.
databases=(
  dhcp_vendor_class favicons ftp_banners html_title http_servers http_wwwauth
  mdns_device-info_txt rtsp_servers snmp_sysdescr snmp_sysobjid ssh_banners
  telnet_banners x509_issuers x509_subjects
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone --quiet --filter=blob:none --no-checkout "$repository" "$work/recog"
git -C "$work/recog" checkout --quiet "$commit"
resolved="$(git -C "$work/recog" rev-parse HEAD)"

mkdir -p "$target"
rm -f "$target"/*.xml
for name in "${databases[@]}"; do
  cp "$work/recog/xml/$name.xml" "$target/$name.xml"
done
cp "$work/recog/COPYING" "$target/COPYING"
cp "$work/recog/LICENSE" "$target/LICENSE"
printf 'repository: %s\ncommit: %s\ndate: %s\n' "$repository" "$resolved" \
  "$(git -C "$work/recog" show -s --format=%cI HEAD)" > "$target/UPSTREAM"
echo "signatures/recog/ now holds Recog $resolved"
