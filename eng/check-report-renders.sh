#!/usr/bin/env bash
# Renders an attribution report in headless Chromium (Debian's `chromium` package) and fails unless the embedded
# Chart.js drew its charts: the page sets data-charts-rendered / data-chart-pixels on <body> after drawing, read back
# here with --dump-dom. Also writes a screenshot (outside the repository) for a person to look at.
#
#   eng/check-report-renders.sh path/to/attribution-report.html [screenshot.png]
#
# Exit codes: 0 rendered; 1 not rendered (message says why); 2 usage or chromium missing.
set -euo pipefail

html="${1:-}"
shot="${2:-${TMPDIR:-/tmp}/attribution-report.png}"
if [[ -z "$html" || ! -f "$html" ]]; then
  echo "usage: $0 path/to/attribution-report.html [screenshot.png]  (file '$html' not found)" >&2
  exit 2
fi
browser="$(command -v chromium || command -v chromium-browser || true)"
if [[ -z "$browser" ]]; then
  echo "chromium not found: install Debian's package (apt-get install -y chromium) to run this check." >&2
  exit 2
fi

url="file://$(cd "$(dirname "$html")" && pwd)/$(basename "$html")"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
       --disable-component-update --disable-sync --user-data-dir="$profile" --window-size=1200,1600)

dom="$(timeout 120 "$browser" "${flags[@]}" --virtual-time-budget=5000 --dump-dom "$url" 2>/dev/null)"
timeout 120 "$browser" "${flags[@]}" --screenshot="$shot" "$url" >/dev/null 2>&1 || true

body="$(grep -o '<body[^>]*>' <<<"$dom" | head -1 || true)"
if grep -q 'data-chart-error' <<<"$body"; then
  echo "FAIL: the chart script threw: $body" >&2
  exit 1
fi
rendered="$(sed -n 's/.*data-charts-rendered="\([0-9]*\)".*/\1/p' <<<"$body")"
pixels="$(sed -n 's/.*data-chart-pixels="\([0-9]*\)".*/\1/p' <<<"$body")"
spans="$(grep -o 'class="ch"' <<<"$dom" | wc -l)"
if [[ -z "$rendered" || "$rendered" -lt 1 ]]; then
  echo "FAIL: no chart rendered (body: ${body:-<none>})" >&2
  exit 1
fi
if [[ -z "$pixels" || "$pixels" -lt 1000 ]]; then
  echo "FAIL: the chart canvases are (nearly) blank: ${pixels:-0} inked pixels" >&2
  exit 1
fi
if [[ "$spans" -lt 1 ]]; then
  echo "FAIL: no character heat-map cells in the page" >&2
  exit 1
fi
echo "OK: $rendered chart(s) drawn, $pixels inked canvas pixels, $spans character cells; screenshot: $shot"
